//! Staging a copy of a verified interpreter (a hashed temporary file in the install directory),
//! and hashing files.
//!
//! The temporary file is deleted when the `Staged` value is dropped without being persisted, so
//! an error or a crash in between never leaves a half-written interpreter under its real name.

use std::fs::{File, Permissions};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;

use super::error::InterpreterError;
use super::verify::Verified;

/// Copy buffer size.
const CHUNK: usize = 256 * 1024;

/// A complete, hashed copy waiting in a temporary file next to its final name.
#[derive(Debug)]
pub struct Staged {
    /// The temporary file (mode 0600 until persisted).
    tmp: NamedTempFile,
    /// SHA-256 of the contents, lowercase hex.
    pub(super) sha256: String,
    /// The source's identity as seen through the descriptor that was copied.
    pub(super) source: Verified,
}

/// Opens the file `source` names, failing with [`InterpreterError::SourceChanged`] unless it is
/// still the verified file (same inode, size and times; symlinks are not followed).
pub(super) fn open_verified(source: &Verified) -> Result<File, InterpreterError> {
    let path = &source.path;
    let changed = || InterpreterError::SourceChanged { path: path.clone() };
    let file = File::options()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(nix::libc::ENOENT) | Some(nix::libc::ELOOP) => changed(),
            _ => InterpreterError::io("opening", path, e),
        })?;
    if !identity_of(&file, path)?.same_file(source) {
        return Err(changed());
    }
    Ok(file)
}

/// The stat identity of an open file.
pub(super) fn identity_of(file: &File, path: &Path) -> Result<Verified, InterpreterError> {
    let meta = file
        .metadata()
        .map_err(|e| InterpreterError::io("stat", path, e))?;
    Ok(Verified::from_metadata(path.to_path_buf(), &meta))
}

/// Copies `source` into a temporary file in `dir`, hashing it on the way.
///
/// Fails with [`InterpreterError::SourceChanged`] if the file at `source.path` is not the one
/// that was verified, or changes during the copy.
pub(super) fn stage(dir: &Path, name: &str, source: &Verified) -> Result<Staged, InterpreterError> {
    let path = &source.path;
    let changed = || InterpreterError::SourceChanged { path: path.clone() };
    let mut input = open_verified(source)?;
    let identity = |file: &File| identity_of(file, path);
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| InterpreterError::store("creating a temporary file in", dir, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut copied: u64 = 0;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(InterpreterError::io("reading", path, e)),
        };
        hasher.update(&buf[..n]);
        tmp.write_all(&buf[..n]).map_err(|e| {
            InterpreterError::store("writing a copy of an interpreter into", dir, e)
        })?;
        copied += n as u64;
    }
    let after = identity(&input)?;
    if copied != source.size || !after.same_file(source) {
        return Err(changed());
    }
    let sha256 = hex(hasher);
    Ok(Staged {
        tmp,
        sha256,
        source: after,
    })
}

impl Staged {
    /// Makes the copy executable (0755), fsyncs it and renames it over `target`; the caller
    /// fsyncs `dir` once for all its renames ([`Writer::commit`](super::store::Writer::commit)).
    ///
    /// The rename replaces the directory entry, never the old inode's contents: a copy the
    /// kernel has pinned (binfmt_misc `F` flag) keeps running unchanged, so there is no ETXTBSY.
    pub(super) fn persist(self, dir: &Path, target: &Path) -> Result<(), InterpreterError> {
        let file = self.tmp.as_file();
        file.set_permissions(Permissions::from_mode(0o755))
            .and_then(|()| file.sync_all())
            .map_err(|e| {
                InterpreterError::store("writing a copy of an interpreter into", dir, e)
            })?;
        self.tmp
            .persist(target)
            .map_err(|e| InterpreterError::store("renaming an interpreter into", dir, e.error))?;
        Ok(())
    }
}

/// SHA-256 of the verified file `source`, failing with [`InterpreterError::SourceChanged`] if it
/// is not (or stops being) the verified file.
pub fn hash_verified(source: &Verified) -> Result<String, InterpreterError> {
    let path = &source.path;
    let mut file = open_verified(source)?;
    let sha256 = hash_reader(&mut file, path)?;
    if !identity_of(&file, path)?.same_file(source) {
        return Err(InterpreterError::SourceChanged { path: path.clone() });
    }
    Ok(sha256)
}

/// SHA-256 of the regular file at `path` (symlinks not followed).
pub(super) fn hash_file(path: &Path) -> Result<String, InterpreterError> {
    let mut file = File::options()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| InterpreterError::io("opening", path, e))?;
    hash_reader(&mut file, path)
}

fn hash_reader(file: &mut File, path: &Path) -> Result<String, InterpreterError> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(InterpreterError::io("reading", path, e)),
        }
    }
    Ok(hex(hasher))
}

fn hex(hasher: Sha256) -> String {
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
