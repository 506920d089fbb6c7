//! `cargo xtask ansible-test`: the Ansible role against a booted systemd container.
//!
//! Builds the `.deb` (`cargo xtask deb`, which also stages the static binary and unit the role's
//! `binary` method installs), then runs `tests/packaging/ansible.sh`: ansible-lint (production
//! profile), then for each install method check mode, a first run, an idempotent second run,
//! check mode again and a configuration change with its reload, all inside an nspawn-booted
//! Debian (the venv with ansible-core is created once, in target/).

use anyhow::Result;
use std::path::Path;
use std::process::Command;

use crate::{deb, run};

/// Builds the package and the static binary, then runs the role's test.
pub(crate) fn ansible_test(root: &Path) -> Result<()> {
    let package = deb::deb(root, crate::dist::Arch::host())?;
    run(
        root,
        Command::new("bash")
            .arg("tests/packaging/ansible.sh")
            .arg(&package),
    )
}
