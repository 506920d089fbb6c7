//! `cargo xtask bench emulated`: how fast foreign programs run under each QEMU build the machine
//! has, measured the way users meet them: through a registered binfmt_misc entry.
//!
//! Per target (arm64, armhf, riscv64, s390x, ppc64le) a fixed workload of Debian 13's static
//! busybox ([`workload`]) runs under every build ([`builds`]). Each run is a fresh private
//! binfmt_misc in a new user namespace with one entry, binfmtd's table row for the target pointing
//! at that build's interpreter with flag `F` ([`runner`]); the foreign busybox is exec'd by its
//! path. Rounds interleave the builds (starting with a different one each round); the table shows
//! medians and the ratio to the fastest build for each target ([`report`]).
//!
//! Options: `--runs N` (5), `--size MiB` (64, the `sha256sum` input; `gzip` and `sort` get a
//! sixteenth), `--smoke` (1 MiB, one run: CI's check that everything executes).

mod builds;
mod report;
mod runner;
mod workload;

use anyhow::{Context, Result, bail};
use elf_magic::Target;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

pub(crate) use runner::main as run_inner;

/// The targets measured, in table order.
const TARGETS: [Target; 5] = [
    Target::Aarch64,
    Target::Arm,
    Target::Riscv64,
    Target::S390x,
    Target::Ppc64le,
];

/// One run of one cell: (wall ns, CPU ns) per step.
pub(crate) type Run = Vec<(f64, f64)>;

/// Runs the benchmark, prints the tables and saves them in `target/bench/`.
pub(crate) fn main(root: &Path, args: &[String]) -> Result<()> {
    let (mut smoke, mut runs, mut size_mib) = (false, None, None);
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--smoke" => smoke = true,
            "--runs" => runs = Some(rest.next().map(|v| v.parse::<usize>().ok())),
            "--size" => size_mib = Some(rest.next().map(|v| v.parse::<f64>().ok())),
            other => bail!(
                "bench emulated: unknown option {other:?}: use --runs N, --size MiB or --smoke"
            ),
        }
    }
    let runs = match runs {
        Some(Some(Some(n))) if n > 0 => n,
        Some(_) => bail!("bench emulated: --runs takes a positive whole number"),
        None if smoke => 1,
        None => 5,
    };
    let size_mib = match size_mib {
        Some(Some(Some(m))) if m > 0.0 && m <= 4096.0 => m,
        Some(_) => bail!("bench emulated: --size takes a number of MiB between 0 and 4096"),
        None if smoke => 1.0,
        None => 64.0,
    };
    let bench = root.join("target/bench");
    let dir = bench.join("emulated");
    super::prepare::ensure_packages(&["qemu-user-static"])?;
    crate::run(root, Command::new("bash").arg("tests/fixtures.sh"))?;
    let fixtures = std::env::var_os("BINFMTD_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/fixtures"));
    let busyboxes: Vec<PathBuf> = TARGETS
        .iter()
        .map(|t| {
            fixtures
                .join("busybox-trixie")
                .join(t.name())
                .join("busybox")
        })
        .collect();
    if let Some(missing) = busyboxes.iter().find(|b| !b.is_file()) {
        bail!("{} is missing: run tests/fixtures.sh", missing.display());
    }
    let (builds, notes) = builds::discover(root, &fixtures, &TARGETS)?;
    let steps = workload::prepare(&dir, (size_mib * 1048576.0) as u64)?;
    let xtask = super::xtask_exe()?;

    // samples[target][build]: one entry per run.
    let mut samples: Vec<Vec<Vec<Run>>> = vec![vec![Vec::new(); builds.len()]; TARGETS.len()];
    let started = Instant::now();
    for round in 0..runs {
        for (ti, &target) in TARGETS.iter().enumerate() {
            for k in 0..builds.len() {
                let bi = (k + round) % builds.len();
                let build = &builds[bi];
                let run = cell(
                    &xtask,
                    &dir,
                    target,
                    &build.interpreter(target),
                    &busyboxes[ti],
                    &steps,
                )
                .with_context(|| format!("{} under {}", target.name(), build.label))?;
                samples[ti][bi].push(run);
            }
        }
        eprintln!(
            "bench emulated: round {}/{runs} done after {:.0} s",
            round + 1,
            started.elapsed().as_secs_f64()
        );
    }
    let out = report::render(&report::Inputs {
        targets: &TARGETS,
        builds: &builds,
        notes: &notes,
        steps: &steps,
        samples: &samples,
        runs,
        busybox: &busyboxes[0],
    });
    print!("{out}");
    let saved = bench.join(if smoke {
        "emulated-smoke.md"
    } else {
        "emulated.md"
    });
    std::fs::write(&saved, &out).with_context(|| format!("writing {}", saved.display()))?;
    eprintln!("bench emulated: results saved in {}", saved.display());
    Ok(())
}

/// One cell: a fresh sandbox, one entry, every step timed, every output verified.
fn cell(
    xtask: &Path,
    dir: &Path,
    target: Target,
    interpreter: &Path,
    busybox: &Path,
    steps: &[workload::Step],
) -> Result<Run> {
    let mut cmd = Command::new("unshare");
    cmd.args(["--user", "--map-root-user", "--mount", "--"])
        .arg(xtask)
        .arg("bench-emulated-run")
        .arg(target.primary_row().id)
        .arg(interpreter)
        .arg(busybox)
        .arg(dir);
    for step in steps {
        cmd.arg("--").arg(step.name).args(&step.argv);
    }
    let out = cmd.output().context("running unshare(1)")?;
    if !out.status.success() {
        bail!("{}", String::from_utf8_lossy(&out.stderr).trim());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut run = Vec::with_capacity(steps.len());
    for (step, line) in steps.iter().zip(text.lines()) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields[..] {
            [name, wall, cpu] if name == step.name => {
                run.push((wall.parse()?, cpu.parse()?));
            }
            _ => bail!("unexpected runner output {line:?}"),
        }
        step.verify(&dir.join(format!("{}.out", step.name)))?;
    }
    if run.len() != steps.len() {
        bail!(
            "the runner timed {} of {} steps: {text:?}",
            run.len(),
            steps.len()
        );
    }
    Ok(run)
}
