//! Watching the interpreter source directories, so that a distribution upgrade of
//! `qemu-*-static` is noticed without polling.
//!
//! Package managers install a new file beside the old one and rename it into place
//! (`IN_MOVED_TO`); a plain copy shows up as `IN_CLOSE_WRITE`. Only names that can be
//! interpreters count: `qemu-*`, and the file names of the sources in use; dpkg's own
//! temporary names (`*.dpkg-tmp`, `*.dpkg-new`) are not interpreters.

use std::collections::BTreeSet;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::PathBuf;

use nix::errno::Errno;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

use crate::interpreter::DEFAULT_DIRS;

/// An inotify instance on the directories interpreters come from.
#[derive(Debug)]
pub(crate) struct SourceWatch {
    inotify: Inotify,
    dirs: BTreeSet<PathBuf>,
    names: BTreeSet<String>,
}

impl SourceWatch {
    /// Watches the configured `interpreter_dirs`, the default directories, and the directories
    /// of the source `files` in use (as given and with symlinks resolved). Missing directories
    /// are skipped.
    pub(crate) fn new(
        interpreter_dirs: &[PathBuf],
        files: &[PathBuf],
    ) -> std::io::Result<SourceWatch> {
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?;
        let mut dirs: BTreeSet<PathBuf> = interpreter_dirs.iter().cloned().collect();
        dirs.extend(DEFAULT_DIRS.iter().map(PathBuf::from));
        let mut names = BTreeSet::new();
        for file in files {
            for f in [Some(file.clone()), std::fs::canonicalize(file).ok()]
                .into_iter()
                .flatten()
            {
                if let (Some(dir), Some(name)) = (f.parent(), f.file_name()) {
                    dirs.insert(dir.to_path_buf());
                    names.insert(name.to_string_lossy().into_owned());
                }
            }
        }
        let mask = AddWatchFlags::IN_CLOSE_WRITE
            | AddWatchFlags::IN_MOVED_TO
            | AddWatchFlags::IN_MOVED_FROM
            | AddWatchFlags::IN_CREATE
            | AddWatchFlags::IN_DELETE
            | AddWatchFlags::IN_ATTRIB;
        let mut watched = BTreeSet::new();
        for dir in dirs {
            match inotify.add_watch(&dir, mask) {
                Ok(_) => {
                    watched.insert(dir);
                }
                Err(Errno::ENOENT | Errno::ENOTDIR) => {}
                Err(e) => tracing::warn!(
                    dir = %dir.display(),
                    "cannot watch for interpreter upgrades: {e}"
                ),
            }
        }
        tracing::debug!(dirs = ?watched, "watching interpreter sources");
        Ok(SourceWatch {
            inotify,
            dirs: watched,
            names,
        })
    }

    /// The inotify descriptor, to poll for readability.
    pub(crate) fn as_fd(&self) -> BorrowedFd<'_> {
        self.inotify.as_fd()
    }

    /// The directories watched.
    pub(crate) fn dirs(&self) -> &BTreeSet<PathBuf> {
        &self.dirs
    }

    /// Reads the queued events; returns the names of changed files that can be interpreters.
    pub(crate) fn changed(&self) -> Vec<String> {
        let events = match self.inotify.read_events() {
            Ok(events) => events,
            Err(Errno::EAGAIN) => return Vec::new(),
            Err(e) => {
                tracing::warn!("reading interpreter source events: {e}");
                return Vec::new();
            }
        };
        let mut out: Vec<String> = Vec::new();
        for event in events {
            if event.mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
                out.push("(event queue overflow)".to_string());
                continue;
            }
            let Some(name) = event.name else { continue };
            let name = name.to_string_lossy().into_owned();
            if counts(&name, &self.names) && !out.contains(&name) {
                out.push(name);
            }
        }
        out
    }
}

/// Whether a changed file `name` can be an interpreter: `qemu-*` or a source in use, and not a
/// package manager's temporary name (dpkg's `*.dpkg-new`/`*.dpkg-tmp`/…, rpm's `name;hex`,
/// apk's `*.apk-new`): those are renamed into place, which is the event that counts. A QEMU
/// upgrade otherwise wakes the daemon once per temporary file.
fn counts(name: &str, names: &BTreeSet<String>) -> bool {
    let package_temp = name.contains(".dpkg-") || name.contains(';') || name.ends_with(".apk-new");
    (name.starts_with("qemu-") || names.contains(name)) && !package_temp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_manager_temporary_names_do_not_count() {
        let names: BTreeSet<String> = ["FEXInterpreter".to_string()].into();
        for yes in ["qemu-aarch64", "qemu-aarch64-static", "FEXInterpreter"] {
            assert!(counts(yes, &names), "{yes}");
        }
        for no in [
            "qemu-aarch64.dpkg-new",
            "qemu-aarch64.dpkg-tmp",
            "qemu-aarch64-static.dpkg-old",
            "qemu-aarch64;6762a1f0",
            "qemu-aarch64.apk-new",
            "python3.11",
            "ls",
        ] {
            assert!(!counts(no, &names), "{no}");
        }
    }
}
