//! `binfmtd exec`: rootless emulation in a private user + mount namespace (issue 8).
//!
//! Every command runs as an unprivileged user: uid/gid 65534 through `setpriv` when the tests run
//! as root (as in CI), else as the calling user. binfmtd and the foreign busybox are linked or
//! copied into a world-readable temporary directory first, because the checkout may live under a
//! directory that user cannot enter.

use binfmtd_tests::fixtures::{self, Kind};
use binfmtd_tests::sandbox::{self, Sandbox};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A world-readable directory holding `binfmtd` and an arm64 `busybox`.
struct World {
    dir: tempfile::TempDir,
}

impl World {
    /// Sets the directory up, or returns `None` (after printing why) when the kernel cannot give
    /// an unprivileged user a private binfmt_misc.
    fn new(test: &str) -> Option<World> {
        if let Err(reason) = sandbox::support() {
            sandbox::skip(test, reason);
            return None;
        }
        // Not $TMPDIR: it may lie under a directory the unprivileged user cannot enter.
        let dir = tempfile::Builder::new()
            .prefix("binfmtd-exec-")
            .tempdir_in("/tmp")
            .expect("creating a temporary directory in /tmp");
        let busybox = fixtures::foreign_binaries()
            .into_iter()
            .find(|b| b.target.as_deref() == Some("aarch64") && b.kind == Kind::Busybox)
            .expect("the fixtures have an arm64 busybox (tests/fixtures.sh)");
        link_or_copy(&binfmtd_tests::bin::binfmtd(), &dir.path().join("binfmtd"));
        link_or_copy(&busybox.path, &dir.path().join("busybox"));
        let world = World { dir };
        world.chmod_tree(world.path());
        Some(world)
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn binfmtd(&self) -> PathBuf {
        self.path().join("binfmtd")
    }

    fn busybox(&self) -> PathBuf {
        self.path().join("busybox")
    }

    /// Makes `dir` and everything in it readable (and directories enterable) by everyone.
    fn chmod_tree(&self, dir: &Path) {
        let set = |p: &Path, mode: u32| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
                .unwrap_or_else(|e| panic!("chmod {}: {e}", p.display()));
        };
        set(dir, 0o755);
        for entry in std::fs::read_dir(dir).expect("listing the world directory") {
            let path = entry.expect("reading the world directory").path();
            let meta = std::fs::symlink_metadata(&path).expect("stat");
            if meta.is_dir() {
                self.chmod_tree(&path);
            } else if meta.is_file() {
                set(&path, meta.permissions().mode() | 0o444);
            }
        }
    }

    /// `binfmtd ARGS…` as the unprivileged user.
    fn binfmtd_as_user(&self, args: &[&str]) -> Output {
        let mut cmd = unprivileged(self.binfmtd());
        cmd.args(args).current_dir(self.path());
        cmd.output().expect("running binfmtd")
    }
}

/// A hard link where possible (the debug binary is large), else a copy.
fn link_or_copy(from: &Path, to: &Path) {
    if std::fs::hard_link(from, to).is_err() {
        std::fs::copy(from, to)
            .unwrap_or_else(|e| panic!("copying {} to {}: {e}", from.display(), to.display()));
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .expect("reading /proc/self/status")
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1).map(|euid| euid == "0"))
        .expect("an Uid: line")
}

/// A command that runs `program` as an unprivileged user.
fn unprivileged(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = if is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(program);
        c
    } else {
        Command::new(program)
    };
    cmd.stdin(Stdio::null());
    cmd
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn show(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    )
}

/// The host's view of its binfmt_misc: the listing (or the error) of the default mount.
fn host_view() -> String {
    match std::fs::read_dir(binfmt_misc::DEFAULT_MOUNT) {
        Ok(dir) => {
            let mut names: Vec<String> = dir
                .map(|e| {
                    e.expect("listing")
                        .file_name()
                        .to_string_lossy()
                        .into_owned()
                })
                .collect();
            names.sort();
            names.join(" ")
        }
        Err(e) => format!("error: {e}"),
    }
}

#[test]
fn exec_runs_a_foreign_binary_without_root() {
    let Some(world) = World::new("exec_runs_a_foreign_binary_without_root") else {
        return;
    };
    let before = host_view();
    let busybox = world.busybox();
    let bb = busybox.to_str().expect("a UTF-8 path");
    let out = world.binfmtd_as_user(&["exec", "--", bb, "uname", "-m"]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(text(&out.stdout), "aarch64\n", "{}", show(&out));

    // As root of the namespace by default; with --keep-id as the caller, still emulated.
    let out = world.binfmtd_as_user(&["exec", "--", "id", "-u"]);
    assert_eq!(text(&out.stdout), "0\n", "{}", show(&out));
    let out = world.binfmtd_as_user(&[
        "exec",
        "--keep-id",
        "--target",
        "arm64",
        "--",
        bb,
        "sh",
        "-c",
        "id -u; uname -m",
    ]);
    let caller = if is_root() { "65534" } else { "" };
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", show(&out));
    assert!(stdout.ends_with("\naarch64\n"), "{}", show(&out));
    if !caller.is_empty() {
        assert_eq!(stdout, format!("{caller}\naarch64\n"), "{}", show(&out));
    }
    assert_eq!(
        host_view(),
        before,
        "the host's binfmt_misc must not change"
    );
}

#[test]
fn exec_runs_a_script_in_a_foreign_root_filesystem_via_chroot() {
    let Some(world) = World::new("exec_runs_a_script_in_a_foreign_root_filesystem_via_chroot")
    else {
        return;
    };
    let root = world.path().join("rootfs");
    std::fs::create_dir_all(root.join("bin")).expect("creating the rootfs");
    link_or_copy(&world.busybox(), &root.join("bin/busybox"));
    for applet in ["sh", "uname", "echo", "cat"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).expect("symlink");
    }
    let script = "#!/bin/sh\necho \"hello from $(uname -m)\"\ncat /etc/marker\nexit 3\n";
    std::fs::write(root.join("script.sh"), script).expect("writing the script");
    std::fs::create_dir(root.join("etc")).expect("mkdir etc");
    std::fs::write(root.join("etc/marker"), "foreign rootfs\n").expect("writing the marker");
    world.chmod_tree(&root);

    let rootfs = root.to_str().expect("a UTF-8 path");
    let out = world.binfmtd_as_user(&[
        "exec",
        "--",
        "/usr/sbin/chroot",
        rootfs,
        "/bin/sh",
        "/script.sh",
    ]);
    assert_eq!(
        text(&out.stdout),
        "hello from aarch64\nforeign rootfs\n",
        "{}",
        show(&out)
    );
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
}

#[test]
fn exec_passes_exit_status_and_signals_through() {
    let Some(world) = World::new("exec_passes_exit_status_and_signals_through") else {
        return;
    };
    let out = world.binfmtd_as_user(&["exec", "--", "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7), "{}", show(&out));

    let out = world.binfmtd_as_user(&["exec", "--", "sh", "-c", "kill -TERM $$"]);
    assert_eq!(out.status.signal(), Some(15), "{}", show(&out));

    let out = world.binfmtd_as_user(&["exec", "--", "/nonexistent/program"]);
    assert_eq!(out.status.code(), Some(127), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("cannot run /nonexistent/program"),
        "{}",
        show(&out)
    );

    let out = world.binfmtd_as_user(&["exec", "--target", "no-such-arch", "--", "true"]);
    assert_eq!(out.status.code(), Some(125), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("unknown target `no-such-arch`"),
        "{}",
        show(&out)
    );
}

#[test]
fn exec_explains_disabled_user_namespaces() {
    let Some(world) = World::new("exec_explains_disabled_user_namespaces") else {
        return;
    };
    // user.max_user_namespaces is per user namespace: 0 here forbids children of this one.
    let script = "echo 0 > /proc/sys/user/max_user_namespaces && exec \"$0\" exec -- true";
    let out = unprivileged("unshare")
        .args(["--user", "--map-root-user", "--", "sh", "-c", script])
        .arg(world.binfmtd())
        .output()
        .expect("running unshare");
    assert_eq!(out.status.code(), Some(125), "{}", show(&out));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("cannot create a user namespace")
            && stderr.contains("user.max_user_namespaces = 0"),
        "{}",
        show(&out)
    );
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
}

#[test]
fn exec_shadows_but_never_changes_the_outer_instance() {
    let Some(sb) = Sandbox::new("exec_shadows_but_never_changes_the_outer_instance") else {
        return;
    };
    let Some(world) = World::new("exec_shadows_but_never_changes_the_outer_instance") else {
        return;
    };
    // The sandbox plays the host: its instance holds one marker entry at the mount path binfmtd
    // exec then mounts over, in its own namespace.
    let m = sb.mount().display().to_string();
    let marker = ":outer-marker:E::outermarker::/bin/true:";
    let out = sb.sh(&format!("printf '%s' '{marker}' > {m}/register"));
    assert!(out.status.success(), "{}", show(&out));
    let listing = format!("ls {m} | sort | tr '\\n' ' '; cat {m}/outer-marker {m}/status");
    let before = sb.sh(&listing);

    let inside = format!(
        "{} --mount {m} exec --target aarch64 -- sh -c 'ls {m} | sort | tr \"\\n\" \" \"; {} uname -m'",
        world.binfmtd().display(),
        world.busybox().display()
    );
    let out = sb.sh(&inside);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(
        text(&out.stdout),
        "qemu-aarch64 register status aarch64\n",
        "inside: only the private entry, and it works; {}",
        show(&out)
    );
    let after = sb.sh(&listing);
    assert_eq!(text(&after.stdout), text(&before.stdout));
    assert!(text(&after.stdout).starts_with("outer-marker register status enabled"));
}

#[test]
fn status_inside_exec_reports_a_private_instance() {
    let Some(world) = World::new("status_inside_exec_reports_a_private_instance") else {
        return;
    };
    let binfmtd = world.binfmtd();
    let status = format!("{} status --json", binfmtd.display());
    let out = world.binfmtd_as_user(&["exec", "--target", "arm64", "--", "sh", "-c", &status]);
    assert!(out.status.success(), "{}", show(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    assert_eq!(json["instance"]["host"], false, "{}", show(&out));
    assert_eq!(json["emulators"], serde_json::json!(["qemu-aarch64"]));
}

/// A bad configuration is binfmtd's failure, not COMMAND's: 125, never a status COMMAND could
/// have returned itself (2 is common).
#[test]
fn exec_reports_its_own_configuration_errors_as_125() {
    let out = std::process::Command::new(binfmtd_tests::bin::binfmtd())
        .args([
            "exec",
            "--config",
            "/nonexistent/binfmtd.toml",
            "--",
            "true",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent/binfmtd.toml"), "{stderr}");
}
