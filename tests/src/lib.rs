//! Test harness for binfmtd.
//!
//! Three things every real-system test needs, in one place:
//! - [`fixtures`]: real foreign-architecture binaries from Debian (downloaded by `tests/fixtures.sh`)
//!   and the QEMU interpreters installed from Debian's `qemu-user-static`;
//! - [`sandbox`]: private binfmt_misc instances in user namespaces, so no test ever touches the
//!   host's binfmt_misc ([`sandbox_test!`] for a test whose body runs inside one, [`sandbox::Sandbox`]
//!   for multi-step scenarios);
//! - [`bin`]: the built `binfmtd` binary;
//! - [`skip`]: the one way a test says it cannot run here (a failure under `CI=true`).

pub mod bin;
pub mod fixtures;
pub mod sandbox;

/// Whether this is a CI run (`CI` set to anything but empty or `false`): there, a test that
/// cannot run is a failure, never a skip.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false")
}

/// Reports that `test` cannot run here: prints `skipping <test>: <reason>` and returns, except
/// under `CI=true`, where it panics (CI machines have everything the tests need). The one skip
/// helper of every crate's tests.
pub fn skip(test: &str, reason: impl std::fmt::Display) {
    if in_ci() {
        panic!("{test}: cannot run on this machine, and CI must not skip: {reason}");
    }
    eprintln!("skipping {test}: {reason}");
}

/// `path` if it exists; otherwise [`skip`]s `test` naming what provides it, and `None`.
pub fn need_path(
    test: &str,
    path: impl AsRef<std::path::Path>,
    provider: &str,
) -> Option<std::path::PathBuf> {
    let path = path.as_ref();
    if path.exists() {
        return Some(path.to_path_buf());
    }
    skip(test, format!("{} is missing ({provider})", path.display()));
    None
}
