//! Regression tests of issue 14's bugs 1–9, one test (or a few) per bug, each failing with the
//! binary from before the engine (commit dbec870, `BINFMTD_BIN=…` selects it) and passing now.
//! Every case runs in a private user-namespace binfmt_misc instance; where the store's
//! filesystem matters (copies, space) it is a tmpfs mounted inside the sandbox.
#![allow(clippy::unwrap_used)] // Test helpers may unwrap, as the tests do.

mod bugs;
mod daemon;
mod space;

use std::path::Path;
use std::process::Command;

use binfmtd_tests::bin::binfmtd;

use crate::cli_env::Env;

/// Mounts a tmpfs of `size` (a mount(8) size such as `64m`) at `dir` inside the sandbox, so that
/// the store does not share a filesystem with the interpreters (copies instead of hard links).
pub(super) fn tmpfs(env: &Env, dir: &Path, size: &str) {
    env.sh_ok(&format!(
        "mkdir -p {d} && mount -t tmpfs -o size={size},mode=0755 tmpfs {d}",
        d = dir.display()
    ));
}

/// `strace -f -qq -o /dev/null ARGS… binfmtd --mount M --config C BINFMTD_ARGS…` in the sandbox.
pub(super) fn under_strace(env: &Env, strace: &[&str], args: &[&str]) -> Command {
    let mut cmd = env.sb.command("strace");
    cmd.args(["-f", "-qq", "-o", "/dev/null"])
        .args(strace)
        .arg(binfmtd())
        .arg("--mount")
        .arg(env.sb.mount())
        .arg("--config")
        .arg(&env.config)
        .args(args);
    cmd
}

/// The names in the store (seen from outside), sorted.
pub(super) fn store_names(env: &Env) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(env.host_view(&env.store))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Whether strace(1) is here (tests/setup.sh installs it); skips (fails under CI) otherwise.
pub(super) fn have_strace(test: &str) -> bool {
    binfmtd_tests::need_path(test, "/usr/bin/strace", "tests/setup.sh installs strace").is_some()
}
