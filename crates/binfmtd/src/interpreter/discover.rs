//! Discovery: where to look for `qemu-<t>-static` and `qemu-<t>`.
//!
//! Directories are searched in order (configured ones first, then [`DEFAULT_DIRS`]); within each
//! directory the `-static` name wins over the plain one. Discovery only checks that something
//! exists at the path; [`verify`](super::verify) decides whether it is usable.

use std::path::{Path, PathBuf};

use elf_magic::Target;

/// Where distributions install QEMU user-mode emulators, searched after the configured directories.
pub const DEFAULT_DIRS: &[&str] = &["/usr/bin", "/usr/local/bin", "/usr/libexec/qemu-binfmt"];

/// Finds the interpreter for `target`: first match in `dirs`, then in [`DEFAULT_DIRS`].
pub fn discover(target: Target, dirs: &[PathBuf]) -> Option<PathBuf> {
    candidates(target, dirs).into_iter().next()
}

/// Every existing interpreter for `target` in search order (configured `dirs`, then
/// [`DEFAULT_DIRS`]), so a caller can fall back when the first one fails verification.
pub fn candidates(target: Target, dirs: &[PathBuf]) -> Vec<PathBuf> {
    let defaults = DEFAULT_DIRS.iter().map(PathBuf::from);
    let all: Vec<PathBuf> = dirs.iter().cloned().chain(defaults).collect();
    candidates_in(target.qemu_binary(), &all)
}

/// Every existing `<dir>/<binary>-static` or `<dir>/<binary>` in `dirs`, in search order.
///
/// `binary` is the QEMU program name (`qemu-aarch64`); the default directories are not added,
/// which makes this the injectable core of [`discover`] and [`candidates`].
pub fn candidates_in(binary: &str, dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for dir in dirs {
        for name in [format!("{binary}-static"), binary.to_owned()] {
            let path = dir.join(name);
            if exists(&path) && !found.contains(&path) {
                found.push(path);
            }
        }
    }
    found
}

/// Finds the first `<dir>/<binary>-static` or `<dir>/<binary>` in `dirs` only.
pub fn discover_in(binary: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    candidates_in(binary, dirs).into_iter().next()
}

/// True if something is there (following symlinks); a dangling symlink does not count.
fn exists(path: &Path) -> bool {
    path.metadata().is_ok()
}
