//! The container image's arm64 half booted on an arm64 machine: a cell kind of its own, run by
//! `cargo xtask image-test` once the image is built.
//!
//! The guest is the VM bench's trixie arm64 kernel on a virtual CPU without AArch32 (`a64fx`,
//! so 32-bit arm is foreign too). Its initramfs holds the arm64 image's file system as read
//! back from the OCI layout (`/usr/bin/binfmtd`, `/usr/libexec/binfmtd/qemu-*`,
//! `/etc/binfmtd/binfmtd.toml`, …) and nothing else of binfmtd or QEMU, plus busybox, the
//! kernel's `binfmt_misc.ko`, foreign busyboxes (amd64, i386, armhf) and the scenario
//! `tests/image/guest.sh` with the VM bench's `tests/vm/init` and `tests/vm/lib.sh`. The scenario
//! runs the commands the image runs as a container (setup-qemu-action's sequence and
//! `binfmtd check`) directly on the guest, whose binfmt_misc is the machine's.
//! Results are the VM bench's lines: `[image 6.12 arm64 a64fx] PASS …`.

use anyhow::{Context, Result, ensure};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::apt::{self, Apt};
use super::cells::{BOOKWORM, TRIXIE};
use super::cpio::Writer;
use super::guest::{self, Fixture, Kind};
use super::kernel;
use super::qemu::{GuestArch, Machine};
use super::report::Outcome;

/// What the scenario must find: versions the image's `--version` prints.
#[derive(Debug, Clone)]
pub(crate) struct Expect {
    /// binfmtd's version (`0.1.0`).
    pub(crate) binfmtd: String,
    /// The upstream version of the image's QEMU (`10.0.13`).
    pub(crate) qemu: String,
}

/// Boots the guest with the image file system `image` (the arm64 image's root, extracted) and
/// prints its result lines; fails if any line fails or the scenario does not finish.
pub(crate) fn boot_arm64(root: &Path, image: &Path, expect: &Expect) -> Result<()> {
    let cache = root.join("target/vm");
    let trixie = Apt::open(&cache, TRIXIE.name, TRIXIE.suites, TRIXIE.arches)?;
    let kernel = kernel::fetch(&trixie, &cache, "arm64").context("the trixie arm64 kernel")?;
    let bookworm = Apt::open(&cache, BOOKWORM.name, BOOKWORM.suites, BOOKWORM.arches)?;
    let debs = bookworm.download(&[
        "busybox-static:amd64".to_string(),
        "busybox-static:arm64".to_string(),
    ])?;
    let mut busybox = Vec::new();
    for (arch, deb) in ["amd64", "arm64"].into_iter().zip(&debs) {
        let dir = apt::unpack(deb, &cache.join(format!("pkg/busybox-static_{arch}")))?;
        busybox.push(dir.join("bin/busybox"));
    }
    let [amd64_busybox, arm64_busybox] = &busybox[..] else {
        anyhow::bail!("busybox-static was not downloaded for amd64 and arm64");
    };
    let fixtures_dir = std::env::var_os("BINFMTD_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/fixtures"));
    if !fixtures_dir.join("manifest.tsv").is_file() {
        crate::run(
            root,
            std::process::Command::new("bash").arg("tests/fixtures.sh"),
        )?;
    }
    let fixtures = guest::arm64_fixtures(&guest::manifest(&fixtures_dir)?, amd64_busybox)?;

    let initrd = cache.join("initramfs-image-arm64.cpio");
    let mut w = Writer::create(&initrd)?;
    copy_tree(&mut w, image, "")?;
    w.copy("init", 0o755, &root.join("tests/vm/init"))?;
    w.copy("bin/busybox", 0o755, arm64_busybox)?;
    w.symlink("bin/sh", "busybox")?;
    w.copy(
        &format!("lib/modules/{}/binfmt_misc.ko", kernel.release),
        0o644,
        &kernel.binfmt_misc,
    )?;
    w.copy("vm/lib.sh", 0o644, &root.join("tests/vm/lib.sh"))?;
    w.copy("vm/scenario.sh", 0o755, &root.join("tests/image/guest.sh"))?;
    write_fixtures(&mut w, &fixtures)?;
    w.finish()?;

    let mut m = Machine::new(GuestArch::Arm64, &kernel.vmlinuz, Duration::from_secs(300));
    m.initrd = Some(initrd);
    // Without gic-version=3 this CPU's kernel oopses (see cells.rs).
    m.machine = Some("virt,gic-version=3".into());
    m.cpu = Some("a64fx".into());
    m.memory_mb = 2048;
    m.append = vec![
        "quiet".into(),
        "loglevel=3".into(),
        "vmtest.native=aarch64".into(),
        format!("vmtest.binfmtd_version={}", expect.binfmtd),
        format!("vmtest.qemu_version={}", expect.qemu),
    ];
    let name = format!("image {} arm64 a64fx", kernel.label);
    let console = cache.join("logs/image-arm64.log");
    let boot = m.boot(&console)?;
    let outcome = Outcome::parse(&boot.console);
    let why = if boot.exited {
        format!(
            "the guest stopped after {:.0} s",
            boot.elapsed.as_secs_f64()
        )
    } else {
        format!("timed out after {} s", m.timeout.as_secs())
    };
    for line in outcome.render(&name, &boot.console, &why) {
        println!("{line}");
    }
    for info in &outcome.info {
        println!("[{name}] info: {info}");
    }
    println!("[{name}] console: {}", console.display());
    eprintln!(
        "image: the arm64 image booted on an arm64 guest in {:.0} s",
        boot.elapsed.as_secs_f64()
    );
    ensure!(
        outcome.passed(),
        "the arm64 image failed on the arm64 guest (console: {})",
        console.display()
    );
    Ok(())
}

/// Adds every directory and regular file under `dir` at `prefix` (relative), keeping modes.
fn copy_tree<W: std::io::Write>(w: &mut Writer<W>, dir: &Path, prefix: &str) -> Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .collect::<std::io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let meta = fs::symlink_metadata(entry.path())?;
        if meta.is_dir() {
            w.dir(&path)?;
            copy_tree(w, &entry.path(), &path)?;
        } else {
            ensure!(
                meta.is_file(),
                "{} is neither a file nor a directory: the image holds only files",
                entry.path().display()
            );
            w.copy(&path, meta.permissions().mode() & 0o7777, &entry.path())?;
        }
    }
    Ok(())
}

/// `/vm/fixtures/<n>/<name>` and `/vm/fixtures.tsv`, in the VM bench's format (`tests/vm/lib.sh`
/// reads it).
fn write_fixtures<W: std::io::Write>(w: &mut Writer<W>, fixtures: &[Fixture]) -> Result<()> {
    let mut table = String::new();
    for (n, f) in fixtures.iter().enumerate() {
        let file = f
            .source
            .file_name()
            .map_or_else(|| "busybox".into(), |n| n.to_string_lossy().into_owned());
        let path = format!("/vm/fixtures/{n:02}/{file}");
        w.copy(&path, 0o755, &f.source)?;
        let kind = match f.kind {
            Kind::Busybox => "busybox",
            Kind::LdSo => "ldso",
        };
        table.push_str(&format!(
            "{}\t{kind}\t{path}\t{}\t{}\n",
            f.target,
            f.target.uname_machines().join(","),
            f.package
        ));
    }
    w.file("vm/fixtures.tsv", 0o644, table.as_bytes())
}
