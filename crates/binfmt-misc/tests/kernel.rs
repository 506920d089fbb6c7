//! Real-kernel tests. Every test body runs inside a private user + mount namespace with its own
//! binfmt_misc instance (`binfmtd_tests::sandbox_test!`); the host's binfmt_misc is never touched.

#![allow(clippy::unwrap_used)] // Tests may unwrap (helpers included).
#![allow(clippy::disallowed_methods)] // These test the write API itself (clippy.toml).

mod common;

#[path = "kernel/basics.rs"]
mod basics;
#[path = "kernel/errors.rs"]
mod errors;
#[path = "kernel/exec.rs"]
mod exec;
#[path = "kernel/mount.rs"]
mod mount;
#[path = "kernel/order.rs"]
mod order;
#[path = "kernel/permission.rs"]
mod permission;
#[path = "kernel/replace.rs"]
mod replace;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use binfmt_misc::{BinfmtMisc, Rule};
use binfmtd_tests::fixtures::{ForeignBinary, Kind, foreign_binaries, qemu_static};

use crate::common::{AARCH64_MAGIC, ELF_MASK, magic, rule};

/// Opens the sandbox's instance.
fn open(mnt: &Path) -> BinfmtMisc {
    BinfmtMisc::open(mnt).unwrap()
}

/// The aarch64 row (QEMU's magic and mask) with the given interpreter and flags.
fn aarch64(name: &str, interpreter: &Path, flags: &str) -> Rule {
    rule(
        name,
        magic(0, AARCH64_MAGIC, Some(ELF_MASK)),
        interpreter.to_str().unwrap(),
        flags,
    )
}

/// The arm64 busybox-static fixture.
fn arm64_busybox() -> ForeignBinary {
    foreign_binaries()
        .into_iter()
        .find(|b| b.target.as_deref() == Some("aarch64") && b.kind == Kind::Busybox)
        .expect("the fixtures include busybox-static:arm64; re-run tests/fixtures.sh")
}

/// Runs a program; `Err` when execve itself fails (ENOEXEC, ENOENT…).
fn run(program: &Path, args: &[&str]) -> std::io::Result<Output> {
    Command::new(program).args(args).output()
}

/// Runs `busybox uname -m` through binfmt_misc and returns its stdout.
fn uname_m(busybox: &Path) -> std::io::Result<String> {
    let out = run(busybox, &["uname", "-m"])?;
    assert!(out.status.success(), "{out:?}");
    Ok(String::from_utf8(out.stdout).unwrap().trim().to_string())
}

/// Bookworm's static QEMU for aarch64.
fn qemu_aarch64() -> PathBuf {
    qemu_static("aarch64")
}
