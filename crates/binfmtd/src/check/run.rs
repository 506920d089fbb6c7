//! Executing a probe the way any program of this process would be executed, and watching what
//! happens.
//!
//! The probe lives in a memfd (nothing is written to disk, a read-only or noexec filesystem does
//! not matter). It is started with `posix_spawn(3)` — a child process, never this one — at
//! `/proc/self/fd/3`, where the child's descriptor 3 is a `dup2` of the memfd: that copy is not
//! close-on-exec, so an interpreter that binfmt_misc starts without `O` can open the path it is
//! given (binfmt_misc refuses an `execveat` of an `O_CLOEXEC` descriptor with ENOENT, kernel notes
//! §3), while in this process the memfd stays close-on-exec and leaks into no other child.
//! `posix_spawn`, unlike `execvp`, never retries an ENOEXEC file with `/bin/sh`.
//!
//! The child gets the caller's environment (the `QEMU_*` variables an interpreter reads
//! included), `/dev/null` as stdin and stdout, default signal handling, and a pipe as stderr whose
//! first bytes (QEMU's error message) are kept for the report.

use std::ffi::{CString, OsString};
use std::io::Write as _;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStringExt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use elf_magic::Target;
use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::spawn::{PosixSpawnAttr, PosixSpawnFileActions, PosixSpawnFlags, posix_spawn};
use nix::sys::memfd::{MFdFlags, memfd_create};
use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{Pid, pipe2};

/// The descriptor the probe has in the child, and the path it is executed at.
const PROBE_FD: RawFd = 3;
pub(super) const PROBE_PATH: &str = "/proc/self/fd/3";
/// `MFD_EXEC` (Linux ≥ 6.3): an executable memfd, stated explicitly so the kernel does not warn.
const MFD_EXEC: u32 = 0x0010;
/// How much of the child's stderr is kept.
const STDERR_LIMIT: usize = 4096;

/// How the probe's process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It ran and exited with this status.
    Exited(i32),
    /// It was killed by this signal.
    Signaled(Signal),
    /// `execve` failed with this error: nothing ran.
    ExecFailed(Errno),
    /// It was still running at the time limit, and was killed.
    TimedOut,
    /// The probe could not be prepared, started or waited for (not the kernel's verdict): what
    /// failed.
    Error(String),
}

/// What executing one probe showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// How it ended.
    pub outcome: Outcome,
    /// What it wrote on stderr (at most 4 KiB, lossy UTF-8, trimmed): an interpreter's error.
    pub stderr: String,
}

impl Observation {
    /// An observation with nothing on stderr.
    pub fn of(outcome: Outcome) -> Observation {
        Observation {
            outcome,
            stderr: String::new(),
        }
    }
}

/// Executes `target`'s probe in a child process and waits for it, at most `timeout`.
pub fn observe(target: Target, timeout: Duration) -> Observation {
    match spawn(target) {
        Ok(child) => child.wait(timeout),
        Err(outcome) => Observation::of(outcome),
    }
}

/// [`observe`] for every target, a few at a time; results in the order of `targets`.
pub(super) fn observe_all(targets: &[Target], timeout: Duration) -> Vec<Observation> {
    let results: Vec<Mutex<Option<Observation>>> =
        targets.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get() * 2)
        .clamp(1, targets.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&target) = targets.get(i) else { break };
                    let observation = observe(target, timeout);
                    *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(observation);
                }
            });
        }
    });
    results
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .unwrap_or_else(|| Observation::of(Outcome::Error("the probe was not run".into())))
        })
        .collect()
}

/// A started probe: its PID and the read end of its stderr pipe (non-blocking).
struct Child {
    pid: Pid,
    stderr: OwnedFd,
}

fn error(what: &str, errno: Errno) -> Outcome {
    Outcome::Error(format!("{what}: {}", errno.desc()))
}

/// Writes the probe into a memfd and starts it.
fn spawn(target: Target) -> Result<Child, Outcome> {
    let image = image(target)?;
    let (read, write) = pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)
        .map_err(|e| error("creating a pipe for the probe's stderr", e))?;
    // The write end must be blocking for the child (it is its stderr).
    fcntl(&write, FcntlArg::F_SETFL(OFlag::empty()))
        .map_err(|e| error("setting up the probe's stderr", e))?;
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|e| Outcome::Error(format!("opening /dev/null: {e}")))?;
    let actions = file_actions(null.as_raw_fd(), image.as_raw_fd(), write.as_raw_fd())
        .map_err(|e| error("setting up the probe's descriptors", e))?;
    let attr = attributes().map_err(|e| error("setting up the probe's signals", e))?;
    let argv = [CString::new(format!("binfmtd-check-{target}"))
        .map_err(|_| Outcome::Error("a target name with a NUL byte".into()))?];
    let env: Vec<CString> = std::env::vars_os()
        .filter_map(|(key, value)| {
            let mut pair = key;
            pair.push("=");
            pair.push(value);
            CString::new(OsString::into_vec(pair)).ok()
        })
        .collect();
    let pid = posix_spawn(PROBE_PATH, &actions, &attr, &argv, &env).map_err(Outcome::ExecFailed)?;
    drop(write);
    Ok(Child { pid, stderr: read })
}

/// The probe in a close-on-exec memfd whose descriptor is not [`PROBE_FD`] (a `dup2` onto itself
/// would keep close-on-exec set).
fn image(target: Target) -> Result<OwnedFd, Outcome> {
    let name = format!("binfmtd-check-{target}");
    let fd = memfd_create(
        name.as_str(),
        MFdFlags::MFD_CLOEXEC | MFdFlags::from_bits_retain(MFD_EXEC),
    )
    .or_else(|_| memfd_create(name.as_str(), MFdFlags::MFD_CLOEXEC))
    .map_err(|e| error("creating an in-memory probe (memfd_create)", e))?;
    let mut file = std::fs::File::from(fd);
    file.write_all(elf_magic::probe_elf(target))
        .map_err(|e| Outcome::Error(format!("writing the probe: {e}")))?;
    let fd = OwnedFd::from(file);
    if fd.as_raw_fd() != PROBE_FD {
        return Ok(fd);
    }
    // A duplicate while the original still holds PROBE_FD gets another number.
    fd.try_clone()
        .map_err(|e| Outcome::Error(format!("duplicating the probe's descriptor: {e}")))
}

/// stdin and stdout from `null` (`/dev/null`), stderr into the pipe, the probe at [`PROBE_FD`].
fn file_actions(null: RawFd, image: RawFd, stderr: RawFd) -> nix::Result<PosixSpawnFileActions> {
    let mut actions = PosixSpawnFileActions::init()?;
    actions.add_dup2(null, 0)?;
    actions.add_dup2(null, 1)?;
    actions.add_dup2(stderr, 2)?;
    actions.add_dup2(image, PROBE_FD)?;
    Ok(actions)
}

/// An empty signal mask and default dispositions: whatever this process blocks or handles (a
/// daemon's signal handling) must not change how the interpreter runs.
fn attributes() -> nix::Result<PosixSpawnAttr> {
    let mut attr = PosixSpawnAttr::init()?;
    attr.set_sigmask(&SigSet::empty())?;
    attr.set_sigdefault(&SigSet::all())?;
    attr.set_flags(
        PosixSpawnFlags::POSIX_SPAWN_SETSIGMASK | PosixSpawnFlags::POSIX_SPAWN_SETSIGDEF,
    )?;
    Ok(attr)
}

impl Child {
    /// Waits for the child (killing it at `timeout`), collecting its stderr meanwhile.
    fn wait(self, timeout: Duration) -> Observation {
        let start = Instant::now();
        let mut stderr = Vec::new();
        let mut pause = Duration::from_millis(1);
        let outcome = loop {
            self.drain(&mut stderr);
            match waitpid(self.pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(_, code)) => break Outcome::Exited(code),
                Ok(WaitStatus::Signaled(_, signal, _)) => break Outcome::Signaled(signal),
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => break error("waiting for the probe", e),
            }
            if start.elapsed() >= timeout {
                let _ = kill(self.pid, Signal::SIGKILL);
                let _ = waitpid(self.pid, None);
                break Outcome::TimedOut;
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
        };
        self.drain(&mut stderr);
        Observation {
            outcome,
            stderr: String::from_utf8_lossy(&stderr).trim().to_string(),
        }
    }

    /// Reads what the child wrote on stderr so far (keeping the first [`STDERR_LIMIT`] bytes), so
    /// that a chatty child never blocks on a full pipe.
    fn drain(&self, kept: &mut Vec<u8>) {
        let mut buf = [0u8; 1024];
        loop {
            match nix::unistd::read(self.stderr.as_fd(), &mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    let room = STDERR_LIMIT.saturating_sub(kept.len());
                    kept.extend_from_slice(&buf[..n.min(room)]);
                }
            }
        }
    }
}
