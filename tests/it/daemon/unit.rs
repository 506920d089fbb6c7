//! `systemd/binfmtd.service`: the keys the issues require and the hardening that still lets the
//! entries be the host's (proven on booted guests by `cargo xtask vm-system`).

use binfmtd_tests::fixtures;

#[test]
fn unit_file_has_the_required_keys() {
    let path = fixtures::workspace_root().join("systemd/binfmtd.service");
    let text = std::fs::read_to_string(&path).unwrap();
    let values = |key: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .flat_map(|v| v.split_whitespace().map(str::to_string))
            .collect()
    };
    assert_eq!(values("Type"), ["notify"]);
    assert_eq!(values("ExecStart")[..2], ["/usr/bin/binfmtd", "daemon"]);
    assert_eq!(values("ExecReload"), ["/bin/kill", "-HUP", "$MAINPID"]);
    assert_eq!(values("Restart"), ["on-failure"]);
    let after = values("After");
    for unit in [
        "proc-sys-fs-binfmt_misc.automount",
        "proc-sys-fs-binfmt_misc.mount",
        "systemd-binfmt.service",
        "binfmt-support.service",
    ] {
        assert!(after.iter().any(|u| u == unit), "After= lacks {unit}");
    }
    let before = values("Before");
    for unit in ["docker.service", "containerd.service", "podman.service"] {
        assert!(before.iter().any(|u| u == unit), "Before= lacks {unit}");
    }
    assert_eq!(values("RequiresMountsFor"), ["/var/lib/binfmtd"]);
    assert_eq!(values("WantedBy"), ["multi-user.target"]);
    // Hardened with a private mount namespace: the entries belong to the *user* namespace's
    // instance, so they stay the host's; binfmt_misc must stay writable through it, and the
    // store and the masks of binfmt.d files are the only other writable places.
    assert_eq!(values("ProtectSystem"), ["strict"]);
    assert_eq!(values("StateDirectory"), ["binfmtd"]);
    let writable = values("ReadWritePaths");
    for path in [
        "/proc/sys/fs/binfmt_misc",
        "-/etc/binfmt.d",
        "-/usr/local/lib/binfmtd",
    ] {
        assert!(
            writable.iter().any(|p| p == path),
            "ReadWritePaths= lacks {path}"
        );
    }
    for key in [
        "PrivateTmp",
        "PrivateDevices",
        "ProtectKernelTunables",
        "NoNewPrivileges",
    ] {
        assert_eq!(values(key), ["yes"], "{key}=");
    }
    // QEMU is a JIT: the daemon's probes die under MemoryDenyWriteExecute=.
    assert!(values("MemoryDenyWriteExecute").is_empty());
    // The probe of i386 on x86_64 (arm on arm64) makes 32-bit system calls.
    assert_eq!(values("SystemCallArchitectures"), ["native", "x86", "arm"]);
}
