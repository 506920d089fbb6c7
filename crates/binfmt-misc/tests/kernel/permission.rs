//! A non-root user inside the instance's user namespace: every write is PermissionDenied.
//!
//! `sandbox_test!` maps only root, so this test builds its own namespace: a holder process in a
//! new user + mount namespace whose uid/gid maps (written by this process, which must be root)
//! contain 0 and 1000. The test binary then re-runs itself inside, as uid 1000, filtered to this
//! test.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use binfmt_misc::{BinfmtMisc, ErrorKind};

const ENV_MOUNT: &str = "BINFMT_MISC_TEST_UNPRIVILEGED_MOUNT";
const TEST: &str = "permission::non_root_user_gets_permission_denied";

#[test]
fn non_root_user_gets_permission_denied() {
    if let Some(mnt) = std::env::var_os(ENV_MOUNT) {
        inside(Path::new(&mnt));
        return;
    }
    if let Err(reason) = binfmtd_tests::sandbox::support() {
        binfmtd_tests::sandbox::skip(TEST, reason);
        return;
    }
    if !nix::unistd::geteuid().is_root() {
        binfmtd_tests::sandbox::skip(
            TEST,
            "mapping a second uid into a user namespace needs root",
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("binfmt_misc");
    let other = dir.path().join("other");
    for d in [&mnt, &other] {
        std::fs::create_dir(d).unwrap();
    }
    for d in [dir.path(), &other] {
        std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    }
    let mut holder = Command::new("unshare")
        .args(["--user", "--mount", "--", "sleep", "infinity"])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let pid = holder.id();
    let result = std::panic::catch_unwind(|| {
        wait_for_new_userns(pid);
        for map in ["uid_map", "gid_map"] {
            std::fs::write(format!("/proc/{pid}/{map}"), "0 0 1\n1000 1000 1\n").unwrap();
        }
        let nsenter = |uid: Option<&str>| {
            let mut cmd = Command::new("nsenter");
            cmd.args(["-t", &pid.to_string(), "--user", "--mount"]);
            if let Some(uid) = uid {
                cmd.args(["-S", uid, "-G", uid]);
            }
            cmd.arg("--").stdin(Stdio::null());
            cmd
        };
        let status = nsenter(None)
            .args(["sh", "-c", r#"mount -t binfmt_misc binfmt_misc "$0" && printf %s ':e:M::ZZE::/bin/true:' > "$0/register""#])
            .arg(&mnt)
            .status()
            .unwrap();
        assert!(status.success());
        let out = nsenter(Some("1000"))
            .arg(std::env::current_exe().unwrap())
            .args([TEST, "--exact", "--nocapture", "--test-threads=1"])
            .env(ENV_MOUNT, &mnt)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        eprintln!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "inner run failed"
        );
    });
    let _ = holder.kill();
    let _ = holder.wait();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

fn wait_for_new_userns(pid: u32) {
    let ours = std::fs::read_link("/proc/self/ns/user").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_link(format!("/proc/{pid}/ns/user"))
        .ok()
        .is_none_or(|t| t == ours)
    {
        assert!(
            Instant::now() < deadline,
            "the holder never entered its user namespace"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs as uid 1000 inside the namespace.
fn inside(mnt: &Path) {
    assert_eq!(nix::unistd::geteuid().as_raw(), 1000);
    let fs = BinfmtMisc::open(mnt).unwrap();
    assert!(fs.entry("e").unwrap().is_some(), "reading is allowed");
    assert!(fs.is_enabled().unwrap());
    let rule = crate::common::rule("u", crate::common::magic(0, b"ZZU", None), "/bin/true", "");
    let errors = [
        fs.register(&rule).unwrap_err(),
        fs.remove("e").unwrap_err(),
        fs.disable("e").unwrap_err(),
    ];
    for err in errors {
        assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains("run as root") && msg.contains("--privileged"),
            "{msg}"
        );
    }
    assert!(
        fs.register(&rule)
            .unwrap_err()
            .to_string()
            .contains("register")
    );
    let other = mnt.parent().unwrap().join("other");
    let err = BinfmtMisc::open_or_mount(&other).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
    assert!(err.to_string().contains("mount binfmt_misc on"), "{err}");
}
