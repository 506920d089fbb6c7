//! Installing interpreters: binfmtd's first install of every interpreter it needs into an empty
//! store (verify, copy, hash, fsync, rename, register), against `cp -a` of the same files, and
//! binfmtd's unchanged re-run.

use anyhow::{Context, Result};
use std::fmt::Write as _;
use std::path::PathBuf;

use super::prepare::Setup;
use super::{run_once, runner, stats};

/// Measures and returns the table rows.
pub(crate) fn measure(s: &Setup, runs: usize) -> Result<String> {
    let d = |p: &std::path::Path| p.display().to_string();
    // The files binfmtd copies: one per interpreter name in the full store.
    let store = s.bench.join("store");
    let mut sources: Vec<PathBuf> = std::fs::read_dir(&store)
        .with_context(|| format!("reading {}", store.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("qemu-") && !n.contains('.'))
        .map(|n| PathBuf::from(format!("/usr/bin/{n}-static")))
        .filter(|p| p.exists())
        .collect();
    sources.sort();
    let bytes: u64 = sources
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let copy_dir = s.bench.join("cp-a");
    let binfmtd_install = vec![
        d(&s.binfmtd),
        "install".into(),
        "-q".into(),
        "--mount".into(),
        runner::MOUNT.into(),
        "--config".into(),
        d(&s.config_all_cold),
    ];
    let mut cp = vec!["cp".to_string(), "-a".into()];
    cp.extend(sources.iter().map(|p| d(p)));
    cp.push(d(&copy_dir));
    let (mut ours, mut theirs, mut rerun) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let fresh_store = format!("rm -rf {}", d(&s.cold_store_all));
        ours.push(run_once(
            s,
            &[fresh_store],
            &binfmtd_install,
            s.entries_all,
        )?);
        let _ = std::fs::remove_dir_all(&copy_dir);
        std::fs::create_dir_all(&copy_dir)?;
        theirs.push(run_once(s, &[], &cp, 0)?);
        rerun.push(run_once(
            s,
            &[binfmtd_install.join(" ")],
            &binfmtd_install,
            s.entries_all,
        )?);
    }
    let wall = |v: &[(f64, f64)]| stats::median(&v.iter().map(|x| x.0).collect::<Vec<_>>());
    let ratios: Vec<f64> = ours
        .iter()
        .zip(&theirs)
        .map(|(a, b)| a.0 / b.0.max(1.0))
        .collect();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nInstalling {} interpreters ({:.0} MB) into an empty directory, {runs} runs:\n",
        sources.len(),
        bytes as f64 / 1e6
    );
    let _ = writeln!(
        out,
        "| what | wall median | vs `cp -a` (median of per-round ratios) |"
    );
    let _ = writeln!(out, "| --- | ---: | ---: |");
    let _ = writeln!(
        out,
        "| `cp -a` of the same files | {} | 1.00× |",
        stats::human(wall(&theirs))
    );
    let _ = writeln!(
        out,
        "| binfmtd first install (verify, copy, sha256, fsync, rename, register {} entries) | {} | {:.2}× |",
        s.entries_all,
        stats::human(wall(&ours)),
        stats::median(&ratios)
    );
    let _ = writeln!(
        out,
        "| binfmtd unchanged re-run | {} | — |",
        stats::human(wall(&rerun))
    );
    let _ = std::fs::remove_dir_all(&copy_dir);
    Ok(out)
}
