//! `cargo xtask bench`: binfmtd against systemd-binfmt, Debian's update-binfmts and the
//! raw-syscall floor, in one run, on one machine.
//!
//! Every measured run gets a fresh private binfmt_misc (a new user namespace per run, see
//! [`runner`]), contenders are interleaved round by round, and results are medians plus the
//! median of per-round ratios against the floor measured in the same round: absolute times on a
//! shared 2-core machine mean little, ratios do.

mod daemon;
mod emulated;
mod prepare;
mod runner;
mod stats;
mod store;

use anyhow::{Context, Result, bail};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

pub(crate) use daemon::inner as daemon_inner;
pub(crate) use emulated::run_inner as emulated_inner;
pub(crate) use runner::main as run_inner;

/// One contender: how it registers, re-runs and removes, and how many entries that gives.
struct Contender {
    name: &'static str,
    register: Vec<String>,
    remove: Vec<String>,
    entries: usize,
    /// Untimed command run before every measured `register` (e.g. emptying a store).
    fresh: Option<String>,
}

/// A phase of the common job.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Register,
    Rerun,
    Remove,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Register => "register into an empty binfmt_misc",
            Phase::Rerun => "re-run on a complete table",
            Phase::Remove => "remove all",
        }
    }
}

/// Runs the benchmark and prints (and saves) the table.
pub(crate) fn main(root: &Path, args: &[String]) -> Result<()> {
    let result = match args.first().map(String::as_str) {
        Some("emulated") => emulated::main(root, &args[1..]),
        Some("store") => store_only(root, &args[1..]),
        _ => registration(root, args),
    };
    if let Some(copy) = XTASK_COPY.get() {
        let _ = std::fs::remove_file(copy);
    }
    result
}

/// The registration benchmark: the common job, the checks, the store and the daemon.
fn registration(root: &Path, args: &[String]) -> Result<()> {
    let runs: usize = flag(args, "--runs")
        .map_or(Ok(15), |v| v.parse())
        .context("--runs N")?;
    let cycles: usize = flag(args, "--cycles")
        .map_or(Ok(10_000), |v| v.parse())
        .context("--cycles N")?;
    let idle: u64 = flag(args, "--idle")
        .map_or(Ok(60), |v| v.parse())
        .context("--idle SECONDS")?;
    let bench = root.join("target/bench");
    let setup = prepare::prepare(root, &bench)?;
    let contenders = contenders(&setup);
    let mut out = String::new();
    let _ = writeln!(out, "{}", prepare::machine_line());
    let _ = writeln!(
        out,
        "\nCommon job: {} QEMU entries from Debian's /usr/lib/binfmt.d (flags OPF); {runs} runs per cell; a fresh private binfmt_misc per run.\n",
        setup.entries
    );
    let _ = writeln!(
        out,
        "| phase | contender | wall median | CPU median | CPU vs floor (median of per-round ratios) |"
    );
    let _ = writeln!(out, "| --- | --- | ---: | ---: | ---: |");
    for phase in [Phase::Register, Phase::Rerun, Phase::Remove] {
        let table = measure_phase(&setup, &contenders, phase, runs)?;
        out.push_str(&table);
    }
    out.push_str(&checks(&setup)?);
    out.push_str(&store::measure(&setup, runs.min(5))?);
    out.push_str(&daemon::measure(&setup, cycles, idle)?);
    print!("{out}");
    let saved = bench.join("results.md");
    std::fs::write(&saved, &out).with_context(|| format!("writing {}", saved.display()))?;
    eprintln!("bench: results saved in {}", saved.display());
    Ok(())
}

/// `bench store`: only the first install into an empty store against `cp -a` of the same files.
fn store_only(root: &Path, args: &[String]) -> Result<()> {
    let runs: usize = flag(args, "--runs")
        .map_or(Ok(5), |v| v.parse())
        .context("--runs N")?;
    let bench = root.join("target/bench");
    let setup = prepare::prepare(root, &bench)?;
    let mut out = String::new();
    let _ = writeln!(out, "{}", prepare::machine_line());
    out.push_str(&store::measure(&setup, runs)?);
    print!("{out}");
    let saved = bench.join("store.md");
    std::fs::write(&saved, &out).with_context(|| format!("writing {}", saved.display()))?;
    eprintln!("bench: results saved in {}", saved.display());
    Ok(())
}

fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
}

fn contenders(s: &prepare::Setup) -> Vec<Contender> {
    let d = |p: &Path| p.display().to_string();
    let binfmtd = |config: &Path, verb: &str| {
        vec![
            d(&s.binfmtd),
            verb.into(),
            "-q".into(),
            "--mount".into(),
            runner::MOUNT.into(),
            "--config".into(),
            d(config),
        ]
    };
    let mut confs: Vec<String> = vec![d(&s.systemd_binfmt)];
    confs.extend(s.conf_files.iter().map(|p| d(p)));
    let ub = |verb: &str| {
        vec![
            d(&s.update_binfmts),
            format!("--admindir={}", d(&s.admindir)),
            format!("--importdir={}", d(&s.importdir)),
            verb.into(),
        ]
    };
    vec![
        Contender {
            name: "floor (C, one write per entry)",
            register: vec![
                d(&s.floor),
                "register".into(),
                d(&s.lines),
                runner::MOUNT.into(),
            ],
            remove: vec![
                d(&s.floor),
                "remove".into(),
                d(&s.lines),
                runner::MOUNT.into(),
            ],
            entries: s.entries,
            fresh: None,
        },
        Contender {
            name: "systemd-binfmt FILES",
            register: confs,
            remove: vec![d(&s.systemd_binfmt), "--unregister".into()],
            entries: s.entries,
            fresh: None,
        },
        Contender {
            name: "update-binfmts --enable",
            register: ub("--enable"),
            remove: ub("--disable"),
            entries: s.entries,
            fresh: None,
        },
        Contender {
            name: "binfmtd install (store ready)",
            register: binfmtd(&s.config, "install"),
            remove: binfmtd(&s.config, "uninstall"),
            entries: s.entries_binfmtd,
            fresh: None,
        },
        Contender {
            name: "binfmtd install all (full non-native table)",
            register: binfmtd(&s.config_all, "install"),
            remove: binfmtd(&s.config_all, "uninstall"),
            entries: s.entries_all,
            fresh: None,
        },
        Contender {
            name: "binfmtd install, verifying + copying from scratch",
            register: binfmtd(&s.config_cold, "install"),
            remove: binfmtd(&s.config_cold, "uninstall"),
            entries: s.entries_binfmtd,
            fresh: Some(format!("rm -rf {}", d(&s.cold_store))),
        },
    ]
}

fn measure_phase(
    s: &prepare::Setup,
    contenders: &[Contender],
    phase: Phase,
    runs: usize,
) -> Result<String> {
    let mut samples: Vec<Vec<(f64, f64)>> = vec![Vec::new(); contenders.len()];
    for _ in 0..runs {
        for (i, c) in contenders.iter().enumerate() {
            // Copying hundreds of MB per run says nothing new after a few runs.
            if c.fresh.is_some() && phase != Phase::Register && samples[i].len() >= 3 {
                continue;
            }
            let mut setup: Vec<String> = c.fresh.iter().cloned().collect();
            let (timed, expect) = match phase {
                Phase::Register => (&c.register, c.entries),
                Phase::Rerun => {
                    setup.push(c.register.join(" "));
                    (&c.register, c.entries)
                }
                Phase::Remove => {
                    setup.push(c.register.join(" "));
                    (&c.remove, 0)
                }
            };
            samples[i].push(
                run_once(s, &setup, timed, expect)
                    .with_context(|| format!("{} ({})", c.name, phase.name()))?,
            );
        }
    }
    let mut out = String::new();
    for (c, cells) in contenders.iter().zip(&samples) {
        let walls: Vec<f64> = cells.iter().map(|x| x.0).collect();
        let cpus: Vec<f64> = cells.iter().map(|x| x.1).collect();
        let ratios: Vec<f64> = cells
            .iter()
            .zip(&samples[0])
            .map(|(x, floor)| x.1 / floor.1.max(1.0))
            .collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.2}× |",
            phase.name(),
            c.name,
            stats::human(stats::median(&walls)),
            stats::human(stats::median(&cpus)),
            stats::median(&ratios)
        );
    }
    Ok(out)
}

/// Runs one measured command in a fresh sandbox; returns (wall ns, CPU ns).
fn run_once(
    s: &prepare::Setup,
    setup: &[String],
    timed: &[String],
    expect: usize,
) -> Result<(f64, f64)> {
    let mut cmd = Command::new("unshare");
    cmd.args(["--user", "--map-root-user", "--mount", "--"])
        .arg(&s.xtask)
        .arg("bench-run")
        .arg(expect.to_string());
    for step in setup {
        cmd.arg("--setup").arg(step);
    }
    cmd.arg("--").args(timed);
    let out = cmd.output().context("running unshare(1)")?;
    if !out.status.success() {
        bail!("{}", String::from_utf8_lossy(&out.stderr).trim());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut fields = text.split_whitespace().map(|f| f.parse::<f64>());
    match (fields.next(), fields.next()) {
        (Some(Ok(wall)), Some(Ok(cpu))) => Ok((wall, cpu)),
        _ => bail!("unexpected runner output {text:?}"),
    }
}

/// The properties the issue asks for beyond time: an unchanged re-run writes nothing to
/// binfmt_misc and reads no interpreter; verification reads headers only.
fn checks(s: &prepare::Setup) -> Result<String> {
    let d = |p: &Path| p.display().to_string();
    let trace = s.bench.join("rerun.strace");
    let register = format!(
        "{} install -q --mount {} --config {}",
        d(&s.binfmtd),
        runner::MOUNT,
        d(&s.config)
    );
    let mut cmd = Command::new("unshare");
    cmd.args(["--user", "--map-root-user", "--mount", "--"])
        .arg(&s.xtask)
        .arg("bench-run")
        .arg(s.entries_binfmtd.to_string());
    cmd.arg("--setup").arg(&register);
    cmd.args([
        "--",
        "strace",
        "-f",
        "-qq",
        "-y",
        "-e",
        "trace=openat,read,pread64,write,pwrite64",
        "-o",
    ])
    .arg(&trace);
    cmd.args(register.split_whitespace());
    let out = cmd.output().context("running strace")?;
    if !out.status.success() {
        bail!(
            "traced re-run failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = std::fs::read_to_string(&trace).context("reading the strace log")?;
    let writes = text
        .lines()
        .filter(|l| l.contains("write(") && l.contains(runner::MOUNT))
        .count();
    // Reads through a descriptor on an interpreter file: strace -y prints the descriptor's path
    // as `read(5</path>, …`; only that path counts, not the data read (registrations.json
    // mentions qemu-* names), nor binfmt_misc's own entry files (also called qemu-*).
    let fd_path = |line: &str| -> Option<String> {
        let call = line.find(" read(").or_else(|| line.find("pread64("))?;
        let rest = &line[call..];
        let open = rest.find('<')?;
        let close = rest[open..].find('>')?;
        Some(rest[open + 1..open + close].to_string())
    };
    let interp_reads = text
        .lines()
        .filter_map(fd_path)
        .filter(|p| p.contains("/qemu-") && !p.starts_with(runner::MOUNT) && !p.ends_with(".json"))
        .count();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nUnchanged re-run of `binfmtd install` under strace: {writes} writes to binfmt_misc, {interp_reads} reads of interpreter files."
    );
    Ok(out)
}

/// A private copy of this xtask binary for the in-sandbox runner: other builds may replace
/// `target/debug/xtask` while the benchmark runs.
pub(crate) fn xtask_exe() -> Result<PathBuf> {
    if let Some(path) = XTASK_COPY.get() {
        return Ok(path.clone());
    }
    let exe = std::env::current_exe().context("locating the xtask binary")?;
    let copy = exe
        .parent()
        .context("the xtask binary has no directory")?
        .join(format!("xtask-bench-runner-{}", std::process::id()));
    // /proc/self/exe, not `exe`: a workspace build earlier in the same run (`cargo xtask ci`
    // builds with the whole workspace's features) may have replaced target/debug/xtask, and
    // the running image is then reachable only through /proc ("xtask (deleted)").
    std::fs::copy("/proc/self/exe", &copy).context("copying the xtask binary")?;
    Ok(XTASK_COPY.get_or_init(|| copy).clone())
}

/// The copy [`xtask_exe`] made, removed when the benchmark ends.
static XTASK_COPY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
