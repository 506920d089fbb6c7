//! Unit tests for the interpreter module, against real binaries on this machine.
//!
//! They use `/usr/bin/qemu-aarch64-static` (qemu-user-static), `/bin/ls` and the foreign busybox
//! fixture from `tests/fixtures.sh`; a test whose input is missing prints why and returns, or
//! fails under `CI=true` ([`binfmtd_tests::skip`]).

mod discover;
mod sandboxed;
mod store;
mod verify;
mod version;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::HostMachine;

/// A real static-pie QEMU interpreter for this host.
pub(super) const QEMU: &str = "/usr/bin/qemu-aarch64-static";
/// A second, different real interpreter (the "upgraded" contents in store tests).
pub(super) const QEMU_OTHER: &str = "/usr/bin/qemu-arm-static";

/// Returns `path` if it exists, else skips (a failure under `CI=true`).
pub(super) fn need(path: &str) -> Option<PathBuf> {
    binfmtd_tests::need_path(path, path, "tests/setup.sh installs qemu-user-static")
}

/// The aarch64 busybox-static fixture (from `tests/fixtures.sh`'s manifest), else a skip (a
/// failure under `CI=true`).
pub(super) fn busybox_arm64() -> Option<PathBuf> {
    let found = binfmtd_tests::fixtures::foreign_binaries()
        .into_iter()
        .find(|b| {
            b.target.as_deref() == Some("aarch64")
                && b.kind == binfmtd_tests::fixtures::Kind::Busybox
        })
        .map(|b| b.path);
    if found.is_none() {
        binfmtd_tests::skip(
            "busybox arm64",
            "no aarch64 busybox in the fixtures (tests/fixtures.sh downloads it)",
        );
    }
    found
}

/// True when running as root, so copies are root-owned; skips otherwise.
pub(super) fn root() -> bool {
    let root = nix::unistd::geteuid().is_root();
    if !root {
        binfmtd_tests::skip(
            "root-owned copies",
            "needs root so that copies are root-owned",
        );
    }
    root
}

/// Copies `src` to `dir/name` with `mode`.
pub(super) fn copy_with_mode(src: &Path, dir: &Path, name: &str, mode: u32) -> PathBuf {
    let dst = dir.join(name);
    fs::copy(src, &dst).unwrap();
    fs::set_permissions(&dst, fs::Permissions::from_mode(mode)).unwrap();
    dst
}

/// This host's machine.
pub(super) fn host() -> HostMachine {
    HostMachine::current().unwrap()
}

/// SHA-256 of a file computed by `sha256sum`, independently of the code under test.
pub(super) fn sha256sum(path: &Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}
