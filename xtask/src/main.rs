//! Maintainer tasks for binfmtd (`cargo xtask <task>`).
//!
//! - `ci`: exactly what CI runs: install test dependencies (`tests/setup.sh`), `cargo fmt --check`,
//!   `cargo clippy -D warnings`, build, then every test.
//! - `setup`: only the dependency installation.
//! - `run`: the main job on this machine: install Debian's static QEMU if missing, build binfmtd in
//!   release mode and register every non-native emulator with the built-in default configuration.
//! - `bench`: whole-process benchmarks against the tools people use today (see `bench/`);
//!   `bench emulated`: foreign work under each QEMU build (`bench/emulated/`), smoke-run by `ci`.
//! - `dist [--target ARCH]`: a static `binfmtd` for x86_64 or aarch64, verified static, with its
//!   install tree (`dist.rs`).
//! - `system-test`: the systemd test of `binfmtd.service` in an nspawn-booted Debian
//!   (`system_test.rs`, `tests/system/`); also the last step of `ci`.
//! - `image`, `image-test`: the multi-arch container image (buildah), tested served from a registry
//!   to a sandboxed dockerd, its arm64 half booted on an arm64 guest.
//! - `deb [--target ARCH]`, `deb-test`: the Debian package (cargo-deb, amd64 or arm64), lintian,
//!   an install test under systemd.
//! - `ansible-test`: the Ansible role, linted and run against a booted systemd container.
//! - `vm-test`: real Debian kernels (5.10 to 7.3, amd64 and arm64) booted under qemu-system,
//!   each running the scenario of `tests/vm/` (`vm/`).
//! - `vm-system`: Debian 12 and 13 full-system guests (systemd, the distribution's QEMU) booted
//!   under qemu-system, the coexistence steps of `tests/vm-system/` (`vm/system/`); the last step
//!   of `ci`.

mod ansible;
mod bench;
mod deb;
mod dist;
mod image;
mod system_test;
mod vm;

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
        Some("bench") => bench::main(&root, &args[1..]),
        Some("bench-run") => bench::run_inner(&args[1..]),
        Some("bench-daemon") => bench::daemon_inner(&args[1..]),
        Some("bench-emulated-run") => bench::emulated_inner(&args[1..]),
        Some("dist") => dist::dist(&root, dist::Arch::from_args(&args[1..])?).map(|_| ()),
        Some("deb") => deb::deb(&root, dist::Arch::from_args(&args[1..])?).map(|_| ()),
        Some("deb-test") => deb::deb_test(&root),
        Some("ansible-test") => ansible::ansible_test(&root),
        Some("system-test") => system_test::run(&root),
        Some("image") => image::image(&root, &args[1..]),
        Some("image-test") => image::image_test(&root, &args[1..]),
        Some("vm-test") => vm::vm_test(&root, &args[1..]),
        Some("vm-system") => vm::vm_system(&root, &args[1..]),
        _ => {
            eprintln!("usage: cargo xtask <ci|setup|run>");
            eprintln!("  ci     install test dependencies, then fmt, clippy, build and every test");
            eprintln!(
                "  setup  install test dependencies only (Debian packages, foreign fixtures)"
            );
            eprintln!(
                "  run    install static QEMU (qemu-user-static or qemu-user), build binfmtd, register all emulators"
            );
            eprintln!("  bench  binfmtd vs systemd-binfmt, update-binfmts and the floor");
            eprintln!("         [--runs N] [--cycles N (daemon restores)] [--idle SECONDS]");
            eprintln!(
                "  bench store  first install into an empty store vs `cp -a`, and its extra disk"
            );
            eprintln!("         [--runs N (default 5)]");
            eprintln!(
                "  bench emulated  foreign busybox work under each QEMU build, via binfmt_misc"
            );
            eprintln!("         [--runs N] [--size MiB] [--smoke (1 MiB, one run)]");
            eprintln!("  dist   static binfmtd (verified) and its install tree in target/dist/");
            eprintln!("         [--target x86_64|aarch64]");
            eprintln!("  system-test  boot Debian under systemd-nspawn and test binfmtd.service");
            eprintln!("  image  the multi-arch container image (target/image/binfmtd.oci.tar)");
            eprintln!("         [--arch amd64,arm64,ppc64le,riscv64|all] (default amd64,arm64)");
            eprintln!("  deb    the Debian package (target/debian/), lintian-checked");
            eprintln!("         [--target x86_64|aarch64]");
            eprintln!("  deb-test  deb, then install and purge it under systemd (nspawn)");
            eprintln!("  ansible-test  lint the Ansible role and run it under systemd (nspawn)");
            eprintln!(
                "  image-test  build the image, serve it from a registry and test it [--arch]"
            );
            eprintln!("  vm-test  boot Debian kernels 5.10-7.3 (amd64, arm64) under QEMU and run");
            eprintln!(
                "         tests/vm/ in each [--cell PATTERN] [--jobs N] [--timeout S] [--list]"
            );
            eprintln!(
                "  vm-system  boot Debian 12 and 13 full systems (systemd, distro QEMU) and run"
            );
            eprintln!("         tests/vm-system/ in each [--suite bookworm|trixie] [--timeout S]");
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
    )?;
    system_test::run(root)?;
    // linux/amd64 and linux/arm64 (the default): `--arch all` would add a second toolchain.
    image::image_test(root, &[])?;
    // Emulated work under every QEMU build (the image's too, now built): must run, not be fast.
    bench::main(root, &["emulated".into(), "--smoke".into()])?;
    deb::deb_test(root)?;
    ansible::ansible_test(root)?;
    deb::deb(root, dist::Arch::Aarch64)?;
    vm::vm_test(root, &[])?;
    vm::vm_system(root, &[])
}

fn main_job(root: &Path, extra: &[String]) -> Result<()> {
    // Debian's static QEMU: qemu-user-static on Debian 12, qemu-user from Debian 13 on (where
    // qemu-user-static is transitional, then gone); packaging/qemu-package.sh picks it.
    // --no-install-recommends: trixie's qemu-user would pull qemu-user-binfmt (its own entries).
    run(
        root,
        Command::new("sh").args([
            "-c",
            "installed() { dpkg-query -W -f='${Status}' \"$1\" 2>/dev/null | grep -q 'ok installed'; }
             installed \"$(sh packaging/qemu-package.sh)\" && exit 0
             export DEBIAN_FRONTEND=noninteractive
             apt-get -q update
             apt-get -q install -y --no-install-recommends \"$(sh packaging/qemu-package.sh)\"",
        ]),
    )?;
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
