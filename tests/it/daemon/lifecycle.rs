//! Interpreter upgrades, other tools' entries and the loop guard, the watchdog, `--remove-on-stop`
//! and a failed start.

use super::{Daemon, HEAL, register_line, sha256, wait_until};
use binfmtd_tests::{bin, fixtures};
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

#[test]
fn daemon_replaces_an_upgraded_interpreter() {
    let Some(mut d) = Daemon::start("daemon_replaces_an_upgraded_interpreter", &[], &[]) else {
        return;
    };
    assert!(d.notification().contains("READY=1"));
    let before = d.entry_inode("qemu-aarch64").unwrap();
    // What a package manager does: write the new build beside the old one, rename it into place.
    let src = d.sb.scratch().join("src");
    let new = src.join(".new");
    std::fs::copy(src.join("qemu-aarch64-static"), &new).unwrap();
    let mut bytes = std::fs::read(&new).unwrap();
    bytes.extend_from_slice(b"binfmtd upgrade test");
    std::fs::write(&new, &bytes).unwrap();
    let digest = sha256(&new);
    std::fs::rename(&new, src.join("qemu-aarch64-static")).unwrap();
    // The store shares the sources' filesystem: the new build is linked, and the kernel then
    // pins its inode.
    let new_inode = std::fs::metadata(src.join("qemu-aarch64-static"))
        .unwrap()
        .ino();
    let registrations = d.store().join("registrations.json");
    let pinned = || {
        let text = std::fs::read_to_string(&registrations).unwrap_or_default();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        json["entries"]["qemu-aarch64"]["file"]["ino"] == new_inode
    };
    wait_until(HEAL, "pick up the upgrade", || d.log_text(), pinned);
    wait_until(
        HEAL,
        "entry re-registered",
        || d.log_text(),
        || d.entry_inode("qemu-aarch64").is_some_and(|i| i != before) && d.ours("qemu-aarch64"),
    );
    assert_eq!(sha256(&d.store().join("qemu-aarch64")), digest);
    let log = d.log_text();
    assert!(log.contains("interpreter sources changed"), "{log}");
    assert!(
        log.contains("old_version=\"7."),
        "old and new versions are logged: {log}"
    );
    // The other entries were left alone, and the new build runs foreign binaries.
    assert!(d.all_ours());
    let busybox = fixtures::foreign_binaries()
        .into_iter()
        .find(|b| b.target.as_deref() == Some("aarch64") && b.kind == fixtures::Kind::Busybox)
        .unwrap();
    let out =
        d.sb.command(&busybox.path)
            .args(["uname", "-m"])
            .output()
            .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "aarch64");
}

#[test]
fn daemon_leaves_other_tools_alone_and_backs_off_a_fight() {
    let Some(mut d) = Daemon::start(
        "daemon_leaves_other_tools_alone_and_backs_off_a_fight",
        &[],
        &[],
    ) else {
        return;
    };
    assert!(d.notification().contains("READY=1"));
    let m = d.sb.mount().display().to_string();
    // Another tool's entry for the same files, under its own name: left alone (others =
    // "leave"), even while the daemon restores its own entries around it.
    let text = d.entry("qemu-arm").unwrap();
    // Not a distribution path (those are adopted): another tool's own copy.
    let foreign = d.sb.scratch().join("other-tool-qemu-arm");
    std::fs::copy(fixtures::qemu_static("arm"), &foreign).unwrap();
    let line = register_line(&text, "other-arm", &foreign);
    d.sh(&format!(
        "printf '%s' '{line}' > {m}/register && echo -1 > {m}/qemu-riscv64"
    ));
    wait_until(
        HEAL,
        "heal next to another tool",
        || d.log_text(),
        || d.all_ours(),
    );
    std::thread::sleep(Duration::from_millis(100));
    let other = d.entry("other-arm").unwrap_or_default();
    assert!(
        other.starts_with("enabled\n")
            && other.contains(&format!("interpreter {}", foreign.display())),
        "the other tool's entry must be left alone: {other:?}"
    );

    // Someone keeps removing qemu-aarch64: after a few restorations the daemon backs off and
    // says so in STATUS=, then restores once the fight is over.
    d.sh(&format!(
        "end=$(($(date +%s%N) + 10000000000)); \
         while [ $(date +%s%N) -lt $end ] && ! grep -q 'backing off' {log}; do \
         [ -e {m}/qemu-aarch64 ] && echo -1 > {m}/qemu-aarch64 2>/dev/null; sleep 0.02; done; \
         echo -1 > {m}/qemu-aarch64 2>/dev/null; true",
        log = d.log.display()
    ));
    let status = d.notification();
    assert!(status.contains("backing off: qemu-aarch64"), "{status:?}");
    let log = d.log_text();
    assert!(log.contains("backing off"), "{log}");
    let restored = log
        .lines()
        .filter(|l| l.contains("converged") && l.contains("qemu-aarch64"))
        .count();
    assert!(
        restored <= 8,
        "the guard must stop the fight early: {restored} restorations"
    );
    // Removed once more during the back-off: left alone for now, restored when it ends.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        d.entry("qemu-aarch64").is_none(),
        "restored during the back-off"
    );
    wait_until(
        Duration::from_secs(10),
        "restore after the back-off",
        || d.log_text(),
        || d.ours("qemu-aarch64"),
    );
}

#[test]
fn daemon_watchdog_remove_on_stop_and_start_failure() {
    let test = "daemon_watchdog_remove_on_stop_and_start_failure";
    let Some(mut d) = Daemon::start(test, &["--remove-on-stop"], &[("WATCHDOG_USEC", "200000")])
    else {
        return;
    };
    assert!(d.notification().contains("READY=1"));
    // WatchdogSec= set: WATCHDOG=1 every half period (and only then is there a timer).
    let start = Instant::now();
    for _ in 0..3 {
        assert_eq!(d.notification(), "WATCHDOG=1\n");
    }
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(5),
        "3 watchdog pings at 100 ms intervals took {took:?}"
    );
    d.signal("-TERM");
    assert!(d.notification().contains("STOPPING=1"));
    assert!(d.wait_exit().success());
    let m = d.sb.mount().display().to_string();
    let out = d.sb.sh(&format!("ls {m}"));
    let left = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        left.split_whitespace().collect::<Vec<_>>(),
        ["register", "status"]
    );

    // An explicitly requested target without an interpreter: exit 1 at once, no READY=1.
    let scratch = d.sb.scratch();
    let text = format!(
        "targets = [\"aarch64\", \"s390x\"]\ninterpreter_dirs = [\"{}\"]\n\
         install_dir = \"{}\"\n[target.s390x]\ninterpreter = \"{}\"\n",
        scratch.join("src").display(),
        scratch.join("store").display(),
        scratch.join("missing/qemu-s390x").display()
    );
    std::fs::write(&d.config, text).unwrap();
    let start = Instant::now();
    let out =
        d.sb.command(bin::binfmtd())
            .arg("daemon")
            .arg("--mount")
            .arg(d.sb.mount())
            .arg("--config")
            .arg(&d.config)
            .arg("-q")
            .env("NOTIFY_SOCKET", d.sb.scratch().join("notify.sock"))
            .output()
            .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(start.elapsed() < Duration::from_secs(15));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: the first registration failed"),
        "{stderr}"
    );
    assert!(stderr.contains("qemu-s390x"), "{stderr}");
    d.sock.set_nonblocking(true).unwrap();
    assert!(
        d.sock.recv(&mut [0u8; 64]).is_err(),
        "no notification after a failed start"
    );
}

/// Debian 13's QEMU upgrade: dpkg replaces the interpreters (the daemon starts preparing them
/// again: `--version`, and for a store on another filesystem a digest and a copy), and a moment
/// later its trigger restarts systemd-binfmt, which flushes every entry. The flush must be
/// restored at once from the store's current files, not after the slow re-preparation (seconds
/// for a big build on a loaded host).
#[test]
fn a_flush_during_a_slow_upgrade_is_restored_at_once() {
    // The store on its own filesystem: the new build is digested and copied, which is slow.
    let store_on_tmpfs = |sb: &binfmtd_tests::sandbox::Sandbox| {
        let out = sb.sh(&format!(
            "mkdir -p {d} && mount -t tmpfs -o size=2g,mode=0755 tmpfs {d}",
            d = sb.scratch().join("store").display()
        ));
        assert!(out.status.success(), "{out:?}");
    };
    let Some(mut d) = Daemon::start_after(
        "a_flush_during_a_slow_upgrade_is_restored_at_once",
        &[],
        &[],
        store_on_tmpfs,
    ) else {
        return;
    };
    assert!(d.notification().contains("READY=1"));
    // A new build that takes seconds to digest and copy: the real one with 1 GiB of (sparse)
    // padding.
    let src = d.sb.scratch().join("src");
    let new = src.join(".new");
    std::fs::copy(src.join("qemu-aarch64-static"), &new).unwrap();
    let file = std::fs::OpenOptions::new().write(true).open(&new).unwrap();
    file.set_len(file.metadata().unwrap().len() + (1 << 30))
        .unwrap();
    drop(file);
    std::fs::rename(&new, src.join("qemu-aarch64-static")).unwrap();
    // The daemon logs `trigger="interpreter upgrade"` when it re-registers the new build.
    let upgraded = || d.log_text().contains("interpreter upgrade");
    // The re-preparation starts 300 ms after the last change; flush while it runs.
    wait_until(
        HEAL,
        "the change is seen",
        || d.log_text(),
        || d.log_text().contains("interpreter sources changed"),
    );
    std::thread::sleep(Duration::from_millis(600));
    assert!(
        !upgraded(),
        "the upgrade finished before the flush: the test needs a slower build; log:\n{}",
        d.log_text()
    );
    let m = d.sb.mount().display().to_string();
    d.sh(&format!("echo -1 > {m}/status"));
    let took = wait_until(
        Duration::from_secs(1),
        "restore the flush while the upgrade is prepared",
        || d.log_text(),
        || d.all_ours(),
    );
    assert!(
        !upgraded(),
        "restored ({took:?}), but only after the upgrade was done; log:\n{}",
        d.log_text()
    );
    // And the upgrade still lands afterwards.
    wait_until(
        Duration::from_secs(60),
        "pick up the upgrade",
        || d.log_text(),
        || d.log_text().contains("interpreter upgrade") && d.all_ours(),
    );
}
