//! The managed store: copy, skip by stat, re-install on change, never write a pinned file.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use super::super::{InterpreterError, Store, Verified, VerifyPolicy, verify_with};
use super::{QEMU, QEMU_OTHER, busybox_arm64, copy_with_mode, host, need, sha256sum};

/// Verification that works whoever runs the tests (copies are owned by the caller).
fn verified(path: &Path) -> Verified {
    verify_with(
        path,
        host(),
        VerifyPolicy {
            require_root_owner: false,
        },
    )
    .unwrap()
}

/// A source directory holding a copy of `from` called `qemu-aarch64-static`.
fn source_from(from: &Path) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = copy_with_mode(from, dir.path(), "qemu-aarch64-static", 0o755);
    (dir, path)
}

/// Replaces `path` by a copy of `from` the way dpkg does: new file, then rename (new inode).
fn upgrade(path: &Path, from: &Path) {
    let staging = path.with_extension("dpkg-new");
    fs::copy(from, &staging).unwrap();
    fs::rename(&staging, path).unwrap();
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn install_copies_and_records_the_digest() {
    let Some(qemu) = need(QEMU) else { return };
    let (_src, source) = source_from(&qemu);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("interpreters")).unwrap();
    let installed = store.install("qemu-aarch64", &verified(&source)).unwrap();

    let managed = store.path_of("qemu-aarch64");
    assert_eq!(installed.path, managed);
    assert!(installed.changed);
    assert_eq!(installed.sha256, sha256sum(&source));
    assert_eq!(sha256sum(&managed), sha256sum(&source));
    assert_eq!(installed.previous_sha256, None);
    assert!(
        installed.version.is_some(),
        "the managed copy answers --version"
    );
    let meta = fs::metadata(&managed).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o755);
    assert_eq!(
        fs::metadata(store.dir()).unwrap().permissions().mode() & 0o7777,
        0o755
    );
    assert_eq!(
        entries(store.dir()),
        ["manifest.json", "qemu-aarch64"],
        "no temporary left"
    );

    let manifest: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(store.dir().join("manifest.json")).unwrap())
            .unwrap();
    let record = &manifest["interpreters"]["qemu-aarch64"];
    assert_eq!(record["sha256"], installed.sha256.as_str());
    assert_eq!(record["size"], meta.len());
    assert_eq!(
        record["source"]["path"],
        fs::canonicalize(&source).unwrap().to_str().unwrap()
    );
    assert_eq!(
        store.installed("qemu-aarch64"),
        Some(installed.clone()).map(|mut i| {
            i.changed = false;
            i
        })
    );
    assert!(store.contains_path(&managed));
    assert!(!store.contains_path(&qemu));
    assert!(!store.contains_path(&store.dir().join("manifest.json")));
}

#[test]
fn unchanged_source_is_skipped_without_reading_it() {
    let Some(qemu) = need(QEMU) else { return };
    let (_src, source) = source_from(&qemu);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let v = verified(&source);
    let first = store.install("qemu-aarch64", &v).unwrap();
    let managed = fs::metadata(store.path_of("qemu-aarch64")).unwrap();
    assert!(store.is_current("qemu-aarch64", &v));

    // With the source gone, any attempt to read it would fail: the skip must use stat only.
    fs::remove_file(&source).unwrap();
    let second = store.install("qemu-aarch64", &v).unwrap();
    assert!(!second.changed);
    assert_eq!(
        (second.sha256, second.version),
        (first.sha256, first.version)
    );
    let after = fs::metadata(store.path_of("qemu-aarch64")).unwrap();
    assert_eq!(
        (after.ino(), after.mtime_nsec(), after.ctime_nsec()),
        (managed.ino(), managed.mtime_nsec(), managed.ctime_nsec())
    );
}

#[test]
fn a_damaged_managed_copy_is_reinstalled() {
    let Some(qemu) = need(QEMU) else { return };
    let (_src, source) = source_from(&qemu);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let v = verified(&source);
    store.install("qemu-aarch64", &v).unwrap();
    fs::write(store.path_of("qemu-aarch64"), b"truncated").unwrap();
    assert!(!store.is_current("qemu-aarch64", &v));
    let again = store.install("qemu-aarch64", &v).unwrap();
    assert!(again.changed);
    assert_eq!(
        sha256sum(&store.path_of("qemu-aarch64")),
        sha256sum(&source)
    );
}

#[test]
fn an_upgraded_source_is_reinstalled_under_a_new_inode() {
    let (Some(qemu), Some(other)) = (need(QEMU), need(QEMU_OTHER)) else {
        return;
    };
    let (_src, source) = source_from(&qemu);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let first = store.install("qemu-aarch64", &verified(&source)).unwrap();
    let old_ino = fs::metadata(&first.path).unwrap().ino();

    upgrade(&source, &other);
    let v = verified(&source);
    assert!(!store.is_current("qemu-aarch64", &v));
    let second = store.install("qemu-aarch64", &v).unwrap();
    assert!(second.changed);
    assert_eq!(second.sha256, sha256sum(&other));
    assert_ne!(second.sha256, first.sha256);
    assert_eq!(
        second.previous_sha256.as_deref(),
        Some(first.sha256.as_str())
    );
    assert_eq!(second.previous_version, first.version);
    assert_ne!(
        fs::metadata(&second.path).unwrap().ino(),
        old_ino,
        "rename, not rewrite"
    );
    assert_eq!(sha256sum(&second.path), sha256sum(&other));
}

#[test]
fn a_touched_source_with_the_same_bytes_keeps_the_copy() {
    let Some(qemu) = need(QEMU) else { return };
    let (_src, source) = source_from(&qemu);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let first = store.install("qemu-aarch64", &verified(&source)).unwrap();
    let ino = fs::metadata(&first.path).unwrap().ino();

    let later = SystemTime::now() + Duration::from_secs(60);
    fs::File::options()
        .write(true)
        .open(&source)
        .unwrap()
        .set_modified(later)
        .unwrap();
    let v = verified(&source);
    assert!(
        !store.is_current("qemu-aarch64", &v),
        "the stat identity changed"
    );
    let second = store.install("qemu-aarch64", &v).unwrap();
    assert!(!second.changed);
    assert_eq!(fs::metadata(&second.path).unwrap().ino(), ino);
    assert!(
        store.is_current("qemu-aarch64", &v),
        "the new identity is recorded"
    );
    assert_eq!(entries(store.dir()), ["manifest.json", "qemu-aarch64"]);
}

#[test]
fn a_source_changed_after_verification_is_refused() {
    let (Some(qemu), Some(other)) = (need(QEMU), need(QEMU_OTHER)) else {
        return;
    };
    let (_src, source) = source_from(&qemu);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let v = verified(&source);
    upgrade(&source, &other);
    let err = store.install("qemu-aarch64", &v).unwrap_err();
    assert!(
        matches!(err, InterpreterError::SourceChanged { .. }),
        "{err}"
    );
    assert!(
        entries(store.dir()).is_empty(),
        "nothing left behind: {:?}",
        entries(store.dir())
    );
}

#[test]
fn a_running_managed_copy_is_replaced_without_etxtbsy() {
    let (Some(qemu), Some(other), Some(busybox)) = (need(QEMU), need(QEMU_OTHER), busybox_arm64())
    else {
        return;
    };
    let (_src, source) = source_from(&qemu);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let first = store.install("qemu-aarch64", &verified(&source)).unwrap();
    let mut child = Command::new(&first.path)
        .args([busybox.as_os_str(), "sleep".as_ref(), "3".as_ref()])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // Control: the running copy really is busy, so opening it for writing would fail.
    let busy = fs::File::options()
        .write(true)
        .open(&first.path)
        .unwrap_err();
    assert_eq!(busy.raw_os_error(), Some(nix::libc::ETXTBSY));

    upgrade(&source, &other);
    let second = store.install("qemu-aarch64", &verified(&source));
    let status = child.wait().unwrap();
    let second = second.unwrap();
    assert!(second.changed);
    assert_eq!(sha256sum(&second.path), sha256sum(&other));
    assert!(status.success(), "the running copy kept working: {status}");
}

#[test]
fn remove_deletes_the_copy_and_its_record() {
    let Some(qemu) = need(QEMU) else { return };
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.install("qemu-aarch64", &verified(&qemu)).unwrap();
    assert_eq!(store.names(), ["qemu-aarch64"]);
    assert!(store.remove("qemu-aarch64").unwrap());
    assert!(
        !store.remove("qemu-aarch64").unwrap(),
        "second remove finds nothing"
    );
    assert_eq!(store.installed("qemu-aarch64"), None);
    assert!(store.names().is_empty());
    assert_eq!(entries(store.dir()), ["manifest.json"]);
}

#[test]
fn bad_names_are_rejected_before_any_write() {
    let Some(qemu) = need(QEMU) else { return };
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let v = verified(&qemu);
    for name in ["", ".hidden", "a/b", "manifest.json", ".."] {
        let err = store.install(name, &v).unwrap_err();
        assert!(
            matches!(err, InterpreterError::InvalidName { .. }),
            "{name:?}: {err}"
        );
    }
    assert!(entries(store.dir()).is_empty());
}

#[test]
fn an_unwritable_install_dir_fails_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    fs::write(&file, b"").unwrap();
    let err = Store::open(file.join("interpreters")).unwrap_err();
    assert!(
        matches!(err, InterpreterError::StoreUnusable { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("not-a-dir"), "{err}");
}

#[test]
fn a_corrupt_manifest_means_copy_again() {
    let Some(qemu) = need(QEMU) else { return };
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let v = verified(&qemu);
    store.install("qemu-aarch64", &v).unwrap();
    fs::write(store.dir().join("manifest.json"), b"{ not json").unwrap();
    assert!(!store.is_current("qemu-aarch64", &v));
    let again = store.install("qemu-aarch64", &v).unwrap();
    assert!(again.changed);
    assert!(store.is_current("qemu-aarch64", &v));
}

#[test]
fn a_directory_others_can_write_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let err = Store::open(&shared).unwrap_err();
    assert!(
        matches!(&err, InterpreterError::InsecureStore { reason, .. } if reason.contains("1777")),
        "{err}"
    );
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(Store::open(&shared).is_ok());
}

#[test]
fn entries_of_any_binfmtd_installation_are_owned() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path());
    assert!(store.owns(&dir.path().join("qemu-aarch64")));
    // The container image's and the default install directory: the host's service takes over
    // what the image registered.
    assert!(store.owns(Path::new("/usr/libexec/binfmtd/qemu-aarch64")));
    assert!(store.owns(Path::new("/var/lib/binfmtd/interpreters/qemu-arm")));
    // A distribution's interpreter is another tool's.
    assert!(!store.owns(Path::new("/usr/bin/qemu-aarch64-static")));
    assert!(!store.owns(Path::new("/usr/libexec/qemu-binfmt/aarch64-binfmt-P")));
}
