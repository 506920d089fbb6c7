//! Issue 14's "also make clear" list: each case gives one line on stderr, the right exit code,
//! and names the fix. Every case runs the built binary in a private binfmt_misc instance.
#![allow(clippy::unwrap_used)] // Tests may unwrap, as the helpers do.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::cli_env::{Env, Run};

/// Asserts exit `code`, exactly one stderr line, an `error:` line containing every needle (any
/// case) and none of `absent`.
fn one_line(out: &Run, what: &str, code: i32, needles: &[&str], absent: &[&str]) {
    assert_eq!(out.code, code, "{what}: {out:?}");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{what}: one line: {out:?}");
    let line = lines[0].to_lowercase();
    assert!(line.starts_with("error:"), "{what}: {out:?}");
    for needle in needles {
        assert!(
            line.contains(&needle.to_lowercase()),
            "{what}: {needle:?} not in {line:?}"
        );
    }
    for word in absent {
        assert!(
            !line.contains(&word.to_lowercase()),
            "{what}: {word:?} in {line:?}"
        );
    }
}

fn env(test: &str) -> Option<Env> {
    Env::new(&format!("messages::{test}"), "")
}

#[test]
fn a_non_utf8_config_names_the_line_not_permissions() {
    let Some(env) = env("non_utf8") else { return };
    let config = env.sb.scratch().join("latin1.toml");
    std::fs::write(&config, b"targets = [\"aarch64\"]\n# caf\xe9\n").unwrap();
    let out = env.run_with(&config, &["-q", "plan"]);
    one_line(
        &out,
        "non-UTF-8",
        2,
        &["latin1.toml", "line 2", "utf-8"],
        &["permission"],
    );
}

#[test]
fn a_fifo_as_config_is_refused_without_hanging() {
    let Some(env) = env("fifo") else { return };
    let fifo = env.sb.scratch().join("fifo.toml");
    env.sh_ok(&format!("mkfifo {}", fifo.display()));
    let start = Instant::now();
    let mut child = env
        .command_with(&fifo, &["-q", "plan"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("binfmtd --config FIFO hangs");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = Run::from_output(child.wait_with_output().unwrap());
    one_line(&out, "FIFO", 2, &["fifo.toml", "not a regular file"], &[]);
}

#[test]
fn a_huge_config_is_refused_by_its_size() {
    let Some(env) = env("huge") else { return };
    let huge = env.sb.scratch().join("huge.toml");
    let file = std::fs::File::create(&huge).unwrap();
    file.set_len(64 << 20).unwrap();
    let out = env.run_with(&huge, &["-q", "plan"]);
    one_line(&out, "huge", 2, &["huge.toml", "too large"], &[]);
}

#[test]
fn install_of_an_empty_word_is_a_usage_error() {
    let Some(env) = env("empty_word") else { return };
    let before = env.snapshot();
    let out = env.run(&["-q", "install", ""]);
    one_line(&out, "install \"\"", 2, &["empty"], &[]);
    assert_eq!(before, env.snapshot(), "nothing changed");
}

#[test]
fn install_check_is_refused_and_installs_nothing() {
    let Some(env) = env("install_check") else {
        return;
    };
    let before = env.snapshot();
    let out = env.run(&["-q", "install", "--check", "aarch64"]);
    one_line(&out, "install --check", 2, &["--check", "plan"], &[]);
    assert_eq!(before, env.snapshot(), "nothing installed");
}

#[test]
fn plan_persist_is_refused() {
    let Some(env) = env("plan_persist") else {
        return;
    };
    let out = env.run(&["-q", "plan", "--persist", "aarch64"]);
    one_line(&out, "plan --persist", 2, &["--persist", "install"], &[]);
}

#[test]
fn a_missing_or_relative_mount_is_a_usage_error() {
    let Some(env) = env("bad_mount") else { return };
    for mount in ["/nonexistent/binfmt_misc", "relative/binfmt_misc"] {
        let out = Run::from_output(
            env.sb
                .command(binfmtd_tests::bin::binfmtd())
                .args(["-q", "--config"])
                .arg(&env.config)
                .args(["--mount", mount, "install", "aarch64"])
                .output()
                .unwrap(),
        );
        one_line(&out, mount, 2, &[mount, "--mount"], &[]);
        assert!(
            !std::path::Path::new("/nonexistent").exists(),
            "{mount}: created a directory"
        );
    }
}

#[test]
fn a_tmpfs_as_mount_is_named_without_advising_to_unmount_run() {
    let Some(env) = env("tmpfs_mount") else {
        return;
    };
    let dir = env.sb.scratch().join("not-binfmt");
    env.sh_ok(&format!(
        "mkdir -p {d} && mount -t tmpfs tmpfs {d}",
        d = dir.display()
    ));
    let out = Run::from_output(
        env.sb
            .command(binfmtd_tests::bin::binfmtd())
            .args(["-q", "--config"])
            .arg(&env.config)
            .arg("--mount")
            .arg(&dir)
            .args(["install", "aarch64"])
            .output()
            .unwrap(),
    );
    one_line(
        &out,
        "tmpfs",
        2,
        &[&dir.display().to_string(), "not binfmt_misc"],
        &["umount /run", "unmount /run"],
    );
}

#[test]
fn uninstall_of_an_unknown_word_is_a_usage_error() {
    let Some(env) = env("uninstall_unknown") else {
        return;
    };
    let out = env.run(&["-q", "uninstall", "aarch46"]);
    one_line(&out, "uninstall aarch46", 2, &["aarch46"], &[]);
}

#[test]
fn exec_without_a_command_exits_125() {
    let Some(env) = env("exec_nothing") else {
        return;
    };
    let out = env.run(&["-q", "exec"]);
    assert_eq!(out.code, 125, "{out:?}");
    assert!(out.stderr.lines().count() <= 3, "{out:?}");
    assert!(out.stderr.to_lowercase().contains("command"), "{out:?}");
}

#[test]
fn exec_of_a_native_target_says_it_runs_natively() {
    let Some(env) = env("exec_native") else {
        return;
    };
    let native = binfmtd_tests::fixtures::HOST_NATIVE[0];
    let out = env.run(&["-q", "exec", "-t", native, "--", "true"]);
    one_line(&out, "exec -t native", 125, &[native, "natively"], &[]);
}

#[test]
fn a_read_only_mount_is_said_once_and_fills_no_store() {
    let Some(env) = env("read_only") else { return };
    let m = env.sb.mount().display().to_string();
    env.sh_ok(&format!("mount -o remount,bind,ro {m}"));
    let out = env.run(&["-q", "install", "aarch64", "arm", "riscv64"]);
    one_line(&out, "read-only", 1, &["read-only"], &[]);
    said_once_and_no_store(&env, &out);
}

#[test]
fn the_daemon_on_a_read_only_mount_says_it_once_and_fills_no_store() {
    let Some(env) = env("daemon_read_only") else {
        return;
    };
    let m = env.sb.mount().display().to_string();
    env.sh_ok(&format!("mount -o remount,bind,ro {m}"));
    let config = env.config_file(
        "daemon.toml",
        &env.store,
        "targets = [\"aarch64\", \"arm\", \"riscv64\"]\n",
    );
    let bin = binfmtd_tests::bin::binfmtd().display().to_string();
    let config = config.display().to_string();
    // `timeout`: a daemon that does not give up would hang the test.
    let out = env.exec(
        "timeout",
        &[
            "60", &bin, "--mount", &m, "--config", &config, "-q", "daemon",
        ],
    );
    one_line(&out, "daemon on a read-only mount", 1, &["read-only"], &[]);
    said_once_and_no_store(&env, &out);
}

/// A read-only mount: its cause said once, in a short message, and no interpreter stored.
fn said_once_and_no_store(env: &Env, out: &Run) {
    assert!(
        out.stderr.len() < 400,
        "{} bytes: {out:?}",
        out.stderr.len()
    );
    assert_eq!(
        out.stderr.to_lowercase().matches("read-only").count(),
        1,
        "{out:?}"
    );
    assert!(
        env.snapshot().store.is_none(),
        "the store was filled: {out:?}"
    );
}

/// Runs `binfmtd --mount M --config C ARGS…` inside a daemon's sandbox.
fn beside(d: &crate::daemon::Daemon, args: &[&str]) -> Run {
    Run::from_output(
        d.sb.command(binfmtd_tests::bin::binfmtd())
            .arg("--mount")
            .arg(d.sb.mount())
            .arg("--config")
            .arg(&d.config)
            .args(args)
            .output()
            .unwrap(),
    )
}

#[test]
fn install_and_uninstall_beside_a_running_daemon_say_so() {
    let Some(mut d) = crate::daemon::Daemon::start("messages::beside_daemon", &[], &[]) else {
        return;
    };
    let ready = d.notification();
    assert!(ready.contains("READY=1\n"), "{ready:?}");
    let install = beside(&d, &["install", "--flags", "F", "aarch64"]);
    assert!(
        install.stderr.contains("daemon") && install.stderr.contains("systemctl"),
        "install does not say that the daemon reverts it: {install:?}"
    );
    let uninstall = beside(&d, &["uninstall", "arm"]);
    assert!(
        uninstall.stderr.contains("daemon") && uninstall.stderr.contains("systemctl stop"),
        "uninstall does not say that the daemon puts it back: {uninstall:?}"
    );
}

#[test]
fn a_second_daemon_refuses_to_start() {
    let Some(mut d) = crate::daemon::Daemon::start("messages::second_daemon", &[], &[]) else {
        return;
    };
    let ready = d.notification();
    assert!(ready.contains("READY=1\n"), "{ready:?}");
    let start = Instant::now();
    let second = beside(&d, &["daemon"]);
    assert!(start.elapsed() < Duration::from_secs(20));
    assert_eq!(second.code, 1, "{second:?}");
    let errors: Vec<&str> = second.errors();
    assert_eq!(errors.len(), 1, "{second:?}");
    assert!(
        errors[0].contains("another binfmtd daemon") && errors[0].contains("systemctl stop"),
        "{second:?}"
    );
    assert!(
        d.child.try_wait().unwrap().is_none(),
        "the first daemon died"
    );
}

#[test]
fn an_extra_entry_overlapping_a_qemu_row_is_reported() {
    let row = elf_magic::Target::Aarch64.primary_row();
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let extra = format!(
        "targets = [\"aarch64\"]\n[[entry]]\nname = \"fex\"\nmagic = \"{}\"\nmask = \"{}\"\n\
         interpreter = \"/bin/cat\"\n",
        hex(row.magic),
        hex(row.mask)
    );
    let Some(env) = Env::new("messages::overlap", &extra) else {
        return;
    };
    let out = env.run(&["install"]);
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(
        all.contains("fex") && all.contains("overlaps"),
        "the overlap of fex with qemu-aarch64 is not reported: {out:?}"
    );
}

#[test]
fn changing_entry_prefix_migrates_or_reports_the_old_entries() {
    let Some(env) = env("entry_prefix") else {
        return;
    };
    let first = env.run(&["-q", "install", "aarch64"]);
    assert_eq!(first.code, 0, "{first:?}");
    let config = env.config_file("prefix.toml", &env.store, "entry_prefix = \"emu-\"\n");
    let second = env.run_with(&config, &["install", "aarch64"]);
    let names: Vec<String> = env.entry_texts().into_keys().collect();
    let migrated = names == ["emu-aarch64"];
    let reported = second.stderr.contains("qemu-aarch64") || second.stdout.contains("qemu-aarch64");
    assert!(
        migrated || reported,
        "the old entry is orphaned silently: {names:?} {second:?}"
    );
}

#[test]
fn changing_install_dir_migrates_or_reports_the_old_entries() {
    let Some(env) = env("install_dir") else {
        return;
    };
    let first = env.run(&["-q", "install", "aarch64"]);
    assert_eq!(first.code, 0, "{first:?}");
    let other = env.sb.scratch().join("store2");
    let config = env.config_file("dir.toml", &other, "");
    let second = env.run_with(&config, &["install", "aarch64"]);
    let texts = env.entry_texts();
    let want = format!("interpreter {}", other.join("qemu-aarch64").display());
    let migrated = texts
        .get("qemu-aarch64")
        .is_some_and(|t| t.lines().any(|l| l == want));
    let reported = second.stderr.contains(&env.store.display().to_string());
    assert!(
        migrated || reported,
        "the old entry is orphaned silently: {texts:?} {second:?}"
    );
}
