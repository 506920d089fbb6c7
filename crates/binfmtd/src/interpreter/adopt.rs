//! Interpreters that already live in the install directory under their managed name: recorded
//! in place, never copied.
//!
//! This is the container image's layout (`packaging/container/binfmtd.toml`): the image ships
//! `/usr/libexec/binfmtd/qemu-<t>` and uses that directory as its install directory, so a
//! `docker run … --install all` registers the files where they are instead of writing hundreds
//! of megabytes into the container's writable layer on every run. The file is hashed (read
//! once), never opened for writing.

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::error::InterpreterError;
use super::manifest::{FileStamp, Manifest, Record};
use super::store::Installed;
use super::verify::Verified;
use super::version::qemu_version;

/// Whether `source` is the managed copy `target` itself (same path, or the same inode).
pub(super) fn is_in_place(source: &Verified, target: &Path) -> bool {
    // Only a regular file counts: a symlink in the store to the source would never match the
    // store's stamps, and would make every run re-record it. It is replaced by a real copy.
    std::fs::symlink_metadata(target).is_ok_and(|meta| {
        use std::os::unix::fs::MetadataExt;
        meta.file_type().is_file() && meta.dev() == source.dev && meta.ino() == source.ino
    })
}

/// SHA-256 of the file `source` names, failing if it is not the verified file any more.
pub(super) fn hash_in_place(source: &Verified) -> Result<String, InterpreterError> {
    let path = &source.path;
    let mut file = super::copy::open_verified(source)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(InterpreterError::io("reading", path, e)),
        }
    }
    if !super::copy::identity_of(&file, path)?.same_identity(source) {
        return Err(InterpreterError::SourceChanged { path: path.clone() });
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Records `source`, which already is the managed copy `target`, in `manifest` (saved by the
/// caller) and returns the result; `changed` is true when its digest differs from the previous
/// record's, so the kernel's entry must be re-registered.
pub(super) fn record_in_place(
    name: &str,
    target: &Path,
    source: &Verified,
    previous: Option<&Record>,
    manifest: &mut Manifest,
) -> Result<Installed, InterpreterError> {
    let sha256 = hash_in_place(source)?;
    let meta =
        std::fs::symlink_metadata(target).map_err(|e| InterpreterError::io("stat", target, e))?;
    let same = previous.filter(|p| p.sha256 == sha256);
    let version = match same {
        Some(p) => p.version.clone(),
        None => qemu_version(target),
    };
    let record = Record {
        source: source.clone(),
        installed: FileStamp::of(&meta),
        sha256: sha256.clone(),
        version: version.clone(),
        size: source.size,
        installed_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    };
    manifest.interpreters.insert(name.to_owned(), record);
    Ok(Installed {
        name: name.to_owned(),
        path: target.to_path_buf(),
        source: source.path.clone(),
        sha256,
        version,
        size: source.size,
        changed: same.is_none(),
        previous_sha256: previous.map(|p| p.sha256.clone()),
        previous_version: previous.and_then(|p| p.version.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::super::{HostMachine, InterpreterError};
    use super::super::{Store, VerifyPolicy, verify_with};
    use std::os::unix::fs::MetadataExt;
    use std::path::Path;

    const QEMU: &str = "/usr/bin/qemu-aarch64-static";

    #[test]
    fn a_file_already_in_the_install_dir_is_recorded_not_copied() {
        if !Path::new(QEMU).exists() {
            eprintln!("skipping: {QEMU} is missing (tests/setup.sh installs qemu-user-static)");
            return;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let managed = dir.path().join("qemu-aarch64");
        std::fs::copy(QEMU, &managed).expect("copy");
        let inode = std::fs::metadata(&managed).expect("stat").ino();
        let policy = VerifyPolicy {
            require_root_owner: false,
        };
        let machine = HostMachine::current().expect("host machine");
        let verified = verify_with(&managed, machine, policy).expect("verify");
        let store = Store::open(dir.path()).expect("store");

        let first = store.install("qemu-aarch64", &verified).expect("install");
        assert!(first.changed, "a first record asks for registration");
        assert_eq!(first.path, managed);
        assert_eq!(std::fs::metadata(&managed).expect("stat").ino(), inode);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .expect("readdir")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "no staged copy: {leftovers:?}");
        assert!(store.is_current("qemu-aarch64", &verified));

        let again = store.install("qemu-aarch64", &verified).expect("install");
        assert!(!again.changed);
        assert_eq!(again.sha256, first.sha256);
        assert_eq!(std::fs::metadata(&managed).expect("stat").ino(), inode);
    }

    #[test]
    fn a_file_replaced_after_verification_is_refused() {
        if !Path::new(QEMU).exists() {
            eprintln!("skipping: {QEMU} is missing");
            return;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let managed = dir.path().join("qemu-aarch64");
        std::fs::copy(QEMU, &managed).expect("copy");
        let policy = VerifyPolicy {
            require_root_owner: false,
        };
        let machine = HostMachine::current().expect("host machine");
        let verified = verify_with(&managed, machine, policy).expect("verify");
        let staging = dir.path().join("new");
        std::fs::copy(QEMU, &staging).expect("copy");
        std::fs::rename(&staging, &managed).expect("rename");
        let store = Store::open(dir.path()).expect("store");
        let err = store
            .install("qemu-aarch64", &verified)
            .expect_err("the verified inode is gone");
        assert!(
            matches!(err, InterpreterError::SourceChanged { .. }),
            "{err}"
        );
    }
}
