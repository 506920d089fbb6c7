//! The in-sandbox half of the emulated benchmark (`cargo xtask bench-emulated-run …`, run under
//! `unshare --user --map-root-user --mount`): mount a fresh binfmt_misc, register one entry (the
//! target's row of binfmtd's table, the build's interpreter, flag `F`), read it back, then exec the
//! foreign busybox by its path once per step and time it.
//!
//! Prints one line per step: `name wall_ns cpu_ns` (CPU = user + system of the emulated process).
//! Each step's standard output goes to `<outdir>/<name>.out` for the caller to verify.

use anyhow::{Context, Result, bail, ensure};
use binfmt_misc::{BinfmtMisc, Flags, Matcher, Rule};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::bench::runner::{MOUNT, cpu_ns};

/// `bench-emulated-run ROW INTERPRETER BUSYBOX OUTDIR [-- NAME APPLET ARG...]...`
// The benchmark registers in its own private instance, not through binfmtd (clippy.toml).
#[allow(clippy::disallowed_methods)]
pub(crate) fn main(args: &[String]) -> Result<()> {
    let mut groups = args.split(|a| a == "--");
    let head = groups.next().unwrap_or_default();
    let [row_id, interpreter, busybox, outdir] = head else {
        bail!("bench-emulated-run ROW INTERPRETER BUSYBOX OUTDIR [-- NAME APPLET ARG...]...");
    };
    let row = elf_magic::row::TABLE
        .iter()
        .find(|r| r.id == row_id.as_str())
        .with_context(|| format!("no row {row_id:?} in binfmtd's table"))?;
    nix::mount::mount(
        Some("binfmt_misc"),
        MOUNT,
        Some("binfmt_misc"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .context("mounting a private binfmt_misc (needs a user namespace on Linux >= 6.7)")?;
    let fs = BinfmtMisc::open(Path::new(MOUNT))?;
    let rule = Rule {
        name: format!("qemu-{}", row.id),
        matcher: Matcher::Magic {
            offset: usize::from(row.offset),
            magic: row.magic.to_vec(),
            mask: Some(row.mask.to_vec()),
        },
        interpreter: PathBuf::from(interpreter),
        flags: Flags {
            fix_binary: true,
            ..Flags::NONE
        },
    };
    fs.register(&rule)
        .with_context(|| format!("registering {}", rule.name))?;
    let entry = fs
        .entry(&rule.name)?
        .with_context(|| format!("{} vanished after registering", rule.name))?
        .entry;
    ensure!(
        entry.enabled && entry.interpreter == rule.interpreter && entry.flags.fix_binary,
        "{} reads back as {entry:?}",
        rule.name
    );
    for step in groups {
        let [name, argv @ ..] = step else {
            bail!("bench-emulated-run: an empty step");
        };
        let out = Path::new(outdir).join(format!("{name}.out"));
        let stdout =
            std::fs::File::create(&out).with_context(|| format!("creating {}", out.display()))?;
        let before = cpu_ns()?;
        let start = Instant::now();
        let child = Command::new(busybox)
            .args(argv)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::piped())
            .output()
            .with_context(|| format!("executing {busybox} (foreign, through {})", rule.name))?;
        let wall = start.elapsed().as_nanos();
        let cpu = cpu_ns()? - before;
        if !child.status.success() {
            bail!(
                "{busybox} {argv:?} under {interpreter}: {} {}",
                child.status,
                String::from_utf8_lossy(&child.stderr).trim()
            );
        }
        println!("{name} {wall} {cpu}");
    }
    Ok(())
}
