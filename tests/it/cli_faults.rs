//! Bad input and faults, provoked for real (issue 4): each gives one `error:` line on stderr that
//! names the file, field or target and the fix, exits 2 (usage or configuration) or 1 (failure),
//! and changes nothing: the kernel's entries and the install directory are compared before and
//! after.

#![allow(clippy::unwrap_used)] // Test helpers may unwrap, as the tests do.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use binfmtd_tests::bin::binfmtd;
use binfmtd_tests::fixtures::{Kind, foreign_binaries, qemu_static};
use binfmtd_tests::sandbox;

use crate::cli_env::{Env, Run, assert_unchanged, by_name, foreign_aarch64_line};

/// Runs `binfmtd -q ARGS…` with `config` and asserts: exit `code`, exactly one stderr line, an
/// `error:` line containing every needle, and nothing changed (entries and `store`).
fn refused(env: &Env, config: &Path, store: &Path, args: &[&str], code: i32, needles: &[&str]) {
    let before = env.snapshot_of(store);
    let mut all = vec!["-q"];
    all.extend_from_slice(args);
    let out = env.run_with(config, &all);
    check_refusal(&out, args, code, needles);
    assert_unchanged(&before, &env.snapshot_of(store), &format!("{args:?}"));
}

fn check_refusal(out: &Run, args: &[&str], code: i32, needles: &[&str]) {
    assert_eq!(out.code, code, "{args:?}: {out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{args:?}: one line: {out:?}");
    let line = out
        .errors()
        .first()
        .copied()
        .unwrap_or_default()
        .to_string();
    for needle in needles {
        assert!(
            line.contains(needle),
            "{args:?}: {needle:?} not in {line:?}"
        );
    }
}

fn config_with(env: &Env, name: &str, extra: &str) -> PathBuf {
    env.config_file(name, &env.store, extra)
}

fn aarch64_interpreter(path: &Path) -> String {
    format!(
        "[target.aarch64]\ninterpreter = {:?}\n",
        path.display().to_string()
    )
}

#[test]
fn bad_interpreters_targets_and_configs_change_nothing() {
    let Some(env) = Env::new("cli_faults::bad_input", "") else {
        return;
    };
    let store = env.store.clone();
    let case = |name: &str, interp: &Path, needles: &[&str]| {
        let config = config_with(&env, name, &aarch64_interpreter(interp));
        refused(&env, &config, &store, &["install", "aarch64"], 1, needles);
    };
    case(
        "missing.toml",
        Path::new("/nonexistent"),
        &["qemu-aarch64", "/nonexistent", "does not exist", "install"],
    );
    case(
        "dynamic.toml",
        Path::new("/bin/ls"),
        &["ls", "dynamically linked", "qemu-user-static"],
    );
    // A busybox of another architecture than this machine's, as the interpreter.
    let other = foreign_binaries()
        .into_iter()
        .find(|b| {
            b.kind == Kind::Busybox
                && b.target
                    .as_deref()
                    .is_some_and(|t| !binfmtd_tests::fixtures::HOST_NATIVE.contains(&t))
        })
        .unwrap();
    let built_for = format!("built for {}", other.target.as_deref().unwrap_or_default());
    let this_host = format!("this host is {}", binfmtd_tests::fixtures::HOST_UNAME);
    case(
        "wrong-machine.toml",
        &other.path,
        &["busybox", &built_for, &this_host],
    );
    let copy = |name: &str, mode: u32| {
        let path = env.sb.scratch().join(name);
        std::fs::copy(qemu_static("aarch64"), &path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    };
    case(
        "writable.toml",
        &copy("qemu-writable", 0o777),
        &["qemu-writable", "insecure", "chmod go-w"],
    );
    case(
        "noexec.toml",
        &copy("qemu-noexec", 0o644),
        &["qemu-noexec", "not executable", "chmod 0755"],
    );
    case("directory.toml", env.sb.scratch(), &["not a regular file"]);
    assert!(
        env.snapshot().store.is_none(),
        "no install directory was created"
    );

    // Usage and configuration errors: exit 2.
    refused(
        &env,
        &env.config,
        &store,
        &["install", "aarch46"],
        2,
        &["unknown target `aarch46`", "aarch64"],
    );
    let bad = config_with(&env, "bad.toml", "bogus = 1\n");
    refused(
        &env,
        &bad,
        &store,
        &["install"],
        2,
        &["bad.toml:2:1", "bogus", "valid keys"],
    );
    let bad_flags = config_with(&env, "flags.toml", "flags = \"PX\"\n");
    refused(
        &env,
        &bad_flags,
        &store,
        &["install"],
        2,
        &["flags.toml:2:"],
    );
    refused(
        &env,
        &env.config,
        &store,
        &["install", "--flags", "PQ"],
        2,
        &["--flags PQ"],
    );
}

/// Runs `binfmtd -q --mount MOUNT ARGS…` (the default configuration) inside the sandbox.
fn run_at(env: &Env, mount: &Path, args: &[&str]) -> Run {
    let out = env
        .sb
        .command(binfmtd())
        .arg("-q")
        .arg("--mount")
        .arg(mount)
        .arg("--config")
        .arg(&env.config)
        .args(args)
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn mounts_that_are_not_a_writable_binfmt_misc_are_refused() {
    let Some(env) = Env::new("cli_faults::mounts", "") else {
        return;
    };
    let scratch = env.sb.scratch().to_path_buf();
    let before = env.snapshot();

    // A regular file: a usage error.
    let file = scratch.join("file");
    std::fs::File::create(&file).unwrap();
    let out = run_at(&env, &file, &["install", "aarch64"]);
    check_refusal(&out, &["file"], 2, &["--mount", "not a directory"]);

    // A tmpfs mounted there: refused, never mounted over.
    let tmpfs = scratch.join("tmpfs");
    std::fs::create_dir(&tmpfs).unwrap();
    env.sh_ok(&format!("mount -t tmpfs tmpfs {}", tmpfs.display()));
    let out = run_at(&env, &tmpfs, &["install", "aarch64"]);
    check_refusal(
        &out,
        &["tmpfs"],
        2,
        &["not binfmt_misc", "a tmpfs is mounted there"],
    );
    let mounts = env.sh_ok("cat /proc/self/mountinfo");
    let at_tmpfs = mounts
        .lines()
        .filter(|l| l.split(' ').nth(4) == Some(tmpfs.to_str().unwrap()))
        .count();
    assert_eq!(at_tmpfs, 1, "binfmtd mounted over the tmpfs: {mounts}");

    // A non-empty directory that is not a mount point: a usage error (mounting would hide its
    // files).
    let full = scratch.join("nonempty");
    std::fs::create_dir(&full).unwrap();
    std::fs::File::create(full.join("keep")).unwrap();
    let out = run_at(&env, &full, &["install", "aarch64"]);
    check_refusal(&out, &["nonempty"], 2, &["non-empty directory", "--mount"]);
    let out = run_at(&env, &full, &["plan", "aarch64"]);
    check_refusal(&out, &["plan", "nonempty"], 2, &["non-empty directory"]);
    assert!(full.join("keep").exists());

    // binfmt_misc mounted read-only (a container without --privileged): exit 1, nothing copied.
    let ro = scratch.join("ro-bm");
    std::fs::create_dir(&ro).unwrap();
    env.sh_ok(&format!(
        "mount --bind {} {ro} && mount -o remount,bind,ro {ro}",
        env.sb.mount().display(),
        ro = ro.display()
    ));
    let out = run_at(&env, &ro, &["install", "aarch64"]);
    check_refusal(&out, &["ro"], 1, &["read-only", "register"]);
    assert_unchanged(&before, &env.snapshot(), "a refused mount");
    assert!(before.store.is_none());
}

/// A user namespace mapping uids 0-65535 (so a non-root user exists in it), holding a private
/// binfmt_misc mounted at `<dir>/bm`; killed on drop.
struct MultiUser {
    holder: Child,
    dir: tempfile::TempDir,
}

impl MultiUser {
    fn new() -> MultiUser {
        let dir = tempfile::tempdir().unwrap();
        // Readable by the unprivileged user: the binary and its configuration live here.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::create_dir(dir.path().join("bm")).unwrap();
        let holder = Command::new("unshare")
            .args(["--user", "--mount", "--", "sleep", "infinity"])
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let pid = holder.id();
        let ours = std::fs::read_link("/proc/self/ns/user").unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::read_link(format!("/proc/{pid}/ns/user")).ok() == Some(ours.clone()) {
            assert!(Instant::now() < deadline, "the holder never unshared");
            std::thread::sleep(Duration::from_millis(5));
        }
        // Host root writes the maps itself (util-linux's --map-users needs newuidmap).
        for map in ["uid_map", "gid_map"] {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .open(format!("/proc/{pid}/{map}"))
                .unwrap();
            std::io::Write::write_all(&mut f, b"0 0 65536\n").unwrap();
        }
        let this = MultiUser { holder, dir };
        let out = this
            .command("mount")
            .args(["-t", "binfmt_misc", "binfmt_misc"])
            .arg(this.dir.path().join("bm"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        this
    }

    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg("-t")
            .arg(self.holder.id().to_string())
            .args(["--user", "--mount", "--"])
            .arg(program)
            .stdin(Stdio::null());
        cmd
    }
}

impl Drop for MultiUser {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

fn host_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .is_some_and(|l| l.split_whitespace().nth(2) == Some("0"))
    })
}

#[test]
fn a_non_root_user_gets_the_permission_error_with_the_privileged_hint() {
    let test = "cli_faults::non_root";
    if let Err(reason) = sandbox::support() {
        sandbox::skip(test, reason);
        return;
    }
    if !host_is_root() {
        sandbox::skip(test, "writing a multi-uid map needs root on the host");
        return;
    }
    let ns = MultiUser::new();
    let dir = ns.dir.path();
    let bin = dir.join("binfmtd");
    std::fs::copy(binfmtd(), &bin).unwrap();
    let config = dir.join("binfmtd.toml");
    let store = dir.join("store");
    std::fs::File::create(&config)
        .and_then(|mut f| {
            std::io::Write::write_all(&mut f, format!("install_dir = {store:?}\n").as_bytes())
        })
        .unwrap();
    let out = ns
        .command("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(&bin)
        .arg("-q")
        .arg("--mount")
        .arg(dir.join("bm"))
        .arg("--config")
        .arg(&config)
        .args(["install", "aarch64"])
        .output()
        .unwrap();
    let out = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    check_refusal(
        &out,
        &["non-root"],
        1,
        &[
            "permission denied",
            "register",
            "run as root",
            "--privileged",
        ],
    );
    assert!(!store.exists(), "the install directory was created");
    let entries = ns
        .command("ls")
        .arg(dir.join("bm"))
        .output()
        .unwrap()
        .stdout;
    assert_eq!(String::from_utf8_lossy(&entries).trim(), "register\nstatus");
}

#[test]
fn another_tools_same_name_entry_and_unusable_install_dirs() {
    let Some(env) = Env::new("cli_faults::owner_and_store", "") else {
        return;
    };
    let store = env.store.clone();
    let other = env.other_tool_qemu();
    let other_text = other.display().to_string();
    let distro = foreign_aarch64_line("qemu-aarch64", &other);
    env.register_by_hand(&distro);

    // Same name, someone else's, explicitly requested: a failure, nothing changed.
    refused(
        &env,
        &env.config,
        &store,
        &["install", "aarch64"],
        1,
        &["qemu-aarch64", "another tool", &other_text, "--force"],
    );
    // With `all` it is a skip, the rest is installed.
    let out = env.run(&["install", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let e = &by_name(&out.json())["qemu-aarch64"];
    assert_eq!(e["action"], "skipped", "{e}");
    assert!(env.entry_texts()["qemu-aarch64"].contains(&other_text));
    assert_eq!(env.run(&["uninstall"]).code, 0);

    // others = "replace" takes it over.
    let replace = config_with(&env, "replace.toml", "others = \"replace\"\n");
    let out = env.run_with(&replace, &["install", "aarch64", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let e = &by_name(&out.json())["qemu-aarch64"];
    assert_eq!(e["action"], "replaced", "{e}");
    assert!(
        e["reason"].as_str().unwrap().contains("another tool"),
        "{e}"
    );
    assert!(env.entry_texts()["qemu-aarch64"].contains(store.to_str().unwrap()));

    // So does `install --force`, for this run only.
    assert_eq!(env.run(&["uninstall"]).code, 0);
    env.register_by_hand(&distro);
    let out = env.run(&["install", "--force", "aarch64", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(by_name(&out.json())["qemu-aarch64"]["action"], "replaced");
    assert!(env.entry_texts()["qemu-aarch64"].contains(store.to_str().unwrap()));
    assert_eq!(env.run(&["uninstall"]).code, 0);
    assert!(env.entry_texts().is_empty());

    // A full install directory (a 1 MiB tmpfs): clear error, nothing registered.
    let small = env.sb.scratch().join("small");
    std::fs::create_dir(&small).unwrap();
    env.sh_ok(&format!(
        "mount -t tmpfs -o size=1m tmpfs {}",
        small.display()
    ));
    let full_store = small.join("store");
    let config = env.config_file("full.toml", &full_store, "");
    let out = env.run_with(&config, &["-q", "install", "aarch64"]);
    check_refusal(
        &out,
        &["full"],
        1,
        &["not enough space", "small/store", "install_dir"],
    );
    assert!(
        env.entry_texts().is_empty(),
        "registered despite a full install_dir"
    );

    // A read-only install directory, existing or to be created: clear error, nothing changed.
    let ro = env.sb.scratch().join("ro");
    std::fs::create_dir(&ro).unwrap();
    env.sh_ok(&format!(
        "mount -t tmpfs -o ro,mode=0755 tmpfs {}",
        ro.display()
    ));
    for dir in [ro.clone(), ro.join("store")] {
        let config = env.config_file("ro.toml", &dir, "");
        let before = env.snapshot_of(&dir);
        let out = env.run_with(&config, &["-q", "install", "aarch64"]);
        check_refusal(&out, &["ro"], 1, &["read-only", "install_dir"]);
        assert_unchanged(&before, &env.snapshot_of(&dir), "a read-only install_dir");
    }
    assert!(env.entry_texts().is_empty());
}
