//! The daemon's main lifecycle: READY with STATUS, self-healing, EBUSY on unmount, lazy unmount,
//! no idle wake-ups, reload with a broken and with a changed configuration, SIGTERM.

use super::{Daemon, HEAL, register_line, wait_until, write_config};
use std::time::Duration;

#[test]
fn daemon_registers_heals_reloads_and_stops() {
    let Some(mut d) = Daemon::start("daemon_registers_heals_reloads_and_stops", &[], &[]) else {
        return;
    };
    let ready = d.notification();
    assert!(ready.contains("READY=1\n"), "{ready:?}");
    assert!(
        ready.contains("STATUS=3 emulators registered: aarch64, arm, riscv64\n"),
        "{ready:?}"
    );
    assert!(d.all_ours(), "registered before READY=1");
    let m = d.sb.mount().display().to_string();

    // A flush (what `systemctl restart systemd-binfmt` does) is healed.
    d.sh(&format!("echo -1 > {m}/status"));
    let took = wait_until(HEAL, "heal a flush", || d.log_text(), || d.all_ours());
    eprintln!("flush healed in {took:?}");
    // One removed, one disabled.
    d.sh(&format!("echo -1 > {m}/qemu-arm"));
    wait_until(HEAL, "heal a removal", || d.log_text(), || d.all_ours());
    d.sh(&format!("echo 0 > {m}/qemu-riscv64"));
    wait_until(HEAL, "heal a disable", || d.log_text(), || d.all_ours());
    // One replaced with a different interpreter (another of binfmtd's copies). The daemon is
    // paused meanwhile, or it would restore the entry between the removal and the registration.
    let text = d.entry("qemu-aarch64").unwrap();
    let line = register_line(&text, "qemu-aarch64", &d.store().join("qemu-arm"));
    d.signal("-STOP");
    d.sh(&format!(
        "echo -1 > {m}/qemu-aarch64 && printf '%s' '{line}' > {m}/register"
    ));
    let replaced = d.entry("qemu-aarch64").unwrap();
    d.signal("-CONT");
    assert!(replaced.contains("/qemu-arm\n"), "{replaced}");
    wait_until(HEAL, "heal a replacement", || d.log_text(), || d.all_ours());

    // The daemon's descriptor pins the instance: a plain unmount is refused.
    let out = d.sb.sh(&format!("umount {m}"));
    assert!(
        !out.status.success(),
        "umount must fail while the daemon runs"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("busy"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A lazy unmount detaches it anyway: the daemon mounts the (same, still alive) instance again.
    d.sh(&format!("umount -l {m}"));
    wait_until(
        HEAL,
        "re-mount after umount -l",
        || d.log_text(),
        || d.all_ours(),
    );

    // Idle: no wake-ups at all over a quiet period (after the one deferred run of the probes,
    // half a second after the last change, which updates STATUS=).
    std::thread::sleep(Duration::from_millis(1500));
    let before = d.switches();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(d.switches(), before, "an idle daemon must not wake up");

    // SIGHUP with a broken configuration: RELOADING=1, error logged, old state kept, READY=1.
    std::fs::write(&d.config, "targets = [\n").unwrap();
    d.signal("-HUP");
    let reloading = d.notification();
    assert!(reloading.contains("RELOADING=1\n"), "{reloading:?}");
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading:?}");
    let again = d.notification();
    assert!(again.contains("READY=1\n"), "{again:?}");
    assert!(
        d.log_text()
            .contains("reload failed, keeping the running configuration")
    );
    assert!(d.all_ours());
    // Still healing with the old configuration.
    d.sh(&format!("echo -1 > {m}/qemu-arm"));
    wait_until(
        HEAL,
        "heal after a failed reload",
        || d.log_text(),
        || d.all_ours(),
    );

    // SIGHUP with a good configuration that drops riscv64: its entry is removed, the others
    // kept, and STATUS= says so before READY=1.
    write_config(&d.config, d.sb.scratch(), "");
    let text = std::fs::read_to_string(&d.config).unwrap();
    std::fs::write(&d.config, text.replace(", \"riscv64\"]", "]")).unwrap();
    d.signal("-HUP");
    assert!(d.notification().contains("RELOADING=1\n"));
    let status = d.notification();
    assert_eq!(status, "STATUS=2 emulators registered: aarch64, arm\n");
    assert!(d.notification().contains("READY=1\n"));
    assert!(
        d.entry("qemu-riscv64").is_none(),
        "riscv64 is no longer configured"
    );
    assert!(d.ours("qemu-aarch64") && d.ours("qemu-arm"));

    // SIGTERM: STOPPING=1, exit 0, entries left registered.
    d.signal("-TERM");
    let stopping = d.notification();
    assert!(stopping.contains("STOPPING=1\n"), "{stopping:?}");
    let status = d.wait_exit();
    assert!(status.success(), "{status}; log:\n{}", d.log_text());
    let out = d.sb.sh(&format!("cat {m}/qemu-aarch64"));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("enabled\n"));
    let kinds: Vec<&str> = d
        .seen
        .iter()
        .filter_map(|n| {
            ["READY=1", "RELOADING=1", "STOPPING=1"]
                .into_iter()
                .find(|k| n.lines().any(|l| l == *k))
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "READY=1",
            "RELOADING=1",
            "READY=1",
            "RELOADING=1",
            "READY=1",
            "STOPPING=1"
        ]
    );
}
