//! Maintainer tasks for binfmtd (`cargo xtask <task>`).
//!
//! - `ci`: exactly what CI runs: install test dependencies (`tests/setup.sh`), `cargo fmt --check`,
//!   `cargo clippy -D warnings`, build, then every test.
//! - `setup`: only the dependency installation.
//! - `run`: the main job on this machine: install Debian's static QEMU if missing, build binfmtd in
//!   release mode and register every non-native emulator with the built-in default configuration.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root()?;
    match args.first().map(String::as_str) {
        Some("ci") => ci(&root),
        Some("setup") => run(&root, Command::new("bash").arg("tests/setup.sh")),
        Some("run") => main_job(&root, &args[1..]),
        _ => {
            eprintln!("usage: cargo xtask <ci|setup|run>");
            eprintln!("  ci     install test dependencies, then fmt, clippy, build and every test");
            eprintln!(
                "  setup  install test dependencies only (Debian packages, foreign fixtures)"
            );
            eprintln!("  run    install qemu-user-static, build binfmtd, register all emulators");
            bail!("unknown or missing task")
        }
    }
}

fn ci(root: &Path) -> Result<()> {
    run(root, Command::new("bash").arg("tests/setup.sh"))?;
    run(root, cargo().args(["fmt", "--all", "--", "--check"]))?;
    run(
        root,
        cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    run(root, cargo().args(["build", "--workspace", "--bins"]))?;
    run(
        root,
        cargo().args(["test", "--workspace", "--no-fail-fast"]),
    )
}

fn main_job(root: &Path, extra: &[String]) -> Result<()> {
    if !Path::new("/usr/bin/qemu-aarch64-static").exists() {
        run(
            root,
            Command::new("sh").args([
                "-c",
                "export DEBIAN_FRONTEND=noninteractive; apt-get -q update && \
                 apt-get -q install -y --no-install-recommends qemu-user-static",
            ]),
        )?;
    }
    run(root, cargo().args(["build", "--release", "-p", "binfmtd"]))?;
    let mut job = Command::new(root.join("target/release/binfmtd"));
    if extra.is_empty() {
        job.arg("install");
    } else {
        job.args(extra);
    }
    run(root, &mut job)
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn run(root: &Path, cmd: &mut Command) -> Result<()> {
    eprintln!("xtask: running {cmd:?}");
    let status = cmd
        .current_dir(root)
        .status()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

fn workspace_root() -> Result<PathBuf> {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR").context("run me as `cargo xtask`")?;
    Path::new(&manifest)
        .parent()
        .map(Path::to_path_buf)
        .context("xtask lives one level below the workspace root")
}
