//! Installing interpreters: binfmtd's first install of every interpreter it needs into an empty
//! store (verify, hard-link or copy, record, fsync, rename, register) against `cp -a` of the same
//! files, plain and followed by `sync -f` (binfmtd's store is durable before it reports success,
//! `cp -a` leaves dirty pages behind), and binfmtd's unchanged re-run, all in the same rounds.
//! Ratios are medians of per-round ratios. Also the disk the store costs beyond the sources:
//! the blocks of every store file that is not one of the sources' inodes (a hard link costs
//! none). `target/bench` is on the same filesystem as `/usr/bin` wherever the workspace is on
//! the root filesystem, so binfmtd can link there. Then the same first install into a store on a
//! tmpfs (no link possible: a copy, hashed on the way) against `cp -a` to a tmpfs.

use anyhow::{Context, Result};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::os::unix::fs::MetadataExt;
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
    // A store on another filesystem (a tmpfs mounted in the run's namespace): binfmtd copies.
    // (Setup steps are split at spaces, not run by a shell.)
    let tmpfs = |dir: &Path| {
        vec![
            format!("mkdir -p {}", d(dir)),
            format!("mount -t tmpfs -o size=1g,mode=0755 tmpfs {}", d(dir)),
        ]
    };
    let (mut ours, mut cp_plain, mut cp_durable, mut rerun) = (vec![], vec![], vec![], vec![]);
    let (mut ours_copying, mut cp_tmpfs) = (vec![], vec![]);
    for _ in 0..runs {
        ours_copying.push(run_once(
            s,
            &[
                vec![format!("rm -rf {}", d(&s.cold_store_all))],
                tmpfs(&s.cold_store_all),
            ]
            .concat(),
            &install,
            s.entries_all,
        )?);
        fresh_copy()?;
        cp_tmpfs.push(run_once(s, &tmpfs(&copy_dir), &plain, 0)?);
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
    // The last round's re-run left the complete store behind.
    let disk = extra_disk(&s.cold_store_all, &sources)?;
    let wall = |v: &[(f64, f64)]| stats::median(&v.iter().map(|x| x.0).collect::<Vec<_>>());
    let ratio_of = |ours: &[(f64, f64)], base: &[(f64, f64)]| {
        stats::median(
            &ours
                .iter()
                .zip(base)
                .map(|(a, b)| a.0 / b.0.max(1.0))
                .collect::<Vec<_>>(),
        )
    };
    let ratio = |base: &[(f64, f64)]| ratio_of(&ours, base);
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
        "| binfmtd first install (verify, link or copy, fsync, rename, register {} entries) | {} | {:.2}× | {:.2}× |",
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
    let _ = writeln!(
        out,
        "\nThe store on another filesystem (a tmpfs): no link is possible, so binfmtd copies, \
         hashing on the way (the digest recognises the copy after an interrupted run):\n"
    );
    let _ = writeln!(out, "| what | wall median | vs `cp -a` to the tmpfs |");
    let _ = writeln!(out, "| --- | ---: | ---: |");
    let _ = writeln!(
        out,
        "| `cp -a` of the same files to the tmpfs | {} | 1.00× |",
        stats::human(wall(&cp_tmpfs))
    );
    let _ = writeln!(
        out,
        "| binfmtd first install into the tmpfs (verify, copy + SHA-256, fsync, rename, register) | {} | {:.2}× |",
        stats::human(wall(&ours_copying)),
        ratio_of(&ours_copying, &cp_tmpfs)
    );
    let _ = writeln!(
        out,
        "\nExtra disk of the store: {:.2} MB ({:.2} % of the {:.0} MB of interpreters); {} of {} \
         interpreters hard-linked to their source.",
        disk.extra as f64 / 1e6,
        100.0 * disk.extra as f64 / (bytes.max(1)) as f64,
        bytes as f64 / 1e6,
        disk.linked,
        disk.files
    );
    Ok(out)
}

/// What the store costs on disk beyond its sources.
struct Disk {
    /// Bytes allocated to store files that are not a source's inode (and to the directory).
    extra: u64,
    /// Interpreters in the store.
    files: usize,
    /// Of which hard links to a source.
    linked: usize,
}

fn extra_disk(store: &Path, sources: &[PathBuf]) -> Result<Disk> {
    let inodes: BTreeSet<(u64, u64)> = sources
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| (m.dev(), m.ino()))
        .collect();
    let dir = std::fs::metadata(store).with_context(|| format!("stat {}", store.display()))?;
    let mut disk = Disk {
        extra: dir.blocks() * 512,
        files: 0,
        linked: 0,
    };
    for item in std::fs::read_dir(store).with_context(|| format!("reading {}", store.display()))? {
        let meta = item?.metadata()?;
        if !meta.is_file() {
            continue;
        }
        let interpreter = meta.len() > 1 << 20;
        if interpreter {
            disk.files += 1;
        }
        if inodes.contains(&(meta.dev(), meta.ino())) {
            disk.linked += usize::from(interpreter);
        } else {
            disk.extra += meta.blocks() * 512;
        }
    }
    Ok(disk)
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
