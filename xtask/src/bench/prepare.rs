//! Everything the benchmark needs, built or unpacked under `target/bench` without registering
//! anything on the host: a release binfmtd, the C floor, Debian's binfmt.d files for the common
//! job, binfmt-support's `update-binfmts` and qemu-user-binfmt's format files (downloaded and
//! unpacked, never installed: their maintainer scripts would register), configurations, and a
//! ready interpreter store.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Paths and counts shared by the benchmark modules.
pub(crate) struct Setup {
    pub(crate) bench: PathBuf,
    pub(crate) xtask: PathBuf,
    pub(crate) binfmtd: PathBuf,
    pub(crate) floor: PathBuf,
    pub(crate) systemd_binfmt: PathBuf,
    pub(crate) update_binfmts: PathBuf,
    pub(crate) admindir: PathBuf,
    pub(crate) importdir: PathBuf,
    pub(crate) lines: PathBuf,
    pub(crate) conf_files: Vec<PathBuf>,
    pub(crate) entries: usize,
    pub(crate) entries_all: usize,
    pub(crate) entries_binfmtd: usize,
    pub(crate) config: PathBuf,
    pub(crate) config_all: PathBuf,
    pub(crate) config_cold: PathBuf,
    pub(crate) config_all_cold: PathBuf,
    pub(crate) cold_store: PathBuf,
    pub(crate) cold_store_all: PathBuf,
}

/// Builds and unpacks everything (idempotent; downloads are cached).
pub(crate) fn prepare(root: &Path, bench: &Path) -> Result<Setup> {
    std::fs::create_dir_all(bench)?;
    let xtask = super::xtask_exe()?;
    ensure_packages(&["qemu-user-static", "strace", "gcc", "binutils"])?;
    run(
        Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .current_dir(root)
            .args(["build", "--release", "-p", "binfmtd"]),
    )?;
    let floor = bench.join("floor");
    run(Command::new("gcc")
        .args(["-O2", "-o"])
        .arg(&floor)
        .arg(root.join("xtask/bench/floor.c")))?;

    let binfmtd = root.join("target/release/binfmtd");
    let known = table_ids(&binfmtd)?;
    let (conf_files, names) = debian_conf_files(&known)?;
    let lines = bench.join("lines.txt");
    let mut text = String::new();
    for f in &conf_files {
        text.push_str(&first_rule_line(f)?);
        text.push('\n');
    }
    std::fs::write(&lines, text)?;

    let prefix = unpack(bench, &["binfmt-support", "qemu-user-binfmt"])?;
    let importdir = bench.join("importdir");
    let admindir = bench.join("admindir");
    let _ = std::fs::remove_dir_all(&importdir);
    let _ = std::fs::remove_dir_all(&admindir);
    std::fs::create_dir_all(&importdir)?;
    std::fs::create_dir_all(&admindir)?;
    for name in &names {
        let from = prefix.join("usr/share/binfmts").join(name);
        std::fs::copy(&from, importdir.join(name))
            .with_context(|| format!("copying {}", from.display()))?;
    }
    let update_binfmts = prefix.join("usr/sbin/update-binfmts");
    // Importing also enables in the kernel: do it in a throwaway sandbox.
    sandboxed(&[
        update_binfmts.display().to_string(),
        format!("--admindir={}", admindir.display()),
        format!("--importdir={}", importdir.display()),
        "--import".into(),
    ])?;

    let targets: Vec<String> = names
        .iter()
        .map(|n| format!("{:?}", n.trim_start_matches("qemu-")))
        .collect();
    let store = bench.join("store");
    let cold_store = bench.join("cold-store");
    let cold_store_all = bench.join("cold-store-all");
    let config = write_config(
        bench,
        "binfmtd.toml",
        &format!("targets = [{}]\nflags = \"OPF\"", targets.join(", ")),
        &store,
    )?;
    let config_all = write_config(bench, "binfmtd-all.toml", "targets = \"all\"", &store)?;
    let config_cold = write_config(
        bench,
        "binfmtd-cold.toml",
        &format!("targets = [{}]\nflags = \"OPF\"", targets.join(", ")),
        &cold_store,
    )?;
    let config_all_cold = write_config(
        bench,
        "binfmtd-all-cold.toml",
        "targets = \"all\"",
        &cold_store_all,
    )?;
    // Fill the store once, and learn how many entries binfmtd registers for each job (its table
    // has two microblaze rows where Debian has one).
    let entries_all = learn_entries(&xtask, &binfmtd, &config_all)?;
    let entries_binfmtd = learn_entries(&xtask, &binfmtd, &config)?;
    Ok(Setup {
        bench: bench.to_path_buf(),
        xtask,
        binfmtd,
        floor,
        systemd_binfmt: PathBuf::from("/lib/systemd/systemd-binfmt"),
        update_binfmts,
        admindir,
        importdir,
        lines,
        entries: conf_files.len(),
        conf_files,
        entries_all,
        entries_binfmtd,
        config,
        config_all,
        config_cold,
        config_all_cold,
        cold_store,
        cold_store_all,
    })
}

/// Runs `binfmtd install` with `config` in a sandbox and returns how many entries it made.
fn learn_entries(xtask: &Path, binfmtd: &Path, config: &Path) -> Result<usize> {
    let out = Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "--"])
        .arg(xtask)
        .args(["bench-run", "-", "--"])
        .arg(binfmtd)
        .args(["install", "-q", "--mount", super::runner::MOUNT, "--config"])
        .arg(config)
        .output()?;
    if !out.status.success() {
        bail!(
            "binfmtd install --config {}: {}",
            config.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(2)
        .and_then(|n| n.parse().ok())
        .context("unexpected runner output")
}

/// The row ids of binfmtd's table (`binfmtd table --json`).
fn table_ids(binfmtd: &Path) -> Result<Vec<String>> {
    let out = Command::new(binfmtd).args(["table", "--json"]).output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("\"id\": \""))
        .filter_map(|l| l.split('"').next())
        .map(str::to_string)
        .collect())
}

/// Debian's `/usr/lib/binfmt.d/qemu-*.conf` whose interpreter exists and whose target QEMU still
/// has (bookworm also ships cris, removed from QEMU): the common job, and their entry names.
fn debian_conf_files(known: &[String]) -> Result<(Vec<PathBuf>, Vec<String>)> {
    let mut files = Vec::new();
    let mut names = Vec::new();
    let mut paths: Vec<PathBuf> = std::fs::read_dir("/usr/lib/binfmt.d")
        .context("reading /usr/lib/binfmt.d (install qemu-user-static)")?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("qemu-"))
        })
        .collect();
    paths.sort();
    for path in paths {
        let line = first_rule_line(&path)?;
        let delim = line.chars().next().context("empty rule")?;
        let fields: Vec<&str> = line[1..].split(delim).collect();
        let id = fields[0].trim_start_matches("qemu-");
        if fields.len() >= 7 && Path::new(fields[5]).exists() && known.iter().any(|k| k == id) {
            names.push(fields[0].to_string());
            files.push(path);
        }
    }
    if files.is_empty() {
        bail!("no usable /usr/lib/binfmt.d/qemu-*.conf: install qemu-user-static");
    }
    Ok((files, names))
}

fn first_rule_line(path: &Path) -> Result<String> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .find(|l| !l.trim().is_empty() && !l.starts_with('#') && !l.starts_with(';'))
        .map(str::to_string)
        .with_context(|| format!("no rule in {}", path.display()))
}

/// Downloads (cached) and unpacks Debian packages into one prefix.
fn unpack(bench: &Path, packages: &[&str]) -> Result<PathBuf> {
    let debs = bench.join("debs");
    let prefix = bench.join("prefix");
    std::fs::create_dir_all(&debs)?;
    for pkg in packages {
        let have = std::fs::read_dir(&debs)?.filter_map(|e| e.ok()).any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("{pkg}_"))
        });
        if !have {
            run(Command::new("apt-get")
                .current_dir(&debs)
                .args(["download", "-q", pkg]))?;
        }
        let deb = std::fs::read_dir(&debs)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(&format!("{pkg}_")))
            })
            .with_context(|| format!("{pkg} was not downloaded"))?;
        run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&prefix))?;
    }
    Ok(prefix)
}

fn write_config(bench: &Path, name: &str, body: &str, store: &Path) -> Result<PathBuf> {
    let path = bench.join(name);
    std::fs::write(
        &path,
        format!("{body}\ninstall_dir = {:?}\n", store.display().to_string()),
    )?;
    Ok(path)
}

/// Runs a command in a throwaway sandbox with its own binfmt_misc.
fn sandboxed(argv: &[String]) -> Result<()> {
    let xtask = super::xtask_exe()?;
    let out = Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "--"])
        .arg(xtask)
        .args(["bench-run", "-", "--"])
        .args(argv)
        .output()?;
    if !out.status.success() {
        bail!("{argv:?}: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

pub(crate) fn ensure_packages(packages: &[&str]) -> Result<()> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| {
            !Command::new("dpkg-query")
                .args(["-W", "-f=${Status}", p])
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        })
        .collect();
    if !missing.is_empty() {
        run(Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&missing))?;
    }
    Ok(())
}

fn run(cmd: &mut Command) -> Result<()> {
    let out = cmd.output().with_context(|| format!("starting {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// One line describing the machine and the date, for the results table.
pub(crate) fn machine_line() -> String {
    let sh = |c: &str| {
        Command::new("sh")
            .args(["-c", c])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    format!(
        "Machine: {} · {} CPUs · Linux {} · {}",
        sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'"),
        sh("nproc"),
        sh("uname -r"),
        sh("date -u +%Y-%m-%d")
    )
}
