//! `cargo xtask vm-test`: boot real Debian kernels (5.10, 6.1, 6.12, 7.3 on amd64; 6.12 on two
//! arm64 CPUs) under qemu-system and run the scenario of `tests/vm/` in each, as PID 1 of an
//! initramfs.
//!
//! Steps: the foreign fixtures (`tests/fixtures.sh`), a static binfmtd per guest architecture
//! (`dist`), kernels, busybox and the arm64 `qemu-user` from Debian through private apt
//! configurations (`apt`, `kernel`), one initramfs per guest architecture (`guest`, `cpio`),
//! then every cell booted (`qemu`) and its console turned into `[<kernel> <arch>] PASS|FAIL …`
//! lines (`report`). Everything downloaded is cached under `target/vm/`.
//!
//! Options: `--cell PATTERN` (repeatable; a substring of `<suite> <arch>[ variant]`, e.g.
//! `bullseye`, `arm64`, `a64fx`), `--jobs N` (cells booted at once, default 2), `--timeout S`
//! (per cell, default 300), `--list`. `BINFMTD_VM_ACCEL=tcg|kvm|auto` (default `auto`: KVM only
//! if a trial boot finishes within 15 s, else TCG).

mod apt;
mod cells;
mod cpio;
mod guest;
pub(crate) mod image;
mod inputs;
mod kernel;
mod qemu;
mod report;
mod system;

pub(crate) use system::vm_system;

use anyhow::{Context, Result, bail, ensure};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cells::{CELLS, Cell};
use inputs::Prepared;
use qemu::{Accel, GuestArch};
use report::Outcome;

/// Command-line options of `vm-test`.
struct Options {
    cells: Vec<String>,
    jobs: usize,
    timeout: Duration,
    list: bool,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options> {
        let mut o = Options {
            cells: Vec::new(),
            jobs: 2,
            timeout: Duration::from_secs(300),
            list: false,
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let mut value = |name: &str| {
                it.next()
                    .cloned()
                    .with_context(|| format!("vm-test: {name} needs a value"))
            };
            match arg.as_str() {
                "--cell" => o.cells.push(value("--cell")?),
                "--jobs" => o.jobs = value("--jobs")?.parse().context("vm-test: --jobs N")?,
                "--timeout" => {
                    o.timeout = Duration::from_secs(
                        value("--timeout")?
                            .parse()
                            .context("vm-test: --timeout SECONDS")?,
                    )
                }
                "--list" => o.list = true,
                other => bail!(
                    "vm-test: unknown option {other}; use --cell PATTERN, --jobs N, --timeout S, --list"
                ),
            }
        }
        ensure!(o.jobs >= 1, "vm-test: --jobs must be at least 1");
        Ok(o)
    }
}

/// Runs the matrix (or the selected cells); fails if any line fails or a cell does not finish.
pub(crate) fn vm_test(root: &Path, args: &[String]) -> Result<()> {
    let opts = Options::parse(args)?;
    let selected: Vec<Cell> = CELLS
        .iter()
        .filter(|c| c.selected_by(&opts.cells))
        .copied()
        .collect();
    if opts.list {
        for c in &CELLS {
            println!("{:<28} {}", c.key(), c.proves);
        }
        return Ok(());
    }
    ensure!(
        !selected.is_empty(),
        "vm-test: no cell matches {:?}; `cargo xtask vm-test --list` shows them",
        opts.cells
    );
    let start = Instant::now();
    let prepared = inputs::prepare(root, &selected)?;
    let accel = choose_accel(&prepared)?;
    let prep_time = start.elapsed();
    eprintln!(
        "vm: prepared in {:.0} s; booting {} cells, {} at a time, amd64 under {accel:?}",
        prep_time.as_secs_f64(),
        selected.len(),
        opts.jobs
    );
    let results = run_cells(&prepared, &selected, accel, &opts);
    let mut failed = 0;
    let mut lines = 0;
    for (cell, ok, n, secs) in &results {
        lines += n;
        if !ok {
            failed += 1;
        }
        eprintln!(
            "vm: {cell}: {} ({n} lines, {secs:.0} s)",
            if *ok { "passed" } else { "FAILED" }
        );
    }
    eprintln!(
        "vm: {} of {} cells passed, {lines} lines, {:.0} s in all ({:.0} s preparing)",
        results.len() - failed,
        results.len(),
        start.elapsed().as_secs_f64(),
        prep_time.as_secs_f64()
    );
    ensure!(failed == 0, "vm-test: {failed} cell(s) failed");
    Ok(())
}

/// Boots the cells, `jobs` at a time; prints each cell's lines as it finishes. Returns per cell:
/// name, passed, number of lines, seconds.
fn run_cells(
    prepared: &Prepared,
    cells: &[Cell],
    accel: Accel,
    opts: &Options,
) -> Vec<(String, bool, usize, f64)> {
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..opts.jobs.min(cells.len()) {
            s.spawn(|| {
                while let Some(cell) = cells.get(next.fetch_add(1, Ordering::SeqCst)) {
                    let result = run_cell(prepared, cell, accel, opts.timeout);
                    if let Ok(mut r) = results.lock() {
                        r.push(result);
                    }
                }
            });
        }
    });
    results.into_inner().unwrap_or_default()
}

/// Boots one cell and prints its lines.
fn run_cell(
    prepared: &Prepared,
    cell: &Cell,
    accel: Accel,
    timeout: Duration,
) -> (String, bool, usize, f64) {
    let Some(kernel) = prepared.kernel(cell) else {
        let name = cell.key();
        println!("[{name}] FAIL no kernel was prepared for this cell");
        return (name, false, 1, 0.0);
    };
    let name = cell.name(&kernel.label);
    let mut machine = prepared.machine(cell, kernel, timeout);
    if cell.arch == GuestArch::Amd64 {
        machine.accel = accel;
    }
    let console = prepared
        .log_dir
        .join(format!("{}.log", name.replace(' ', "-")));
    let (text, why, secs) = match machine.boot(&console) {
        Ok(boot) => {
            let why = if boot.exited {
                format!(
                    "the guest stopped after {:.0} s",
                    boot.elapsed.as_secs_f64()
                )
            } else {
                format!("timed out after {} s", timeout.as_secs())
            };
            (boot.console, why, boot.elapsed.as_secs_f64())
        }
        Err(e) => (String::new(), format!("{e:#}"), 0.0),
    };
    let outcome = Outcome::parse(&text);
    let lines = outcome.render(&name, &text, &why);
    // One write per cell, so that cells finishing together do not interleave their lines.
    let mut block: String = lines.iter().map(|l| format!("{l}\n")).collect();
    for info in &outcome.info {
        block.push_str(&format!("[{name}] info: {info}\n"));
    }
    block.push_str(&format!("[{name}] console: {}\n", console.display()));
    print!("{block}");
    (name, outcome.passed(), lines.len(), secs)
}

/// `BINFMTD_VM_ACCEL`, or a KVM trial boot for the amd64 guests (at most once per host boot:
/// the answer is cached in `target/vm/kvm`).
fn choose_accel(prepared: &Prepared) -> Result<Accel> {
    let wanted = std::env::var("BINFMTD_VM_ACCEL").unwrap_or_else(|_| "auto".into());
    match wanted.as_str() {
        "tcg" => return Ok(Accel::Tcg),
        "kvm" => return Ok(Accel::Kvm),
        "auto" => {}
        other => bail!("BINFMTD_VM_ACCEL={other}: use tcg, kvm or auto"),
    }
    let Some(trial) = prepared.kvm_trial(Duration::from_secs(15))? else {
        return Ok(Accel::Tcg);
    };
    let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let cache = prepared.cache_file("kvm");
    if let Ok(text) = std::fs::read_to_string(&cache)
        && let Some((id, verdict)) = text.split_once('\n')
        && id == boot_id.trim()
    {
        return Ok(if verdict.trim() == "kvm" {
            Accel::Kvm
        } else {
            Accel::Tcg
        });
    }
    let usable = qemu::kvm_usable(
        GuestArch::Amd64,
        &trial,
        &prepared.log_dir.join("kvm-trial.log"),
    );
    let verdict = if usable { Accel::Kvm } else { Accel::Tcg };
    let _ = std::fs::write(
        &cache,
        format!(
            "{}\n{}\n",
            boot_id.trim(),
            if usable { "kvm" } else { "tcg" }
        ),
    );
    if !usable {
        eprintln!("vm: KVM did not boot a trial guest within 15 s: using TCG");
    }
    Ok(verdict)
}
