//! Locating the built `binfmtd` binary.
//!
//! Cargo sets `CARGO_BIN_EXE_binfmtd` only for the tests of the package that defines the binary;
//! the end-to-end tests live in their own package, so they find it next to their own executable
//! (`target/<profile>/deps/it-…` → `target/<profile>/binfmtd`). The README's test command builds it
//! first; `$BINFMTD_BIN` overrides the location (e.g. to test a release or static build).

use std::path::PathBuf;

/// Path of the `binfmtd` binary under test.
///
/// # Panics
/// When it has not been built: `cargo build -p binfmtd`.
pub fn binfmtd() -> PathBuf {
    if let Some(path) = std::env::var_os("BINFMTD_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("locating the test binary");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary lives in target/<profile>/deps");
    let path = profile_dir.join("binfmtd");
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build -p binfmtd` first (the README's test command does)",
        path.display()
    );
    path
}
