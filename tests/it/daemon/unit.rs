//! `systemd/binfmtd.service`: the keys the issue requires, and no mount namespace.

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
    // A private mount namespace would hide binfmtd's mount of binfmt_misc from the system and
    // free the entries when the service stops (see the comment in the unit).
    for key in [
        "ProtectSystem",
        "PrivateTmp",
        "PrivateDevices",
        "ProtectKernelTunables",
        "ProtectKernelModules",
        "ProtectControlGroups",
        "ReadWritePaths",
        "StateDirectory",
    ] {
        assert!(
            values(key).is_empty(),
            "{key}= gives the service a mount namespace"
        );
    }
}
