//! A static `binfmtd` for any image architecture: `cargo build --release --target <musl target>`,
//! linked by rust-lld (shipped with every Rust toolchain: no cross compiler, no C library from the
//! build host), `+crt-static` (some musl targets, riscv64gc among them, link dynamically by default).
//!
//! `rustup target add` provides the standard library. When the active toolchain's release has no
//! build of it (Rust 1.94 and 1.95 ship none for powerpc64le and riscv64gc musl), the pinned
//! [`FALLBACK_TOOLCHAIN`] is installed (minimal profile) and used for that target only.
//! The result lands in `target/<rust target>/release/binfmtd`: cargo's cache, reused by the next run.

use anyhow::{Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::arch::Arch;
use crate::{cargo, run};

/// The newest stable release that ships every image target's musl standard library.
const FALLBACK_TOOLCHAIN: &str = "1.93.0";

/// Builds the static binfmtd for `arch`; returns its path (not yet verified).
pub(crate) fn build(root: &Path, arch: &Arch) -> Result<PathBuf> {
    let target = arch.rust;
    let mut build = if rustup(&["target", "add", target]) {
        cargo()
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
                "cannot get a {target} standard library: `rustup {}` failed",
                install.join(" ")
            );
        }
        let mut c = Command::new("rustup");
        c.args(["run", FALLBACK_TOOLCHAIN, "cargo"]);
        c
    };
    let var = target.to_uppercase().replace('-', "_");
    build
        .args(["build", "--release", "-p", "binfmtd", "--bin", "binfmtd"])
        .args(["--target", target])
        .env(format!("CARGO_TARGET_{var}_LINKER"), "rust-lld")
        .env(
            format!("CARGO_TARGET_{var}_RUSTFLAGS"),
            "-C target-feature=+crt-static",
        );
    run(root, &mut build)?;
    Ok(root.join("target").join(target).join("release/binfmtd"))
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
