//! `cargo xtask vm-system`: full-system guests. Debian 12 (Linux 6.1) and Debian 13 (Linux 6.12)
//! disk images with systemd as PID 1, the real global binfmt_misc instance and its automount,
//! systemd-binfmt, and the distribution's QEMU installed as a user installs it; booted with the
//! suite's own kernel and initrd, offline (`-nic none`). In each, the scenario of
//! `tests/vm-system/` runs the seven steps of issue 12 across three boots (the phase is kept on
//! the disk; `-no-reboot` turns the guest's reboot into a QEMU exit and the host boots it again):
//! the baseline, `apt install ./binfmtd_*.deb`, a reboot, `systemctl restart systemd-binfmt` and a
//! QEMU reinstall, binfmt-support, a fake emulator entry, `apt purge binfmtd` and the boot after.
//!
//! Steps here: the package (`cargo xtask deb`), busybox-static for arm64 (the QEMU-less chroot)
//! from the private bookworm apt of `vm-test`, the rootfs of each suite (`rootfs`, cached under
//! `target/vm/system/` and keyed by suite, packages and build script), a fresh disk per run
//! (`disk`), then the guests booted two at a time. Their consoles become
//! `[system bookworm 6.1.0-… ] PASS (N) …` lines; a FAIL, a step without assertion or a phase that
//! never ran fails the run (`outcome`). The boot figures (`systemd-analyze security`, start to
//! READY, critical chains) are printed as `info:` lines and written to
//! `target/vm/system-summary.txt`.
//!
//! Options: `--suite PATTERN` (repeatable), `--timeout S` (per boot under TCG, default 900).
//! `BINFMTD_VM_ACCEL=tcg|kvm|auto` as for `vm-test` (auto: KVM if a 15 s trial boot powers off,
//! and a guest whose first KVM boot does not start the scenario is run again under TCG).

mod disk;
mod guests;
mod outcome;
mod rootfs;

use anyhow::{Context, Result, bail, ensure};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::apt::Apt;
use super::cells::BOOKWORM;
use super::cpio::Writer;
use super::qemu::{self, Accel, GuestArch, Machine};
use super::report::Outcome;
use crate::dist::Arch;
use guests::{GUESTS, Guest};
use rootfs::Rootfs;

/// Per-boot time limit under KVM (a hung KVM guest falls back to TCG after this).
const KVM_BOOT_LIMIT: Duration = Duration::from_secs(150);

struct Options {
    suites: Vec<String>,
    timeout: Duration,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options> {
        let mut o = Options {
            suites: Vec::new(),
            timeout: Duration::from_secs(900),
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let mut value = |name: &str| {
                it.next()
                    .cloned()
                    .with_context(|| format!("vm-system: {name} needs a value"))
            };
            match arg.as_str() {
                "--suite" => o.suites.push(value("--suite")?),
                "--timeout" => {
                    o.timeout = Duration::from_secs(
                        value("--timeout")?
                            .parse()
                            .context("vm-system: --timeout SECONDS")?,
                    )
                }
                other => {
                    bail!(
                        "vm-system: unknown option {other}; use --suite bookworm|trixie, --timeout S"
                    )
                }
            }
        }
        Ok(o)
    }
}

/// One guest's result.
struct Report {
    name: String,
    lines: Vec<String>,
    figures: Vec<String>,
    passed: bool,
    boots: usize,
    secs: f64,
    accel: Accel,
}

/// Runs the selected guests; fails if any assertion fails or an expected line is missing.
pub(crate) fn vm_system(root: &Path, args: &[String]) -> Result<()> {
    let start = Instant::now();
    let opts = Options::parse(args)?;
    let selected: Vec<Guest> = GUESTS
        .iter()
        .filter(|g| g.selected_by(&opts.suites))
        .copied()
        .collect();
    ensure!(
        !selected.is_empty(),
        "vm-system: no guest matches {:?}; the guests are bookworm and trixie",
        opts.suites
    );
    for tool in ["debootstrap", "mkfs.ext4", "qemu-system-x86_64"] {
        ensure!(
            which(tool),
            "vm-system: {tool} is missing; `cargo xtask setup` (tests/setup.sh) installs it"
        );
    }
    let vm_cache = root.join("target/vm");
    let cache = vm_cache.join("system");
    let deb = crate::deb::deb(root, Arch::X86_64)?;
    let bookworm = Apt::open(&vm_cache, BOOKWORM.name, BOOKWORM.suites, BOOKWORM.arches)?;
    let busybox = super::inputs::static_busyboxes(&bookworm, &vm_cache)?;
    let (Some(busybox_arm64), Some(busybox_amd64)) = (busybox.get("arm64"), busybox.get("amd64"))
    else {
        bail!("vm-system: busybox-static was not unpacked for arm64 and amd64");
    };
    let (busybox_arm64, busybox_amd64) = (busybox_arm64.clone(), busybox_amd64.clone());

    // The rootfs of every guest, built side by side (mostly downloads) when not cached.
    let built: Vec<Result<(Rootfs, f64)>> = std::thread::scope(|s| {
        let handles: Vec<_> = selected
            .iter()
            .map(|g| s.spawn(|| rootfs::prepare(root, &cache, g)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("the rootfs build panicked")))
            })
            .collect()
    });
    let mut guests = Vec::new();
    for (g, b) in selected.iter().zip(built) {
        let (fs, secs) = b?;
        eprintln!(
            "vm-system: {} rootfs ready ({:.0} s), kernel {}",
            g.suite, secs, fs.release
        );
        guests.push((*g, fs));
    }
    let prep = start.elapsed().as_secs_f64();
    let accel = choose_accel(&cache, &guests[0].1, &busybox_amd64)?;
    eprintln!(
        "vm-system: prepared in {prep:.0} s; booting {} guests under {accel:?}",
        guests.len()
    );

    let scenario = root.join("tests/vm-system");
    let stage = disk::Stage {
        scenario: &scenario,
        deb: &deb,
        busybox_arm64: &busybox_arm64,
    };
    let reports = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for (g, fs) in &guests {
            let (stage, reports, cache) = (&stage, &reports, &cache);
            s.spawn(move || {
                let r = run_guest(g, fs, stage, cache, accel, opts.timeout);
                print!(
                    "{}",
                    r.lines.iter().map(|l| format!("{l}\n")).collect::<String>()
                );
                if let Ok(mut all) = reports.lock() {
                    all.push(r);
                }
            });
        }
    });
    let mut reports = reports.into_inner().unwrap_or_default();
    reports.sort_by(|a, b| a.name.cmp(&b.name));
    let wall = start.elapsed().as_secs_f64();
    let summary = summary(&reports, prep, wall);
    let file = root.join("target/vm/system-summary.txt");
    std::fs::write(&file, &summary).with_context(|| format!("cannot write {}", file.display()))?;
    eprint!("{summary}");
    eprintln!("vm-system: summary in {}", file.display());
    let failed = reports.iter().filter(|r| !r.passed).count();
    ensure!(
        failed == 0 && reports.len() == guests.len(),
        "vm-system: {failed} of {} guest(s) failed",
        guests.len()
    );
    Ok(())
}

/// Boots `guest` phase after phase; under KVM, a first boot that never starts the scenario is
/// retried under TCG from a fresh disk.
fn run_guest(
    guest: &Guest,
    fs: &Rootfs,
    stage: &disk::Stage<'_>,
    cache: &Path,
    accel: Accel,
    timeout: Duration,
) -> Report {
    let name = format!("system {} {}", guest.suite, fs.release);
    let start = Instant::now();
    let attempt = |accel: Accel| -> Result<(String, String, usize)> {
        let image = disk::build(&fs.dir, stage, &cache.join(guest.suite).join("disk.img"))?;
        let limit = if accel == Accel::Kvm {
            KVM_BOOT_LIMIT.min(timeout)
        } else {
            timeout
        };
        boot_phases(guest, fs, &image, &cache.join("logs"), accel, limit)
    };
    let mut used = accel;
    let mut result = attempt(accel);
    if accel == Accel::Kvm
        && result
            .as_ref()
            .is_ok_and(|(text, _, _)| !text.contains("INFO phase 1:"))
    {
        eprintln!(
            "vm-system: {}: the first KVM boot did not start the scenario; again under TCG",
            guest.suite
        );
        used = Accel::Tcg;
        result = attempt(Accel::Tcg);
    }
    let (text, why, boots) = match result {
        Ok(r) => r,
        Err(e) => (String::new(), format!("{e:#}"), 0),
    };
    let parsed = Outcome::parse(&text);
    let mut lines = parsed.render(&name, &text, &why);
    let missing = outcome::missing(&parsed);
    lines.extend(missing.iter().map(|m| format!("[{name}] FAIL {m}")));
    let figures = outcome::figures(&parsed);
    for i in &parsed.info {
        lines.push(format!("[{name}] info: {i}"));
    }
    let secs = start.elapsed().as_secs_f64();
    lines.push(format!(
        "[{name}] info: {boots} boots under {used:?}, {secs:.0} s; consoles in {}",
        cache.join("logs").display()
    ));
    Report {
        passed: parsed.passed() && missing.is_empty(),
        name,
        lines,
        figures,
        boots,
        secs,
        accel: used,
    }
}

/// Boots the disk until a phase ends without asking for a reboot; returns the consoles of every
/// boot, why the last one ended, and the number of boots.
fn boot_phases(
    guest: &Guest,
    fs: &Rootfs,
    image: &Path,
    logs: &Path,
    accel: Accel,
    limit: Duration,
) -> Result<(String, String, usize)> {
    let mut text = String::new();
    let mut why = String::new();
    let mut boots = 0;
    for n in 1..=outcome::PHASES.len() + 1 {
        let mut m = Machine::new(GuestArch::Amd64, &fs.vmlinuz, limit);
        m.initrd = Some(fs.initrd.clone());
        m.disk = Some(image.to_path_buf());
        m.memory_mb = 2048;
        m.smp = 2;
        m.accel = accel;
        m.append = ["root=/dev/vda", "rw", "quiet", "loglevel=3"]
            .map(String::from)
            .to_vec();
        let console = logs.join(format!("{}-boot{n}.log", guest.suite));
        let boot = m.boot(&console)?;
        boots = n;
        text.push_str(&boot.console);
        if !boot.exited {
            why = format!("boot {n} timed out after {} s", limit.as_secs());
            break;
        }
        why = format!("boot {n} ended after {:.0} s", boot.elapsed.as_secs_f64());
        if !boot.console.contains(outcome::REBOOT) {
            break;
        }
    }
    Ok((text, why, boots))
}

/// `BINFMTD_VM_ACCEL`, or KVM if a trial boot of the guest kernel into `poweroff -f` ends within
/// 15 s.
fn choose_accel(cache: &Path, fs: &Rootfs, busybox: &Path) -> Result<Accel> {
    match std::env::var("BINFMTD_VM_ACCEL")
        .as_deref()
        .unwrap_or("auto")
    {
        "tcg" => return Ok(Accel::Tcg),
        "kvm" => return Ok(Accel::Kvm),
        "auto" => {}
        other => bail!("BINFMTD_VM_ACCEL={other}: use tcg, kvm or auto"),
    }
    let initrd = cache.join("kvm-trial.cpio");
    let mut w = Writer::create(&initrd)?;
    w.copy("bin/busybox", 0o755, busybox)?;
    w.file(
        "init",
        0o755,
        b"#!/bin/busybox sh\n/bin/busybox poweroff -f\n",
    )?;
    w.finish()?;
    let mut trial = Machine::new(GuestArch::Amd64, &fs.vmlinuz, Duration::from_secs(15));
    trial.initrd = Some(initrd);
    trial.append = vec!["quiet".into()];
    let usable = qemu::kvm_usable(GuestArch::Amd64, &trial, &cache.join("logs/kvm-trial.log"));
    Ok(if usable { Accel::Kvm } else { Accel::Tcg })
}

/// The summary file: per guest, the verdict and the boot figures.
fn summary(reports: &[Report], prep: f64, wall: f64) -> String {
    let mut s = format!("# cargo xtask vm-system: {wall:.0} s wall time ({prep:.0} s preparing)\n");
    for r in reports {
        let fails = r.lines.iter().filter(|l| l.contains("] FAIL ")).count();
        let passes = r.lines.iter().filter(|l| l.contains("] PASS ")).count();
        let _ = writeln!(
            s,
            "[{}] {}: {passes} PASS, {fails} FAIL, {} boots under {:?}, {:.0} s",
            r.name,
            if r.passed { "passed" } else { "FAILED" },
            r.boots,
            r.accel,
            r.secs
        );
        for f in &r.figures {
            let _ = writeln!(s, "[{}] figure {f}", r.name);
        }
    }
    s
}

fn which(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<PathBuf>>())
        .unwrap_or_default()
        .iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")].iter())
        .any(|d| d.join(tool).is_file())
}
