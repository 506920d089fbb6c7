//! Gathers what the selected cells need and builds their initramfs: static binfmtd builds, Debian
//! kernels, busybox, QEMU user-mode interpreters and the foreign fixtures.
//!
//! Interpreters per guest:
//! - amd64: bookworm's `qemu-user-static`, as the machine has it (`/usr/bin/qemu-<t>-static`,
//!   installed by `tests/setup.sh`; on a machine that is not x86-64, the amd64 package unpacked
//!   from the private apt configuration), for every target the fixtures cover plus x86_64 and i386
//!   (which `install all` must skip as native); loongarch64 from sid's `qemu-user`, as the host
//!   tests do (bookworm's 7.2 cannot run current loong64 binaries), as `/usr/local/bin/qemu-loongarch64`.
//! - arm64: trixie's arm64 `qemu-user` (static binaries named `qemu-<t>`): x86_64, i386, arm,
//!   and aarch64 (which must be skipped as native).

use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::apt::{self, Apt};
use super::cells::{BOOKWORM, Cell, Suite, TRIXIE};
use super::cpio::Writer;
use super::guest::{self, Guest};
use super::kernel::{self, Kernel};
use super::qemu::{GuestArch, Machine};
use crate::dist::{self, Arch};

/// The interpreters of trixie's arm64 `qemu-user` that go into the arm64 guest.
const ARM64_INTERPRETERS: [&str; 4] = ["x86_64", "i386", "arm", "aarch64"];

/// Everything the cells boot from.
pub(crate) struct Prepared {
    /// Kernels by (suite name, Debian architecture).
    kernels: BTreeMap<(&'static str, &'static str), Kernel>,
    /// The initramfs of each guest architecture.
    initramfs: BTreeMap<&'static str, PathBuf>,
    /// A static busybox per guest architecture (for the KVM trial).
    busybox: BTreeMap<&'static str, PathBuf>,
    /// Where consoles are written.
    pub(crate) log_dir: PathBuf,
    /// `target/vm`.
    cache: PathBuf,
}

/// Downloads, builds and caches everything `cells` need.
pub(crate) fn prepare(root: &Path, cells: &[Cell]) -> Result<Prepared> {
    let cache = root.join("target/vm");
    let fixtures_dir = fixtures_dir(root);
    if !fixtures_dir.join("manifest.tsv").is_file() {
        crate::run(
            root,
            std::process::Command::new("bash").arg("tests/fixtures.sh"),
        )?;
    }
    let fixtures = guest::manifest(&fixtures_dir)?;
    let mut apts: BTreeMap<&'static str, Apt> = BTreeMap::new();
    let mut open = |suite: Suite| -> Result<()> {
        if !apts.contains_key(suite.name) {
            apts.insert(
                suite.name,
                Apt::open(&cache, suite.name, suite.suites, suite.arches)?,
            );
        }
        Ok(())
    };
    open(BOOKWORM)?;
    for cell in cells {
        open(cell.suite)?;
    }
    let arches: Vec<GuestArch> = [GuestArch::Amd64, GuestArch::Arm64]
        .into_iter()
        .filter(|a| cells.iter().any(|c| c.arch == *a))
        .collect();
    if arches.contains(&GuestArch::Arm64) {
        open(TRIXIE)?;
    }
    let apt_of = |suite: &str| {
        apts.get(suite)
            .context("internal: apt configuration not opened")
    };

    let mut kernels = BTreeMap::new();
    for cell in cells {
        let key = (cell.suite.name, cell.arch.debian());
        if let std::collections::btree_map::Entry::Vacant(slot) = kernels.entry(key) {
            let k = kernel::fetch(apt_of(cell.suite.name)?, &cache, cell.arch.debian())
                .with_context(|| format!("the {} kernel", cell.key()))?;
            eprintln!(
                "vm: {} kernel {} ({})",
                cell.key(),
                k.release,
                k.vmlinuz.display()
            );
            slot.insert(k);
        }
    }
    let bookworm = apt_of(BOOKWORM.name)?;
    let busybox = static_busyboxes(bookworm, &cache)?;

    let mut initramfs = BTreeMap::new();
    for arch in arches {
        let guest = match arch {
            GuestArch::Amd64 => Guest {
                busybox: busybox["amd64"].clone(),
                binfmtd: dist::dist(root, Arch::X86_64)?,
                kernels: kernels_of(&kernels, "amd64"),
                interpreters: guest::amd64_interpreters(
                    &fixtures,
                    &fixtures_dir,
                    &amd64_qemu_root(bookworm, &cache)?,
                )?,
                fixtures: fixtures.clone(),
                scenario: root.join("tests/vm"),
            },
            GuestArch::Arm64 => {
                let trixie = apt_of(TRIXIE.name)?;
                let debs = trixie.download(&["qemu-user:arm64".to_string()])?;
                let deb = debs.first().context("qemu-user:arm64 was not downloaded")?;
                let qemu = cache.join("pkg/qemu-user_arm64");
                let names = ARM64_INTERPRETERS.map(|t| format!("./usr/bin/qemu-{t}"));
                let stamp = qemu.join(".done");
                if std::fs::read_to_string(&stamp).ok().as_deref() != Some(&*deb.to_string_lossy())
                {
                    let patterns: Vec<&str> = names.iter().map(String::as_str).collect();
                    apt::extract(deb, &qemu, &patterns)?;
                    std::fs::write(&stamp, deb.to_string_lossy().as_bytes())?;
                }
                let interpreters = ARM64_INTERPRETERS
                    .iter()
                    .map(|t| {
                        (
                            format!("usr/bin/qemu-{t}"),
                            qemu.join(format!("usr/bin/qemu-{t}")),
                        )
                    })
                    .collect();
                Guest {
                    busybox: busybox["arm64"].clone(),
                    binfmtd: dist::dist(root, Arch::Aarch64)?,
                    kernels: kernels_of(&kernels, "arm64"),
                    interpreters,
                    fixtures: guest::arm64_fixtures(&fixtures, &busybox["amd64"])?,
                    scenario: root.join("tests/vm"),
                }
            }
        };
        let out = cache.join(format!("initramfs-{}.cpio", arch.debian()));
        guest.write(&out)?;
        let size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
        eprintln!("vm: {} ({} MB)", out.display(), size >> 20);
        initramfs.insert(arch.debian(), out);
    }
    Ok(Prepared {
        kernels,
        initramfs,
        busybox,
        log_dir: cache.join("logs"),
        cache,
    })
}

impl Prepared {
    /// A file directly under `target/vm`.
    pub(crate) fn cache_file(&self, name: &str) -> PathBuf {
        self.cache.join(name)
    }

    /// The kernel of `cell`.
    pub(crate) fn kernel(&self, cell: &Cell) -> Option<&Kernel> {
        self.kernels.get(&(cell.suite.name, cell.arch.debian()))
    }

    /// The machine that boots `cell` with `kernel`.
    pub(crate) fn machine(&self, cell: &Cell, kernel: &Kernel, timeout: Duration) -> Machine {
        let mut m = Machine::new(cell.arch, &kernel.vmlinuz, timeout);
        m.initrd = self.initramfs.get(cell.arch.debian()).cloned();
        m.machine = cell.machine.map(str::to_string);
        m.cpu = cell.cpu.map(str::to_string);
        m.memory_mb = 2048;
        m.append = vec![
            "quiet".into(),
            "loglevel=3".into(),
            format!("vmtest.native={}", cell.native),
            format!(
                "vmtest.umount_cleanup={}",
                if kernel.umount_cleanup_backported {
                    "backported"
                } else {
                    "no"
                }
            ),
        ];
        m
    }

    /// A machine that only boots an amd64 kernel into `poweroff -f` (the KVM trial); `None`
    /// without an amd64 cell.
    pub(crate) fn kvm_trial(&self, timeout: Duration) -> Result<Option<Machine>> {
        let Some(kernel) = self.kernels.values().find(|k| k.arch == "amd64") else {
            return Ok(None);
        };
        let initrd = self.cache.join("kvm-trial.cpio");
        let mut w = Writer::create(&initrd)?;
        w.copy("bin/busybox", 0o755, &self.busybox["amd64"])?;
        w.file(
            "init",
            0o755,
            b"#!/bin/busybox sh\n/bin/busybox poweroff -f\n",
        )?;
        w.finish()?;
        let mut m = Machine::new(GuestArch::Amd64, &kernel.vmlinuz, timeout);
        m.initrd = Some(initrd);
        m.append = vec!["quiet".into()];
        Ok(Some(m))
    }
}

fn kernels_of(kernels: &BTreeMap<(&str, &str), Kernel>, arch: &str) -> Vec<Kernel> {
    kernels
        .values()
        .filter(|k| k.arch == arch)
        .cloned()
        .collect()
}

/// `$BINFMTD_FIXTURES` or `target/fixtures`, as `tests/fixtures.sh` uses.
fn fixtures_dir(root: &Path) -> PathBuf {
    std::env::var_os("BINFMTD_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/fixtures"))
}

/// Where bookworm's amd64 `qemu-user-static` is: `/` on an x86-64 machine (`tests/setup.sh`
/// installs it), else the package unpacked under `target/vm/pkg`.
fn amd64_qemu_root(bookworm: &Apt, cache: &Path) -> Result<PathBuf> {
    if cfg!(target_arch = "x86_64") {
        return Ok(PathBuf::from("/"));
    }
    let debs = bookworm.download(&["qemu-user-static:amd64".to_string()])?;
    let deb = debs
        .first()
        .context("qemu-user-static:amd64 was not downloaded")?;
    apt::unpack(deb, &cache.join("pkg/qemu-user-static_amd64"))
}

/// Debian 12's static busybox for amd64 and arm64, unpacked under `cache/pkg/`: arch → binary.
pub(crate) fn static_busyboxes(
    bookworm: &Apt,
    cache: &Path,
) -> Result<BTreeMap<&'static str, PathBuf>> {
    let debs = bookworm.download(&[
        "busybox-static:amd64".to_string(),
        "busybox-static:arm64".to_string(),
    ])?;
    let mut busybox = BTreeMap::new();
    for (arch, deb) in ["amd64", "arm64"].into_iter().zip(&debs) {
        let dir = apt::unpack(deb, &cache.join(format!("pkg/busybox-static_{arch}")))?;
        busybox.insert(arch, dir.join("bin/busybox"));
    }
    Ok(busybox)
}
