//! Regressions found in review: one blocked entry must not keep the others unrestored, and the
//! loop guard must trip on a fight over the only entry the daemon manages.

use super::{Daemon, HEAL, register_line, wait_until};
use std::time::Duration;

#[test]
fn another_tools_entry_under_one_name_does_not_block_the_others() {
    let Some(mut d) = Daemon::start("daemon_review_blocked_name", &[], &[]) else {
        return;
    };
    assert!(d.notification().contains("READY=1\n"));
    let m = d.sb.mount().display().to_string();
    // While the daemon is paused: a flush, then another tool takes the name qemu-aarch64 (as
    // `systemctl restart systemd-binfmt` does with Debian's qemu-aarch64.conf).
    let text = d.entry("qemu-aarch64").unwrap();
    let foreign = d.sb.scratch().join("src/qemu-aarch64-static");
    let line = register_line(&text, "qemu-aarch64", &foreign);
    d.signal("-STOP");
    d.sh(&format!(
        "echo -1 > {m}/status && printf '%s' '{line}' > {m}/register"
    ));
    d.signal("-CONT");
    wait_until(
        HEAL,
        "restore the entries that are not blocked",
        || d.log_text(),
        || d.ours("qemu-arm") && d.ours("qemu-riscv64"),
    );
    let kept = d.entry("qemu-aarch64").unwrap();
    assert!(
        kept.contains(&format!("interpreter {}\n", foreign.display())),
        "the other tool's entry is left alone: {kept}"
    );
}

#[test]
fn the_loop_guard_trips_on_a_fight_over_the_only_entry() {
    let Some(mut d) = Daemon::start("daemon_review_single_entry_fight", &[], &[]) else {
        return;
    };
    assert!(d.notification().contains("READY=1\n"));
    // Reload with one target only.
    let dir = d.sb.scratch().to_path_buf();
    std::fs::write(
        &d.config,
        format!(
            "targets = [\"aarch64\"]\ninterpreter_dirs = [\"{}\"]\ninstall_dir = \"{}\"\n",
            dir.join("src").display(),
            dir.join("store").display()
        ),
    )
    .unwrap();
    d.signal("-HUP");
    wait_until(
        HEAL,
        "reload to one target",
        || d.log_text(),
        || d.entry("qemu-arm").is_none() && d.ours("qemu-aarch64"),
    );
    let m = d.sb.mount().display().to_string();
    d.sh(&format!(
        "end=$(($(date +%s%N) + 10000000000)); \
         while [ $(date +%s%N) -lt $end ] && ! grep -q 'backing off' {log}; do \
         [ -e {m}/qemu-aarch64 ] && echo -1 > {m}/qemu-aarch64 2>/dev/null; sleep 0.02; done; true",
        log = d.log.display()
    ));
    assert!(d.log_text().contains("backing off"), "{}", d.log_text());
    std::thread::sleep(Duration::from_millis(100));
}
