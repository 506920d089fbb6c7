//! The in-sandbox half of the benchmark (`cargo xtask bench-run …`, run under
//! `unshare --user --map-root-user --mount`): mount a fresh binfmt_misc at the standard path of this
//! private mount namespace (the contenders hard-code it), run the untimed setup commands, then time
//! one command: wall clock and CPU (user + system of it and its children, from `getrusage`).
//! Prints `wall_ns cpu_ns entries` and fails when the entry count is not the expected one, so a
//! contender that silently did nothing cannot win.

use anyhow::{Context, Result, bail};
use nix::sys::resource::{UsageWho, getrusage};
use std::process::Command;
use std::time::Instant;

/// Where every contender expects binfmt_misc.
pub(crate) const MOUNT: &str = "/proc/sys/fs/binfmt_misc";

/// `bench-run EXPECT|- [--setup CMD]... -- TIMED...`
pub(crate) fn main(args: &[String]) -> Result<()> {
    let (expect, rest) = args.split_first().context("bench-run: missing EXPECT")?;
    // `-` accepts any count (used to learn it).
    let expect: Option<usize> = match expect.as_str() {
        "-" => None,
        n => Some(n.parse().context("bench-run: EXPECT is a number or -")?),
    };
    let sep = rest
        .iter()
        .position(|a| a == "--")
        .context("bench-run: missing --")?;
    let (options, timed) = (&rest[..sep], &rest[sep + 1..]);
    nix::mount::mount(
        Some("binfmt_misc"),
        MOUNT,
        Some("binfmt_misc"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .context("mounting a private binfmt_misc (needs a user namespace on Linux >= 6.7)")?;
    for pair in options.chunks(2) {
        match pair {
            [flag, cmd] if flag == "--setup" => {
                run_quiet(&cmd.split_whitespace().collect::<Vec<_>>())?
            }
            _ => bail!("bench-run: unexpected {pair:?}"),
        }
    }
    let before = cpu_ns()?;
    let start = Instant::now();
    let (program, argv) = timed.split_first().context("bench-run: nothing to time")?;
    let status = Command::new(program)
        .args(argv)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output()
        .with_context(|| format!("running {program}"))?;
    let wall = start.elapsed().as_nanos();
    let cpu = cpu_ns()? - before;
    if !status.status.success() {
        bail!(
            "{timed:?} failed: {}",
            String::from_utf8_lossy(&status.stderr).trim()
        );
    }
    let entries = count_entries()?;
    if expect.is_some_and(|e| e != entries) {
        bail!("{timed:?} left {entries} entries, expected {expect:?}");
    }
    println!("{wall} {cpu} {entries}");
    Ok(())
}

fn run_quiet(argv: &[&str]) -> Result<()> {
    let (program, args) = argv.split_first().context("empty setup command")?;
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("running {program}"))?;
    if !out.status.success() {
        bail!(
            "setup {argv:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// CPU time (user + system) of every waited-for child so far, in nanoseconds.
pub(crate) fn cpu_ns() -> Result<u128> {
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).context("getrusage")?;
    let ns = |t: nix::sys::time::TimeVal| {
        t.tv_sec() as u128 * 1_000_000_000 + t.tv_usec() as u128 * 1_000
    };
    Ok(ns(usage.user_time()) + ns(usage.system_time()))
}

fn count_entries() -> Result<usize> {
    Ok(std::fs::read_dir(MOUNT)?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name() != "register" && e.file_name() != "status")
        .count())
}
