//! Where the daemon's events come from: signals (through a signalfd), inotify on the binfmt_misc
//! mount, inotify on the interpreter source directories, and the mount table (`/proc/self/mountinfo`
//! signals `POLLPRI` when a mount appears or goes away, which catches a lazy `umount -l` that
//! inotify never reports while binfmtd's descriptor keeps the instance alive).
//!
//! One blocking `poll(2)` waits on all of them. Its timeout is the nearest deadline the daemon
//! asked for (debounce, back-off, watchdog) or none at all: an idle daemon never wakes up.

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use binfmt_misc::{Change, Watcher};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use super::sources::SourceWatch;

/// What woke the daemon (several at once are possible).
#[derive(Debug, Default)]
pub(crate) struct Events {
    /// `SIGHUP`: reload the configuration.
    pub(crate) reload: bool,
    /// `SIGTERM` or `SIGINT`: stop.
    pub(crate) stop: bool,
    /// Changes under the binfmt_misc mount.
    pub(crate) mount: Vec<Change>,
    /// Changed interpreter source files (names).
    pub(crate) sources: Vec<String>,
    /// The mount table changed.
    pub(crate) mount_table: bool,
    /// The background job is done ([`super::background`]).
    pub(crate) worker_done: bool,
}

impl Events {
    /// Adds what a later wait brought.
    pub(crate) fn merge(&mut self, later: Events) {
        self.reload |= later.reload;
        self.stop |= later.stop;
        self.mount.extend(later.mount);
        self.sources.extend(later.sources);
        self.mount_table |= later.mount_table;
        self.worker_done |= later.worker_done;
    }
}

/// The descriptors the daemon waits on, other than the binfmt_misc watcher it owns itself.
#[derive(Debug)]
pub(crate) struct Waiter {
    signals: SignalFd,
    mountinfo: File,
}

impl Waiter {
    /// Blocks `SIGHUP`, `SIGTERM` and `SIGINT` for this thread (and every thread started later)
    /// and receives them through a signalfd instead. Call before starting any thread; children
    /// started with `std::process::Command` get a clean signal mask again.
    pub(crate) fn new() -> Result<Waiter> {
        let mut mask = SigSet::empty();
        for s in [Signal::SIGHUP, Signal::SIGTERM, Signal::SIGINT] {
            mask.add(s);
        }
        mask.thread_block()
            .context("blocking SIGHUP/SIGTERM/SIGINT")?;
        let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .context("creating a signalfd")?;
        let mountinfo =
            File::open("/proc/self/mountinfo").context("opening /proc/self/mountinfo")?;
        Ok(Waiter { signals, mountinfo })
    }

    /// Waits until something happens or `deadline` passes (`None`: wait indefinitely).
    pub(crate) fn wait(
        &self,
        mount: &Watcher,
        sources: Option<&SourceWatch>,
        worker: Option<BorrowedFd<'_>>,
        deadline: Option<Instant>,
    ) -> Result<Events> {
        let timeout = match deadline {
            None => PollTimeout::NONE,
            Some(d) => {
                // Round up so that the deadline has really passed when poll returns.
                let left = d.saturating_duration_since(Instant::now()) + Duration::from_millis(1);
                PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX)
            }
        };
        let mut fds = vec![
            PollFd::new(self.signals.as_fd(), PollFlags::POLLIN),
            PollFd::new(mount.as_fd(), PollFlags::POLLIN),
            PollFd::new(self.mountinfo.as_fd(), PollFlags::POLLPRI),
        ];
        let worker_at = worker.map(|fd| {
            fds.push(PollFd::new(fd, PollFlags::POLLIN));
            fds.len() - 1
        });
        let sources_at = sources.map(|s| {
            fds.push(PollFd::new(s.as_fd(), PollFlags::POLLIN));
            fds.len() - 1
        });
        match poll(&mut fds, timeout) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e).context("waiting for events"),
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        let mut events = Events::default();
        if ready[0] {
            while let Some(info) = self.signals.read_signal().context("reading the signalfd")? {
                match Signal::try_from(info.ssi_signo as i32) {
                    Ok(Signal::SIGHUP) => events.reload = true,
                    Ok(Signal::SIGTERM | Signal::SIGINT) => events.stop = true,
                    _ => {}
                }
            }
        }
        if ready[1] {
            events.mount = mount.read_events().context("reading binfmt_misc events")?;
        }
        events.mount_table = ready[2];
        events.worker_done = worker_at.is_some_and(|i| ready[i]);
        if let (Some(s), Some(true)) = (sources, sources_at.map(|i| ready[i])) {
            events.sources = s.changed();
        }
        Ok(events)
    }
}
