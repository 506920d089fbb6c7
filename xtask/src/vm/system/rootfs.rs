//! The cached rootfs of a guest (`target/vm/system/<suite>/rootfs`), built by
//! `tests/vm-system/build-rootfs.sh` (debootstrap) and rebuilt only when its key changes: the suite,
//! the package list, the staged QEMU package and the build script itself.

use anyhow::{Context, Result, ensure};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use super::guests::Guest;
use crate::vm::apt;

/// A built rootfs and the suite's own kernel and initrd inside it.
pub(crate) struct Rootfs {
    /// The rootfs directory.
    pub(crate) dir: PathBuf,
    /// `boot/vmlinuz-<release>`.
    pub(crate) vmlinuz: PathBuf,
    /// `boot/initrd.img-<release>`.
    pub(crate) initrd: PathBuf,
    /// The kernel release, e.g. `6.1.0-41-amd64`.
    pub(crate) release: String,
}

/// The script that builds a rootfs.
const SCRIPT: &str = "tests/vm-system/build-rootfs.sh";

/// The rootfs of `guest` under `cache` (built when missing or stale); also how long that took.
pub(crate) fn prepare(root: &Path, cache: &Path, guest: &Guest) -> Result<(Rootfs, f64)> {
    let start = Instant::now();
    let base = cache.join(guest.suite);
    let dir = base.join("rootfs");
    let script =
        fs::read_to_string(root.join(SCRIPT)).with_context(|| format!("cannot read {SCRIPT}"))?;
    let key = format!(
        "{}\n{}\n{}\n{script}",
        guest.suite,
        guest.include_arg(),
        guest.qemu_package
    );
    let key_file = base.join("key");
    let fresh = fs::read_to_string(&key_file).ok().as_deref() == Some(key.as_str());
    if !(fresh && dir.join("boot").is_dir()) {
        fs::create_dir_all(&base)?;
        let _ = fs::remove_file(&key_file);
        eprintln!(
            "vm-system: building the {} rootfs (debootstrap, {})",
            guest.suite,
            guest.include_arg()
        );
        crate::run(
            root,
            Command::new("nice")
                .args(["-n", "10", "bash", SCRIPT, guest.suite])
                .arg(&dir)
                .arg(apt::mirror())
                .arg(cache.join("debootstrap-cache"))
                .arg(guest.include_arg())
                .arg(guest.qemu_package),
        )
        .with_context(|| format!("building the {} rootfs", guest.suite))?;
        fs::write(&key_file, &key)?;
    }
    let rootfs = kernel_of(&dir)?;
    Ok((rootfs, start.elapsed().as_secs_f64()))
}

/// Finds the one kernel and its initrd in `dir/boot`.
fn kernel_of(dir: &Path) -> Result<Rootfs> {
    let boot = dir.join("boot");
    let mut releases: Vec<String> = fs::read_dir(&boot)
        .with_context(|| format!("cannot read {}", boot.display()))?
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_prefix("vmlinuz-"))
                .map(str::to_string)
        })
        .collect();
    releases.sort();
    let release = releases.pop().with_context(|| {
        format!(
            "{} has no vmlinuz-*: delete {} to rebuild the rootfs",
            boot.display(),
            dir.display()
        )
    })?;
    let vmlinuz = boot.join(format!("vmlinuz-{release}"));
    let initrd = boot.join(format!("initrd.img-{release}"));
    ensure!(
        initrd.is_file(),
        "{} is missing (initramfs-tools did not run): delete {} to rebuild the rootfs",
        initrd.display(),
        dir.display()
    );
    Ok(Rootfs {
        dir: dir.to_path_buf(),
        vmlinuz,
        initrd,
        release,
    })
}
