//! `verify`: is this file a safe QEMU interpreter for this host, judged from its headers and stat.
//!
//! The checks, in order: it exists, it resolves to a regular file, it is an ELF executable for
//! this host's machine, class and byte order, it is statically linked (no `PT_INTERP`, no
//! `DT_NEEDED`; static-pie is fine), it has an execute bit, and (unless the policy says
//! otherwise) it is owned by root and not writable by group or others.

use std::fs::{self, File, Metadata};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::elf::{self, InspectError};
use super::error::InterpreterError;
use super::host::HostMachine;

/// Which ownership and permission rules [`verify_with`] enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyPolicy {
    /// Require owner uid 0 and no group or other write bit. `false` is for the rootless mode,
    /// where the user owns the interpreter and the kernel instance alike.
    pub require_root_owner: bool,
}

impl Default for VerifyPolicy {
    fn default() -> Self {
        Self {
            require_root_owner: true,
        }
    }
}

/// A seconds-and-nanoseconds timestamp from `stat(2)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Timestamp {
    /// Seconds since the epoch.
    pub sec: i64,
    /// Nanoseconds within the second.
    pub nsec: i64,
}

impl Timestamp {
    /// The modification time in `meta`.
    pub fn mtime(meta: &Metadata) -> Timestamp {
        Timestamp {
            sec: meta.mtime(),
            nsec: meta.mtime_nsec(),
        }
    }

    /// The status change time in `meta`.
    pub fn ctime(meta: &Metadata) -> Timestamp {
        Timestamp {
            sec: meta.ctime(),
            nsec: meta.ctime_nsec(),
        }
    }
}

/// A verified interpreter and the stat identity used to notice when it changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verified {
    /// The canonical path (symlinks resolved).
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// Modification time.
    pub mtime: Timestamp,
    /// Status change time (cannot be set by users, so it catches in-place rewrites).
    pub ctime: Timestamp,
    /// Device number of the filesystem.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
}

impl Verified {
    /// Builds the identity from `path` and its metadata.
    pub(super) fn from_metadata(path: PathBuf, meta: &Metadata) -> Self {
        Self {
            path,
            size: meta.size(),
            mtime: Timestamp::mtime(meta),
            ctime: Timestamp::ctime(meta),
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }

    /// True when `other` is the same file with the same content as far as `stat` tells: same
    /// path, inode, size and mtime. This is the key of the digest cache and how a file read is
    /// known to be the file verified. ctime is left out on purpose: every hard link to the file
    /// (binfmtd's store, another store, dpkg) moves it without touching the content; rewriting
    /// a root-owned interpreter in place while keeping its size and forging its mtime is not a
    /// case binfmtd defends against.
    pub fn same_file(&self, other: &Verified) -> bool {
        self.path == other.path
            && self.size == other.size
            && self.mtime == other.mtime
            && self.ino == other.ino
    }
}

/// Verifies `path` as an interpreter for `host` under the default (root-owned) policy.
pub fn verify(path: &Path, host: HostMachine) -> Result<Verified, InterpreterError> {
    verify_with(path, host, VerifyPolicy::default())
}

/// The stat identity of `path` (symlinks resolved) without reading or even opening it.
///
/// Used to skip re-verification: when the store recorded a source with exactly this identity
/// (same inode, size, mtime and ctime — a `chmod`/`chown` changes ctime), that file already
/// passed [`verify`] and has not changed since.
pub fn identity(path: &Path) -> Result<Verified, InterpreterError> {
    let resolved = resolve(path)?;
    let meta = fs::metadata(&resolved).map_err(|e| InterpreterError::io("stat", &resolved, e))?;
    Ok(Verified::from_metadata(resolved, &meta))
}

/// `path` with every symlink resolved; a missing file is [`InterpreterError::NotFound`].
fn resolve(path: &Path) -> Result<PathBuf, InterpreterError> {
    fs::canonicalize(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => {
            InterpreterError::NotFound { path: path.into() }
        }
        _ => InterpreterError::io("resolving", path, e),
    })
}

/// Verifies `path` as an interpreter for `host` under `policy`.
///
/// Reads only the ELF headers (a few KiB, see the `elf` module), never the whole file.
pub fn verify_with(
    path: &Path,
    host: HostMachine,
    policy: VerifyPolicy,
) -> Result<Verified, InterpreterError> {
    let resolved = resolve(path)?;
    let meta = fs::metadata(&resolved).map_err(|e| InterpreterError::io("stat", &resolved, e))?;
    check_regular(&resolved, &meta)?;
    // O_NONBLOCK so that a FIFO swapped in after the stat cannot make us hang.
    let file = File::options()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_NOCTTY)
        .open(&resolved)
        .map_err(|e| InterpreterError::io("opening", &resolved, e))?;
    // From here on everything is judged from the open file, not the path.
    let meta = file
        .metadata()
        .map_err(|e| InterpreterError::io("stat", &resolved, e))?;
    check_regular(&resolved, &meta)?;
    check_elf(&file, &resolved, host)?;
    check_mode(&resolved, &meta, policy)?;
    Ok(Verified::from_metadata(resolved, &meta))
}

fn check_regular(path: &Path, meta: &Metadata) -> Result<(), InterpreterError> {
    let ft = meta.file_type();
    if ft.is_file() {
        return Ok(());
    }
    use std::os::unix::fs::FileTypeExt;
    let kind = if ft.is_dir() {
        "directory"
    } else if ft.is_fifo() {
        "fifo"
    } else if ft.is_socket() {
        "socket"
    } else if ft.is_block_device() {
        "block device"
    } else if ft.is_char_device() {
        "character device"
    } else {
        "special file"
    };
    Err(InterpreterError::NotRegularFile {
        path: path.into(),
        kind,
    })
}

/// Checks machine and static linking through `reader`.
pub(super) fn check_elf(
    reader: &impl elf::ReadAt,
    path: &Path,
    host: HostMachine,
) -> Result<(), InterpreterError> {
    let facts = elf::inspect(reader).map_err(|e| match e {
        InspectError::NotElf(reason) => InterpreterError::NotElf {
            path: path.into(),
            reason,
        },
        InspectError::Io(e) => InterpreterError::io("reading", path, e),
    })?;
    if facts.machine != host {
        return Err(InterpreterError::WrongMachine {
            path: path.into(),
            found: facts.machine,
            expected: host,
        });
    }
    match facts.dynamic {
        Some(reason) => Err(InterpreterError::Dynamic {
            path: path.into(),
            reason,
        }),
        None => Ok(()),
    }
}

fn check_mode(path: &Path, meta: &Metadata, policy: VerifyPolicy) -> Result<(), InterpreterError> {
    let mode = meta.mode() & 0o7777;
    if mode & 0o111 == 0 {
        return Err(InterpreterError::NotExecutable {
            path: path.into(),
            mode,
        });
    }
    // Rootless (`binfmtd exec`): the caller's own files are fine too, but never another user's
    // or a writable one: whoever can rewrite the interpreter runs code as the caller.
    let euid = nix::unistd::geteuid().as_raw();
    let owner_ok = meta.uid() == 0 || (!policy.require_root_owner && meta.uid() == euid);
    if !owner_ok {
        let reason = if policy.require_root_owner {
            format!("owned by uid {}, not root", meta.uid())
        } else {
            format!(
                "owned by uid {}, neither root nor you (uid {euid})",
                meta.uid()
            )
        };
        return Err(InterpreterError::Insecure {
            path: path.into(),
            reason,
        });
    }
    if mode & 0o022 != 0 {
        let reason = format!("mode {mode:04o} is writable by group or others");
        return Err(InterpreterError::Insecure {
            path: path.into(),
            reason,
        });
    }
    Ok(())
}
