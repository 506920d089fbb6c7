//! The managed store: link or copy, snapshot by stat, recognise what an interrupted run left,
//! never write a pinned file.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use super::super::{
    InterpreterError, Placed, Store, Verified, VerifyPolicy, hash_verified, verify_with,
};
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
        .filter(|n| n != ".binfmtd.lock")
        .collect();
    names.sort();
    names
}

/// Puts `source` into `store` as `qemu-aarch64` (hashing it first, as the engine does, only
/// when it is to be copied).
fn put(store: &Store, source: &Verified, link: bool) -> Result<Placed, InterpreterError> {
    let sha = if link {
        None
    } else {
        Some(hash_verified(source)?)
    };
    let mut w = store.writer()?;
    let placed = w.put(
        "qemu-aarch64",
        source,
        sha.as_deref(),
        Some("test".into()),
        link,
    )?;
    w.commit()?;
    Ok(placed)
}

#[test]
fn a_copy_is_recorded_with_its_digest() {
    let Some(qemu) = need(QEMU) else { return };
    let (_src, source) = source_from(&qemu);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("interpreters")).unwrap();
    assert_eq!(
        put(&store, &verified(&source), false).unwrap(),
        Placed::Copied {
            sha256: sha256sum(&source)
        }
    );

    let managed = store.path_of("qemu-aarch64");
    assert_eq!(sha256sum(&managed), sha256sum(&source));
    assert_ne!(
        fs::metadata(&managed).unwrap().ino(),
        fs::metadata(&source).unwrap().ino()
    );
    let meta = fs::metadata(&managed).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o755);
    assert_eq!(
        entries(store.dir()),
        ["manifest.json", "qemu-aarch64"],
        "no temporary left"
    );
    let installed = store.installed("qemu-aarch64").unwrap();
    assert_eq!(installed.sha256, Some(sha256sum(&source)));
    assert_eq!(installed.path, managed);
    let snap = store.snapshot(&["qemu-aarch64"]);
    let copy = &snap.managed["qemu-aarch64"];
    assert_eq!(copy.content.sha256, Some(sha256sum(&source)));
    assert!(copy.source.as_ref().unwrap().same_file(&verified(&source)));
    assert!(snap.leftovers.is_empty());
    assert_eq!(snap.digests.len(), 1, "the source's digest is cached");
    assert!(store.contains_path(&managed));
    assert!(!store.contains_path(&qemu));
}

/// Issue 14: no second copy of QEMU where the source shares the store's filesystem.
#[test]
fn a_source_on_the_same_filesystem_is_hard_linked() {
    let Some(qemu) = need(QEMU) else { return };
    let dir = tempfile::tempdir().unwrap();
    let source = copy_with_mode(&qemu, dir.path(), "qemu-aarch64-static", 0o755);
    let store = Store::open(dir.path().join("store")).unwrap();
    assert_eq!(store.device(), Some(fs::metadata(&source).unwrap().dev()));
    assert_eq!(
        put(&store, &verified(&source), true).unwrap(),
        Placed::Linked
    );
    let managed = store.path_of("qemu-aarch64");
    assert_eq!(
        fs::metadata(&managed).unwrap().ino(),
        fs::metadata(&source).unwrap().ino()
    );
    // The record carries the identity after linking (a link changes ctime), so the next
    // snapshot recognises the source without reading it.
    let snap = store.snapshot(&["qemu-aarch64"]);
    let copy = &snap.managed["qemu-aarch64"];
    let recorded = copy.source.clone().unwrap();
    let now = super::super::identity(&source).unwrap();
    assert!(recorded.same_file(&now), "{recorded:?} vs {now:?}");
    // Its bytes are known by the inode they share with the source, not by a digest.
    assert_eq!(copy.content.file, super::super::FileId::from(&now));
    assert_eq!(copy.content.sha256, None);
    assert_eq!(store.installed("qemu-aarch64").unwrap().sha256, None);
    // The package's removal or upgrade leaves the linked file in place.
    upgrade(&source, &qemu);
    assert_eq!(sha256sum(&managed), sha256sum(&qemu));
    fs::remove_file(&source).unwrap();
    assert!(managed.is_file());
}

#[test]
fn the_snapshot_reads_no_interpreter() {
    let Some(qemu) = need(QEMU) else { return };
    let (_src, source) = source_from(&qemu);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    put(&store, &verified(&source), false).unwrap();
    let before = fs::metadata(store.path_of("qemu-aarch64")).unwrap();
    // With the source gone, the recorded digest is all a snapshot can use: stat only.
    fs::remove_file(&source).unwrap();
    let snap = store.snapshot(&["qemu-aarch64"]);
    let after = fs::metadata(store.path_of("qemu-aarch64")).unwrap();
    let copy = &snap.managed["qemu-aarch64"];
    assert_eq!(
        copy.content.sha256,
        Some(sha256sum(&store.path_of("qemu-aarch64")))
    );
    assert!(copy.source.is_some(), "the recorded file");
    assert_eq!(
        (after.ino(), after.atime_nsec(), after.ctime_nsec()),
        (before.ino(), before.atime_nsec(), before.ctime_nsec()),
        "not even read (atime)"
    );
}

#[test]
fn a_damaged_managed_copy_is_seen_as_different_bytes() {
    let Some(qemu) = need(QEMU) else { return };
    let (_src, source) = source_from(&qemu);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    put(&store, &verified(&source), false).unwrap();
    // Written in place (never by binfmtd): a new ctime, other bytes.
    fs::write(store.path_of("qemu-aarch64"), b"truncated").unwrap();
    let snap = store.snapshot(&["qemu-aarch64"]);
    let copy = &snap.managed["qemu-aarch64"];
    assert_ne!(copy.content.sha256, Some(sha256sum(&source)));
    assert!(copy.source.is_none());
}

#[test]
fn an_upgraded_source_replaces_the_copy_under_a_new_inode_while_it_runs() {
    let (Some(qemu), Some(other), Some(busybox)) = (need(QEMU), need(QEMU_OTHER), busybox_arm64())
    else {
        return;
    };
    let (_src, source) = source_from(&qemu);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    put(&store, &verified(&source), false).unwrap();
    let managed = store.path_of("qemu-aarch64");
    let old_ino = fs::metadata(&managed).unwrap().ino();
    let mut child = Command::new(&managed)
        .args([busybox.as_os_str(), "sleep".as_ref(), "3".as_ref()])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // Control: the running copy really is busy, so opening it for writing would fail.
    let busy = fs::File::options().write(true).open(&managed).unwrap_err();
    assert_eq!(busy.raw_os_error(), Some(nix::libc::ETXTBSY));

    upgrade(&source, &other);
    put(&store, &verified(&source), false).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "the running copy kept working: {status}");
    assert_ne!(
        fs::metadata(&managed).unwrap().ino(),
        old_ino,
        "rename, not rewrite"
    );
    assert_eq!(sha256sum(&managed), sha256sum(&other));
}

#[test]
fn a_touched_source_with_the_same_bytes_is_only_recorded() {
    let Some(qemu) = need(QEMU) else { return };
    let (_src, source) = source_from(&qemu);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    put(&store, &verified(&source), false).unwrap();
    let managed = store.path_of("qemu-aarch64");
    let ino = fs::metadata(&managed).unwrap().ino();
    let later = SystemTime::now() + Duration::from_secs(60);
    fs::File::options()
        .write(true)
        .open(&source)
        .unwrap()
        .set_modified(later)
        .unwrap();
    let v = verified(&source);
    let snap = store.snapshot(&["qemu-aarch64"]);
    assert!(
        !snap.managed["qemu-aarch64"]
            .source
            .as_ref()
            .unwrap()
            .same_file(&v)
    );
    let mut w = store.writer().unwrap();
    w.record("qemu-aarch64", &v, Some(&sha256sum(&source)), None)
        .unwrap();
    w.commit().unwrap();
    assert_eq!(
        fs::metadata(&managed).unwrap().ino(),
        ino,
        "the copy is not rewritten"
    );
    let snap = store.snapshot(&["qemu-aarch64"]);
    assert!(
        snap.managed["qemu-aarch64"]
            .source
            .as_ref()
            .unwrap()
            .same_file(&v)
    );
}

#[test]
fn a_source_changed_after_verification_is_refused_and_leaves_nothing() {
    let (Some(qemu), Some(other)) = (need(QEMU), need(QEMU_OTHER)) else {
        return;
    };
    for link in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let source = copy_with_mode(&qemu, dir.path(), "qemu-aarch64-static", 0o755);
        let store = Store::open(dir.path().join("store")).unwrap();
        let v = verified(&source);
        let sha = sha256sum(&source);
        upgrade(&source, &other);
        let mut w = store.writer().unwrap();
        let err = w
            .put("qemu-aarch64", &v, Some(&sha), None, link)
            .unwrap_err();
        assert!(
            matches!(err, InterpreterError::SourceChanged { .. }),
            "link={link}: {err}"
        );
        assert!(
            entries(store.dir()).is_empty(),
            "link={link}: {:?}",
            entries(store.dir())
        );
    }
}

/// Bugs 5 and 6: what a killed run leaves is found: temporary files as leftovers, a file
/// renamed into place without its record by its content.
#[test]
fn leftovers_and_unrecorded_files_are_recognised() {
    let Some(qemu) = need(QEMU) else { return };
    let (_src, source) = source_from(&qemu);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    fs::write(dir.path().join(".qemu-arm.123-0.tmp"), vec![0u8; 4096]).unwrap();
    fs::copy(&source, store.path_of("qemu-aarch64")).unwrap();
    let snap = store.snapshot(&["qemu-aarch64"]);
    assert_eq!(snap.leftovers.len(), 1);
    assert_eq!(snap.leftovers[0].1, 4096);
    let copy = &snap.managed["qemu-aarch64"];
    assert_eq!(
        copy.content.sha256.as_deref(),
        Some(sha256sum(&source).as_str()),
        "an unrecorded file is hashed"
    );
    assert!(copy.source.is_none());
    let w = store.writer().unwrap();
    w.clean(&snap.leftovers[0].0).unwrap();
    assert!(
        w.clean(&store.path_of("qemu-aarch64")).is_err(),
        "only temporary names"
    );
    assert_eq!(entries(store.dir()), ["qemu-aarch64"]);
}

#[test]
fn bad_names_are_rejected_before_any_write() {
    let Some(qemu) = need(QEMU) else { return };
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let v = verified(&qemu);
    let mut w = store.writer().unwrap();
    for name in ["", ".hidden", "a/b", "manifest.json", ".."] {
        let err = w.put(name, &v, Some("x"), None, false).unwrap_err();
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
fn a_corrupt_manifest_means_hashing_again() {
    let Some(qemu) = need(QEMU) else { return };
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    put(&store, &verified(&qemu), false).unwrap();
    fs::write(store.dir().join("manifest.json"), b"{ not json").unwrap();
    let snap = store.snapshot(&["qemu-aarch64"]);
    assert_eq!(
        snap.managed["qemu-aarch64"].content.sha256,
        Some(sha256sum(&qemu))
    );
    assert!(snap.managed["qemu-aarch64"].source.is_none());
}

#[test]
fn a_directory_others_can_write_is_refused() {
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
fn every_binfmtd_installation_directory_is_known() {
    let dir = tempfile::tempdir().unwrap();
    let dirs = Store::at(dir.path()).binfmtd_dirs();
    for known in [
        dir.path(),
        Path::new("/usr/libexec/binfmtd"),
        Path::new("/var/lib/binfmtd/interpreters"),
        Path::new("/usr/local/lib/binfmtd/qemu"),
    ] {
        assert!(dirs.iter().any(|d| d == known), "{}", known.display());
    }
    assert!(!dirs.iter().any(|d| d == Path::new("/usr/bin")));
}
