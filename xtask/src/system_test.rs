//! `cargo xtask system-test`: the unit under real systemd.
//!
//! Builds `binfmtd`, then runs `tests/system/run.sh`, which debootstraps a Debian bookworm rootfs
//! once (cached in `target/system/rootfs`), boots it with `systemd-nspawn --private-users=pick`
//! (a private binfmt_misc instance, never the host's) and checks `binfmtd.service`: READY with
//! its status line, entries registered and usable, a flush healed, reload/restart/stop, and
//! `systemd-analyze verify`. It prints the unit's `systemd-analyze security` exposure.

use anyhow::{Result, bail};
use std::path::Path;
use std::process::Command;

/// Runs the systemd test against the debug build of `binfmtd`.
pub(crate) fn run(root: &Path) -> Result<()> {
    if Command::new("systemd-nspawn")
        .arg("--version")
        .output()
        .is_err()
    {
        bail!("systemd-nspawn is missing: run tests/setup.sh (it installs systemd-container)");
    }
    super::run(root, super::cargo().args(["build", "-p", "binfmtd"]))?;
    let bin = root.join("target/debug/binfmtd");
    super::run(
        root,
        Command::new("bash").arg("tests/system/run.sh").arg(&bin),
    )
}
