//! The disk a guest boots: the cached rootfs plus the scenario (`tests/vm-system/` → `/vmsys`),
//! its unit, the binfmtd .deb, a non-QEMU binfmt.d entry and an arm64 chroot without QEMU, written
//! into a fresh ext4 image with `mkfs.ext4 -d` (no loop mount). Every run starts from a new disk.

use anyhow::{Context, Result, ensure};
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The image size (sparse): the rootfs (≈1.3 GB) plus binfmtd's store and the staged packages.
const SIZE: &str = "3G";

/// What goes into a guest besides the rootfs.
pub(crate) struct Stage<'a> {
    /// `tests/vm-system`.
    pub(crate) scenario: &'a Path,
    /// `binfmtd_<version>_amd64.deb`.
    pub(crate) deb: &'a Path,
    /// A static arm64 busybox (the chroot at `/srv/arm64`).
    pub(crate) busybox_arm64: &'a Path,
}

/// Writes `stage` into `rootfs` (replacing the previous run's files) and builds `image` from it.
pub(crate) fn build(rootfs: &Path, stage: &Stage<'_>, image: &Path) -> Result<PathBuf> {
    let vmsys = rootfs.join("vmsys");
    if vmsys.exists() {
        fs::remove_dir_all(&vmsys)?;
    }
    fs::create_dir_all(&vmsys)?;
    for entry in fs::read_dir(stage.scenario)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.ends_with(".sh") && name != "build-rootfs.sh" {
            copy(&path, &vmsys.join(name), 0o755)?;
        }
    }
    let deb_name = stage
        .deb
        .file_name()
        .context("the binfmtd package has no file name")?;
    copy(stage.deb, &vmsys.join(deb_name), 0o644)?;

    let units = rootfs.join("etc/systemd/system");
    copy(
        &stage.scenario.join("vmsys.service"),
        &units.join("vmsys.service"),
        0o644,
    )?;
    let wants = units.join("multi-user.target.wants");
    fs::create_dir_all(&wants)?;
    let link = wants.join("vmsys.service");
    if fs::symlink_metadata(&link).is_err() {
        symlink("/etc/systemd/system/vmsys.service", &link)?;
    }
    let binfmt_d = rootfs.join("etc/binfmt.d");
    fs::create_dir_all(&binfmt_d)?;
    copy(
        &stage.scenario.join("vmsys-shx.conf"),
        &binfmt_d.join("vmsys-shx.conf"),
        0o644,
    )?;
    let chroot_bin = rootfs.join("srv/arm64/bin");
    fs::create_dir_all(&chroot_bin)?;
    copy(stage.busybox_arm64, &chroot_bin.join("busybox"), 0o755)?;
    let phase = rootfs.join("var/lib/vmsys");
    if phase.exists() {
        fs::remove_dir_all(&phase)?;
    }

    if image.exists() {
        fs::remove_file(image)?;
    }
    let status = Command::new("mkfs.ext4")
        .args(["-q", "-F", "-L", "root", "-d"])
        .arg(rootfs)
        .arg(image)
        .arg(SIZE)
        .status()
        .context("cannot run mkfs.ext4 (apt-get install e2fsprogs)")?;
    ensure!(
        status.success(),
        "mkfs.ext4 -d {} {} failed",
        rootfs.display(),
        image.display()
    );
    Ok(image.to_path_buf())
}

fn copy(from: &Path, to: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::copy(from, to)
        .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    fs::set_permissions(to, fs::Permissions::from_mode(mode))?;
    Ok(())
}
