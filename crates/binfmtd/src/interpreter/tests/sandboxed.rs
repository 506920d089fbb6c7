//! Store faults that need a real read-only or full filesystem, provoked in a private mount
//! namespace: the test re-runs itself under `unshare --user --map-root-user --mount`, where it
//! may mount a tmpfs that nobody else sees.

use std::fs;
use std::path::Path;
use std::process::Command;

use nix::mount::{MsFlags, mount, umount};

use super::super::{InterpreterError, Store, VerifyPolicy, verify_with};
use super::{QEMU, host, need};

/// Set on the re-run child only (never in this process's environment).
const INSIDE: &str = "BINFMTD_INTERPRETER_TEST_SANDBOX";

/// In the parent: re-runs `test` in a user and mount namespace and asserts it passed.
/// In the child: returns true, meaning "run the body now".
fn in_sandbox(test: &str) -> bool {
    if std::env::var_os(INSIDE).is_some() {
        return true;
    }
    let probe = Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "true"])
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        binfmtd_tests::skip(
            test,
            "unshare --user --map-root-user --mount is not available here",
        );
        return false;
    }
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "--"])
        .arg(exe)
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(INSIDE, "1")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "sandboxed run of {test} failed:\n{text}"
    );
    assert!(
        text.contains("1 passed"),
        "{test} did not run in the sandbox:\n{text}"
    );
    false
}

fn tmpfs(at: &Path, flags: MsFlags, size: &str) {
    mount(Some("tmpfs"), at, Some("tmpfs"), flags, Some(size)).unwrap();
}

#[test]
fn a_read_only_install_dir_gives_a_clear_error() {
    if !in_sandbox("interpreter::tests::sandboxed::a_read_only_install_dir_gives_a_clear_error") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    tmpfs(dir.path(), MsFlags::MS_RDONLY, "size=1m,mode=0755");
    for target in [dir.path().to_path_buf(), dir.path().join("interpreters")] {
        let err = Store::open(&target).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(&err, InterpreterError::StoreUnusable { source, .. }
            if source.kind() == std::io::ErrorKind::ReadOnlyFilesystem),
            "{msg}"
        );
        assert!(
            msg.contains("read-only") && msg.contains(&*dir.path().to_string_lossy()),
            "{msg}"
        );
    }
    umount(dir.path()).unwrap();
}

#[test]
fn a_full_install_dir_gives_a_clear_error_and_leaves_nothing() {
    if !in_sandbox(
        "interpreter::tests::sandboxed::a_full_install_dir_gives_a_clear_error_and_leaves_nothing",
    ) {
        return;
    }
    let Some(qemu) = need(QEMU) else { return };
    let dir = tempfile::tempdir().unwrap();
    tmpfs(dir.path(), MsFlags::empty(), "size=1m,mode=0755");
    let store = Store::open(dir.path()).unwrap();
    let source = verify_with(
        &qemu,
        host(),
        VerifyPolicy {
            require_root_owner: false,
        },
    )
    .unwrap();
    assert!(
        store.free_space().unwrap() < source.size,
        "the tmpfs must be too small"
    );
    let sha = super::super::hash_verified(&source).unwrap();
    let mut writer = store.writer().unwrap();
    let err = writer
        .put("qemu-aarch64", &source, Some(&sha), None, false)
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(&err, InterpreterError::StoreUnusable { source, .. }
        if source.kind() == std::io::ErrorKind::StorageFull),
        "{msg}"
    );
    assert!(msg.contains("full"), "{msg}");
    let left: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "nothing may be left behind: {left:?}");
    umount(dir.path()).unwrap();
}
