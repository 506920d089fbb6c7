//! `cargo xtask deb [--target ARCH]`: the Debian package, built from the static binary and
//! checked by lintian; ARCH is `x86_64`/`amd64` (default on x86-64) or `aarch64`/`arm64`.
//!
//! Steps: `dist` (static binary and install tree), `cargo deb --no-build` with the metadata in
//! `crates/binfmtd/Cargo.toml` (cargo-deb is installed with `cargo install --locked` when missing,
//! once per machine: ≈95 s), a check of the package's contents, then
//! `lintian --fail-on error,warning` (overrides in `packaging/debian/lintian-overrides`, each
//! justified there). The package lands in `target/debian/`.
//!
//! `cargo xtask deb-test` then installs it into a booted systemd container and purges it again
//! (`tests/packaging/deb.sh`, on the systemd test's debootstrapped rootfs).

use anyhow::{Context, Result, ensure};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::dist::{self, Arch};
use crate::{cargo, run};

/// The cargo-deb version the metadata is written for.
const CARGO_DEB: &str = "3.8.0";

/// Files the package must contain (as `dpkg-deb -c` prints them).
const EXPECTED: &[&str] = &[
    "./usr/bin/binfmtd",
    "./usr/lib/systemd/system/binfmtd.service",
    "./usr/lib/systemd/system/proc-sys-fs-binfmt_misc.mount.d/binfmtd.conf",
    "./etc/binfmtd/binfmtd.toml",
    "./usr/share/man/man8/binfmtd.8.gz",
    "./usr/share/doc/binfmtd/changelog.Debian.gz",
    "./usr/share/doc/binfmtd/copyright",
];

/// `cargo xtask deb-test`: [`deb`] for this machine, then the install/purge test under systemd.
pub(crate) fn deb_test(root: &Path) -> Result<()> {
    let package = deb(root, Arch::host())?;
    // Which QEMU apt picks with the package on bookworm, trixie and sid (its Recommends).
    run(
        root,
        Command::new("bash")
            .arg("tests/packaging/apt-resolution.sh")
            .arg(&package),
    )?;
    run(
        root,
        Command::new("bash")
            .arg("tests/packaging/deb.sh")
            .arg(&package),
    )
}

/// Builds, checks and lints the package for `arch`; returns its path.
pub(crate) fn deb(root: &Path, arch: Arch) -> Result<PathBuf> {
    dist::dist(root, arch)?;
    let has_cargo_deb = cargo()
        .args(["deb", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_cargo_deb {
        run(
            root,
            cargo().args(["install", "--locked", "cargo-deb", "--version", CARGO_DEB]),
        )?;
    }
    let out_dir = root.join("target/debian");
    std::fs::create_dir_all(&out_dir)?;
    let output = cargo()
        .current_dir(root)
        .args([
            "deb",
            "-p",
            "binfmtd",
            "--no-build",
            "--no-strip",
            "--target",
        ])
        .arg(arch.musl())
        .arg("-o")
        .arg(&out_dir)
        .output()
        .context("cannot run cargo deb")?;
    ensure!(
        output.status.success(),
        "cargo deb failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let package = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim().to_string());
    ensure!(
        package.is_file(),
        "cargo deb did not print the package path"
    );
    check_contents(&package, arch)?;
    run(
        root,
        Command::new("lintian")
            .args(["--allow-root", "--fail-on", "error,warning", "--info"])
            .arg(&package),
    )?;
    eprintln!(
        "deb: {} built, contents checked, lintian clean",
        package.display()
    );
    Ok(package)
}

/// The files, conffiles, control fields and architecture the package must have.
fn check_contents(package: &Path, arch: Arch) -> Result<()> {
    let dpkg = |args: &[&str]| -> Result<String> {
        let out = Command::new("dpkg-deb")
            .args(args)
            .arg(package)
            .output()
            .context("cannot run dpkg-deb")?;
        ensure!(out.status.success(), "dpkg-deb {args:?} failed");
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let files = dpkg(&["-c"])?;
    for want in EXPECTED {
        ensure!(
            files.lines().any(|l| l.ends_with(want)),
            "{} lacks {want}",
            package.display()
        );
    }
    let conffiles = Command::new("dpkg-deb")
        .arg("-I")
        .arg(package)
        .arg("conffiles")
        .output()
        .context("cannot run dpkg-deb")?;
    ensure!(
        String::from_utf8_lossy(&conffiles.stdout)
            .lines()
            .any(|l| l == "/etc/binfmtd/binfmtd.toml"),
        "/etc/binfmtd/binfmtd.toml must be a conffile"
    );
    let control = dpkg(&["-f"])?;
    // Debian's static QEMU on every generation: qemu-user from 1:9.1.0+ds-1 (Debian 13 on),
    // qemu-user-static before (Debian 12, where qemu-user is dynamic); apt-resolution.sh checks
    // what apt makes of it.
    ensure!(
        control.contains("Recommends: qemu-user (>= 1:9.1.0+ds-1) | qemu-user-static"),
        "the package must recommend `qemu-user (>= 1:9.1.0+ds-1) | qemu-user-static`"
    );
    ensure!(
        control
            .lines()
            .any(|l| l == format!("Architecture: {}", arch.debian())),
        "{} is not for {}",
        package.display(),
        arch.debian()
    );
    // The binary inside must be the one for `arch` (not whatever the stage held before).
    let tmp = package.with_extension("check");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)?;
    }
    let status = Command::new("dpkg-deb")
        .arg("-x")
        .arg(package)
        .arg(&tmp)
        .status()
        .context("cannot run dpkg-deb")?;
    ensure!(status.success(), "dpkg-deb -x {} failed", package.display());
    let binary = tmp.join("usr/bin/binfmtd");
    dist::verify_static(&binary)?;
    dist::verify_machine(&binary, arch)?;
    std::fs::remove_dir_all(&tmp)?;
    Ok(())
}
