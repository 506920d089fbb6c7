//! Change notification on a binfmt_misc mount, for the daemon (kernel notes §7).
//!
//! The kernel sends no `IN_CREATE` for a registration: it shows up as `IN_MODIFY` /
//! `IN_CLOSE_WRITE` on `register`. A removal is `IN_DELETE` on Linux 6.18 (not on 6.12), so any
//! event should be followed by a rescan of the entries.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

use crate::error::{Error, control_error};

/// An inotify watch on the mount directory. The descriptor is non-blocking: poll [`as_fd`]
/// for readability, then call [`read_events`].
///
/// [`as_fd`]: Watcher::as_fd
/// [`read_events`]: Watcher::read_events
#[derive(Debug)]
pub struct Watcher {
    inotify: Inotify,
    root: PathBuf,
}

/// What happened under the mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A control file or entry was written (`None`: the directory itself).
    Modified(Option<String>),
    /// An entry was removed.
    Deleted(String),
    /// The mount went away (`IN_UNMOUNT`, or the watch was dropped): every entry is gone.
    Unmounted,
    /// The event queue overflowed: rescan everything.
    Overflow,
}

impl Watcher {
    /// Watches `root` for `IN_MODIFY | IN_CLOSE_WRITE | IN_DELETE | IN_DELETE_SELF` (the kernel
    /// adds `IN_UNMOUNT`, `IN_IGNORED` and `IN_Q_OVERFLOW` on its own).
    pub fn new(root: &Path) -> Result<Self, Error> {
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
            .map_err(|errno| Error::io("create an inotify instance for", root, errno))?;
        let mask = AddWatchFlags::IN_MODIFY
            | AddWatchFlags::IN_CLOSE_WRITE
            | AddWatchFlags::IN_DELETE
            | AddWatchFlags::IN_DELETE_SELF;
        inotify
            .add_watch(root, mask)
            .map_err(|errno| control_error(errno, root, "watch"))?;
        Ok(Watcher {
            inotify,
            root: root.to_path_buf(),
        })
    }

    /// The inotify descriptor, to poll for readability.
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.inotify.as_fd()
    }

    /// The changes queued so far (empty when none), consecutive duplicates merged.
    pub fn read_events(&self) -> Result<Vec<Change>, Error> {
        let events = match self.inotify.read_events() {
            Ok(events) => events,
            Err(Errno::EAGAIN) => return Ok(Vec::new()),
            Err(errno) => return Err(Error::io("read inotify events for", &self.root, errno)),
        };
        let mut out: Vec<Change> = Vec::new();
        for event in events {
            let name = event.name.map(|n| n.to_string_lossy().into_owned());
            let m = event.mask;
            let change = if m.contains(AddWatchFlags::IN_Q_OVERFLOW) {
                Change::Overflow
            } else if m.intersects(
                AddWatchFlags::IN_UNMOUNT
                    | AddWatchFlags::IN_DELETE_SELF
                    | AddWatchFlags::IN_IGNORED,
            ) {
                Change::Unmounted
            } else if m.contains(AddWatchFlags::IN_DELETE) {
                Change::Deleted(name.unwrap_or_default())
            } else {
                Change::Modified(name)
            };
            if out.last() != Some(&change) {
                out.push(change);
            }
        }
        Ok(out)
    }
}
