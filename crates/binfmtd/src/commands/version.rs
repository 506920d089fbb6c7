//! `binfmtd --version`: binfmtd's version and the version of the QEMU it would register (how
//! users debug a QEMU crash: which build runs their foreign binaries).

use anyhow::Result;
use std::path::PathBuf;

use crate::cli::GlobalArgs;
use crate::config::{self, ConfigSource};
use crate::interpreter;

/// Prints `binfmtd <version> qemu/<version> (<path>)` on stdout.
pub fn run(global: &GlobalArgs) -> Result<()> {
    let mut line = format!("binfmtd {}", env!("CARGO_PKG_VERSION"));
    match qemu(global) {
        Some((version, path)) => line.push_str(&format!(" qemu/{version} ({})", path.display())),
        None => line.push_str(" qemu/none (no QEMU interpreter found)"),
    }
    println!("{line}");
    Ok(())
}

/// The version of the first QEMU interpreter binfmtd finds (configured directories first), and
/// its path. A bad configuration falls back to the default directories: `--version` must work.
fn qemu(global: &GlobalArgs) -> Option<(String, PathBuf)> {
    let source = match &global.config {
        Some(file) => ConfigSource::File(file.clone()),
        None => ConfigSource::System {
            dir: PathBuf::from(config::SYSTEM_DIR),
        },
    };
    let mut dirs = config::load(&source)
        .map(|s| s.interpreter_dirs)
        .unwrap_or_default();
    if let Some(path) = std::env::var_os("QEMU_BINARY_PATH").filter(|p| !p.is_empty()) {
        dirs.insert(0, PathBuf::from(path));
    }
    use elf_magic::Target;
    let native = elf_magic::native_target(std::env::consts::ARCH);
    // The QEMU people most often run: arm64's, or amd64's on an arm64 host; then any.
    [Target::Aarch64, Target::X86_64]
        .iter()
        .chain(Target::ALL.iter())
        .filter(|&&t| Some(t) != native)
        .flat_map(|&t| interpreter::candidates(t, &dirs))
        .find_map(|path| interpreter::qemu_version(&path).map(|v| (v, path)))
}
