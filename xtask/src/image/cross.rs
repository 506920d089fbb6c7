//! A static `binfmtd` for any image architecture.
//!
//! amd64 and arm64 are `cargo xtask dist`'s own builds ([`dist::static_binary`]: same target
//! directory, linker and flags), so CI compiles each once for the image, the `.deb` and the VM
//! bench. The others are `cargo build --release --target <musl target>` linked by rust-lld
//! (shipped with every Rust toolchain: no cross compiler, no C library from the build host), with
//! `+crt-static` where the target does not link statically by default (riscv64gc musl).
//!
//! `rustup target add` provides the standard library. When the active toolchain's release has no
//! build of it (Rust 1.94 and 1.95 ship none for powerpc64le and riscv64gc musl), the pinned
//! [`FALLBACK_TOOLCHAIN`] is installed (minimal profile: 12 s and 850 MB here) and used for that
//! target only; this, and a cold build per target, is why the default (and CI) is amd64 and arm64.
//! Their cargo cache is `target/image/cargo`, apart from `target/`: another toolchain and linker
//! change every crate's fingerprint, and sharing the directory would rebuild all of them each time.

use anyhow::{Context, Result, bail, ensure};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::arch::Arch;
use crate::{cargo, dist, run};

/// The newest stable release that ships every image target's musl standard library.
const FALLBACK_TOOLCHAIN: &str = "1.93.0";

/// Cargo's target directory for the image's builds.
const TARGET_DIR: &str = "target/image/cargo";

/// Builds the static binfmtd for `arch`; returns its path (not yet verified).
pub(crate) fn build(root: &Path, arch: &Arch) -> Result<PathBuf> {
    if let Some(shared) = arch.dist {
        return dist::static_binary(root, shared);
    }
    let target = arch.rust;
    let toolchain = if rustup(&["target", "add", target]) {
        None
    } else {
        eprintln!(
            "image: the active toolchain has no {target} standard library; using Rust {FALLBACK_TOOLCHAIN}"
        );
        let install = [
            "toolchain",
            "install",
            FALLBACK_TOOLCHAIN,
            "--profile",
            "minimal",
            "--target",
            target,
        ];
        if !rustup(&install) {
            bail!(
                "linux/{}: cannot get a {target} standard library: `rustup {}` failed \
                 (run it to see why, or build fewer platforms: --arch amd64,arm64)",
                arch.oci,
                install.join(" ")
            );
        }
        Some(FALLBACK_TOOLCHAIN)
    };
    let var = target.to_uppercase().replace('-', "_");
    let mut build = tool(toolchain, "cargo");
    build
        .args(["build", "--release", "-p", "binfmtd", "--bin", "binfmtd"])
        .args(["--target", target])
        .arg("--target-dir")
        .arg(root.join(TARGET_DIR))
        .env(format!("CARGO_TARGET_{var}_LINKER"), "rust-lld");
    // Only where needed: other RUSTFLAGS than `cargo xtask dist`'s would rebuild every crate.
    if !static_by_default(toolchain, target)? {
        build.env(
            format!("CARGO_TARGET_{var}_RUSTFLAGS"),
            "-C target-feature=+crt-static",
        );
    }
    run(root, &mut build)?;
    Ok(root.join(TARGET_DIR).join(target).join("release/binfmtd"))
}

/// `cargo` or `rustc` of the active toolchain, or of `toolchain`.
fn tool(toolchain: Option<&str>, name: &str) -> Command {
    match toolchain {
        None if name == "cargo" => cargo(),
        None => Command::new(name),
        Some(t) => {
            let mut c = Command::new("rustup");
            c.args(["run", t, name]);
            c
        }
    }
}

/// True if `target` links statically without asking (`rustc --print cfg` has crt-static).
fn static_by_default(toolchain: Option<&str>, target: &str) -> Result<bool> {
    let out = tool(toolchain, "rustc")
        .args(["--print", "cfg", "--target", target])
        .output()
        .context("cannot run rustc --print cfg")?;
    ensure!(
        out.status.success(),
        "rustc --print cfg --target {target} failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l == "target_feature=\"crt-static\""))
}

/// Runs rustup quietly; true if it succeeded.
fn rustup(args: &[&str]) -> bool {
    Command::new("rustup")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
