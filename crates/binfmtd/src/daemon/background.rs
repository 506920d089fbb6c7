//! The daemon's slow work, off the event loop: re-preparing interpreters after a package upgrade
//! (digests of every changed QEMU build, `--version`) and running the probes (`binfmtd check`).
//! Both only read (files, the live entries) and can take seconds on a slow or loaded host; while
//! one runs, the loop keeps answering flushes within milliseconds. Debian 13's QEMU upgrade is the
//! case that needs it: dpkg replaces the interpreters (a re-preparation starts) and a moment later
//! its trigger restarts systemd-binfmt, which flushes every entry.
//!
//! One job at a time. The worker thread holds the write end of a socket pair and drops it when
//! it is done, which makes the read end readable: [`Background::fd`] is one more descriptor for
//! the loop's `poll(2)`, and [`Background::finish`] collects the result.

use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::thread::JoinHandle;

use anyhow::{Context as _, Result};
use elf_magic::Target;

use crate::check::TargetCheck;
use crate::config::Settings;
use crate::engine::{self, Prepared, Use};

/// What a job computes.
pub(crate) enum Work {
    /// Prepare the interpreters of these settings again.
    Prepare(Box<Settings>),
    /// Run the probes of these targets through the entries under this mount.
    Check(Vec<Target>, PathBuf),
}

/// What a finished job computed.
pub(crate) enum Done {
    /// The interpreters prepared again, for the settings the job was given.
    Prepared(Box<Settings>, Box<Result<Prepared>>),
    /// The probes' results.
    Checked(Vec<TargetCheck>),
}

/// At most one running job.
#[derive(Default)]
pub(crate) struct Background {
    job: Option<Job>,
}

struct Job {
    /// Readable (end of file) once the worker is done.
    done: UnixStream,
    handle: JoinHandle<Done>,
}

impl Background {
    /// Whether a job is running (its result not collected yet).
    pub(crate) fn busy(&self) -> bool {
        self.job.is_some()
    }

    /// The descriptor that becomes readable when the running job is done.
    pub(crate) fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.job.as_ref().map(|j| j.done.as_fd())
    }

    /// Starts `work` on a worker thread. Call only when not [`busy`](Self::busy).
    pub(crate) fn start(&mut self, work: Work) -> Result<()> {
        let (done, signal) = UnixStream::pair().context("creating the worker's socket pair")?;
        let handle = std::thread::Builder::new()
            .name("binfmtd-worker".into())
            .spawn(move || {
                let result = run(work);
                // Dropping the write end tells the loop the result is ready.
                drop(signal);
                result
            })
            .context("starting the worker thread")?;
        self.job = Some(Job { done, handle });
        Ok(())
    }

    /// The running job's result (`None` when none runs). Call when [`fd`](Self::fd) became
    /// readable: the worker has dropped its end and only returns, so joining does not wait.
    pub(crate) fn finish(&mut self) -> Option<Result<Done>> {
        let job = self.job.take()?;
        Some(
            job.handle
                .join()
                .map_err(|_| anyhow::anyhow!("the worker thread panicked")),
        )
    }
}

fn run(work: Work) -> Done {
    match work {
        Work::Prepare(settings) => {
            let prepared = engine::prepare(&settings, &settings.targets, Use::Store);
            Done::Prepared(settings, Box::new(prepared))
        }
        Work::Check(targets, mount) => Done::Checked(crate::check::check(&targets, &mount)),
    }
}
