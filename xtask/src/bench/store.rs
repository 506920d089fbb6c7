//! Installing interpreters: binfmtd's first install of every interpreter it needs into an empty
//! store (verify, copy, hash, fsync, rename, register) against `cp -a` of the same files, plain
//! and followed by `sync -f` (binfmtd's copies are durable before they are renamed into place,
//! `cp -a` leaves dirty pages behind), and binfmtd's unchanged re-run. Ratios are medians of
//! per-round ratios.

use anyhow::{Context, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::prepare::Setup;
use super::{run_once, runner, stats};

/// Measures and returns the table.
pub(crate) fn measure(s: &Setup, runs: usize) -> Result<String> {
    let d = |p: &Path| p.display().to_string();
    let sources = store_sources(&s.bench.join("store"))?;
    let bytes: u64 = sources
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let copy_dir = s.bench.join("cp-a");
    let install: Vec<String> = [
        d(&s.binfmtd).as_str(),
        "install",
        "-q",
        "--mount",
        runner::MOUNT,
        "--config",
        d(&s.config_all_cold).as_str(),
    ]
    .map(String::from)
    .to_vec();
    let cp = format!(
        "cp -a {} {}",
        sources.iter().map(|p| d(p)).collect::<Vec<_>>().join(" "),
        d(&copy_dir)
    );
    let plain = vec!["sh".to_string(), "-c".into(), cp.clone()];
    let durable = vec![
        "sh".to_string(),
        "-c".into(),
        format!("{cp} && sync -f {}", d(&copy_dir)),
    ];
    let fresh_copy = || -> Result<()> {
        let _ = std::fs::remove_dir_all(&copy_dir);
        std::fs::create_dir_all(&copy_dir).context("creating the copy directory")
    };
    let (mut ours, mut cp_plain, mut cp_durable, mut rerun) = (vec![], vec![], vec![], vec![]);
    for _ in 0..runs {
        ours.push(run_once(
            s,
            &[format!("rm -rf {}", d(&s.cold_store_all))],
            &install,
            s.entries_all,
        )?);
        fresh_copy()?;
        cp_plain.push(run_once(s, &[], &plain, 0)?);
        fresh_copy()?;
        cp_durable.push(run_once(s, &[], &durable, 0)?);
        rerun.push(run_once(s, &[install.join(" ")], &install, s.entries_all)?);
    }
    let _ = std::fs::remove_dir_all(&copy_dir);
    let wall = |v: &[(f64, f64)]| stats::median(&v.iter().map(|x| x.0).collect::<Vec<_>>());
    let ratio = |base: &[(f64, f64)]| {
        stats::median(
            &ours
                .iter()
                .zip(base)
                .map(|(a, b)| a.0 / b.0.max(1.0))
                .collect::<Vec<_>>(),
        )
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nInstalling {} interpreters ({:.0} MB) into an empty directory, {runs} runs:\n",
        sources.len(),
        bytes as f64 / 1e6
    );
    let _ = writeln!(
        out,
        "| what | wall median | vs `cp -a` | vs `cp -a` + `sync -f` |"
    );
    let _ = writeln!(out, "| --- | ---: | ---: | ---: |");
    let _ = writeln!(
        out,
        "| `cp -a` of the same files | {} | 1.00× | |",
        stats::human(wall(&cp_plain))
    );
    let _ = writeln!(
        out,
        "| `cp -a` + `sync -f` (durable) | {} | | 1.00× |",
        stats::human(wall(&cp_durable))
    );
    let _ = writeln!(
        out,
        "| binfmtd first install (verify, copy, sha256, fsync, rename, register {} entries) | {} | {:.2}× | {:.2}× |",
        s.entries_all,
        stats::human(wall(&ours)),
        ratio(&cp_plain),
        ratio(&cp_durable)
    );
    let _ = writeln!(
        out,
        "| binfmtd unchanged re-run | {} | | |",
        stats::human(wall(&rerun))
    );
    Ok(out)
}

/// The files binfmtd copied into the full store: one `/usr/bin/qemu-*-static` per managed name.
fn store_sources(store: &Path) -> Result<Vec<PathBuf>> {
    let mut sources: Vec<PathBuf> = std::fs::read_dir(store)
        .with_context(|| format!("reading {}", store.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("qemu-") && !n.contains('.'))
        .map(|n| PathBuf::from(format!("/usr/bin/{n}-static")))
        .filter(|p| p.exists())
        .collect();
    sources.sort();
    Ok(sources)
}
