//! A storm of flushes on a loaded host (issue 14, bug 7): 20 `echo -1 > status` in 10 s are
//! ordinary flushes, never a fight. The kernel reports a flush's removals before the write to
//! `status`; a daemon that wakes in between must not count the removals as another tool's.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{Daemon, HEAL, wait_until};

/// Entries of other tools registered before each flush.
const OTHERS: usize = 200;

/// Busy loops on every CPU, killed on drop: the "loaded host".
struct Load(Vec<std::process::Child>);

impl Load {
    fn start() -> Load {
        let cpus = std::thread::available_parallelism().map_or(2, usize::from);
        Load(
            (0..cpus)
                .map(|_| {
                    Command::new("sh")
                        .args(["-c", "while :; do :; done"])
                        .stdin(Stdio::null())
                        .spawn()
                        .unwrap()
                })
                .collect(),
        )
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn a_storm_of_flushes_on_a_loaded_host_never_backs_off() {
    let Some(mut d) = Daemon::start("daemon_flush_storm", &[], &[]) else {
        return;
    };
    assert!(d.notification().contains("READY=1\n"));
    let m = d.sb.mount().display().to_string();
    let load = Load::start();
    // Other tools' entries, as on a host with several managers: a flush removes them all, one
    // removal event each, so the daemon is likely to wake before the write to `status` is
    // reported (the window this test is about).
    let others = format!(
        "i=0; while [ $i -lt {OTHERS} ]; do i=$((i+1)); \
         echo \":storm$i:E::st$i::/bin/cat:\" > {m}/register; done"
    );
    // 20 flushes in 10 s, each one after the table was restored (as `systemctl restart
    // systemd-binfmt` in a loop would), then 5 more as fast as the shell goes.
    let start = Instant::now();
    for i in 0..20 {
        d.sh(&format!("{others}; echo -1 > {m}/status"));
        wait_until(
            HEAL,
            &format!("restore after flush {i}"),
            || d.log_text(),
            || d.all_ours(),
        );
        let next = start + Duration::from_millis(500 * (i + 1));
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    d.sh(&format!(
        "for i in 1 2 3 4 5; do echo -1 > {m}/status; done"
    ));
    wait_until(
        HEAL,
        "restore after the burst",
        || d.log_text(),
        || d.all_ours(),
    );
    drop(load);
    // Settled: every entry is back and no back-off was ever logged or announced.
    std::thread::sleep(Duration::from_millis(300));
    assert!(d.all_ours(), "{}", d.log_text());
    let log = d.log_text();
    assert!(
        !log.contains("backing off") && !log.contains("leaving it alone"),
        "a flush storm was taken for a fight:\n{log}"
    );
    // STATUS= stays true: the last one names all three emulators, none held.
    d.sock
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 4096];
    while let Ok(n) = d.sock.recv(&mut buf) {
        d.seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    let last = d
        .seen
        .iter()
        .rev()
        .find(|s| s.contains("STATUS="))
        .cloned()
        .unwrap_or_default();
    assert!(
        last.contains("STATUS=3 emulators registered") && !last.contains("backing off"),
        "{last:?}; every notification: {:?}",
        d.seen
    );
    // The guard still works after the storm: it is flushes only that are never counted.
    d.sh(&format!(
        "end=$(($(date +%s%N) + 10000000000)); \
         while [ $(date +%s%N) -lt $end ] && ! grep -q 'backing off' {log}; do \
         [ -e {m}/qemu-arm ] && echo -1 > {m}/qemu-arm 2>/dev/null; sleep 0.02; done; true",
        log = d.log.display()
    ));
    assert!(d.log_text().contains("backing off"), "{}", d.log_text());
}
