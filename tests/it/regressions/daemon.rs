//! Bug 7 of issue 14: the daemon's back-off is per entry, only for a real fight; flushes never
//! count, and STATUS stays true.

use std::time::Duration;

use crate::daemon::{Daemon, HEAL, wait_until};

const ENTRIES: [&str; 3] = ["qemu-aarch64", "qemu-arm", "qemu-riscv64"];

/// Four rounds of removing every entry one by one (12 restorations, each entry only 4 times:
/// no entry is fought over) are all restored; then 20 flushes in a row are all healed, and
/// STATUS still says three emulators and no back-off.
#[test]
fn bug7_a_removal_storm_and_flushes_never_trip_the_back_off() {
    let Some(mut d) = Daemon::start("regressions::bug7_storm", &[], &[]) else {
        return;
    };
    let ready = d.notification();
    assert!(ready.contains("READY=1\n"), "{ready:?}");
    let m = d.sb.mount().display().to_string();
    for round in 0..4 {
        for name in ENTRIES {
            d.sh(&format!("echo -1 > {m}/{name}"));
            wait_until(
                HEAL,
                &format!("round {round}: restore {name}"),
                || d.log_text(),
                || d.ours(name),
            );
        }
    }
    for flush in 0..20 {
        d.sh(&format!("echo -1 > {m}/status"));
        wait_until(
            HEAL,
            &format!("heal flush {flush}"),
            || d.log_text(),
            || d.all_ours(),
        );
    }
    // The last STATUS= (sent after a change settles) is still the truth.
    std::thread::sleep(Duration::from_secs(1));
    let log = d.log_text();
    assert!(
        !log.contains("leaving it alone") && !log.contains("backoff"),
        "the storm tripped the back-off:\n{log}"
    );
    assert!(d.all_ours());
}

/// A real fight over one entry (removed 8 times in a row) backs off that entry only: the others
/// are still restored while it waits.
#[test]
fn bug7_a_fight_over_one_entry_backs_off_that_entry_only() {
    let Some(mut d) = Daemon::start("regressions::bug7_fight", &[], &[]) else {
        return;
    };
    let ready = d.notification();
    assert!(ready.contains("READY=1\n"), "{ready:?}");
    let m = d.sb.mount().display().to_string();
    for i in 0..8 {
        // Once the daemon backs off, the entry stays removed: a write to a missing entry
        // would try to create a file under binfmt_misc (EACCES), so only remove what is there.
        d.sh(&format!("[ ! -e {m}/qemu-arm ] || echo -1 > {m}/qemu-arm"));
        if i < 5 {
            wait_until(
                HEAL,
                "restore qemu-arm",
                || d.log_text(),
                || d.ours("qemu-arm"),
            );
        } else {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    // qemu-arm is being fought over; the others are still healed at once.
    for name in ["qemu-aarch64", "qemu-riscv64"] {
        d.sh(&format!("echo -1 > {m}/{name}"));
        wait_until(
            HEAL,
            &format!("restore {name}"),
            || d.log_text(),
            || d.ours(name),
        );
    }
    // STATUS says which entry is held back and what is really registered.
    let status = (0..20)
        .map(|_| d.notification())
        .find(|n| n.contains("backing off"))
        .unwrap_or_default();
    assert!(
        status.contains("backing off: arm") || status.contains("backing off: qemu-arm"),
        "{:?}",
        d.seen
    );
}
