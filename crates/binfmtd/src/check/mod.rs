//! Does each target's code execute here, right now? `binfmtd check` and everything that needs
//! the answer (status, the daemon's STATUS line, readiness probes, compat `supported`) ask
//! [`check`].
//!
//! For each target the tiny exit(0) probe of [`elf_magic::probe_elf`] is executed from this
//! process's point of view: no private namespace, the caller's environment, the live
//! binfmt_misc instance the kernel picks for this process. The result is then explained from what
//! the binfmt_misc mount showed just before (instance status, entries, which one the kernel uses,
//! [`binfmt_misc::order::active_among`]):
//!
//! - [`State::Works`]: exit 0 through an entry (named);
//! - [`State::Native`]: exit 0 with no entry that could have served it;
//! - [`State::Fails`]: a [`Failure`] with a one-line reason and a fix.
//!
//! The pure part (observation + instance → result) is [`classify`], with the words in
//! `explain.rs`; running the probes is `run.rs`. Outside the initial user namespace the results hold for this namespace only
//! ([`Scope::Namespace`]): since Linux 6.7 it may have a binfmt_misc instance of its own.

mod classify;
mod explain;
pub mod platforms;
mod run;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::time::Duration;

use binfmt_misc::{BinfmtMisc, EntryInfo, ErrorKind};
use elf_magic::Target;
use serde::Serialize;

pub use classify::classify;
pub use run::{Observation, Outcome, observe};

/// How long one probe may run before it is killed and reported as hanging. QEMU starts in
/// milliseconds; the limit only bounds a broken interpreter.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether a target's binaries execute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// The probe ran (exit 0) through a binfmt_misc entry, named in [`TargetCheck::entry`].
    Works,
    /// The probe ran (exit 0) without any entry that could have served it: this machine runs
    /// the target itself.
    Native,
    /// The probe did not run: see [`TargetCheck::failure`], `reason` and `fix`.
    Fails,
}

/// Why a target fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    /// ENOEXEC, and no entry matches the target's binaries (or no binfmt_misc is mounted).
    NoEntry,
    /// ENOEXEC, and every matching entry is disabled.
    EntryDisabled,
    /// ENOEXEC because the whole instance is disabled (`status` reads `disabled`): nothing
    /// foreign executes.
    InstanceDisabled,
    /// ELOOP: the entry's interpreter is itself matched by an entry.
    Loop,
    /// ENOENT: the entry's interpreter (or a file it needs) does not exist here.
    InterpreterMissing,
    /// Killed by a signal: the interpreter crashed.
    Crashed,
    /// Exited with a non-zero status: the interpreter failed.
    ExitStatus,
    /// Still running after [`PROBE_TIMEOUT`]; killed.
    TimedOut,
    /// Any other failure to execute (EACCES, ENOEXEC despite an enabled entry, no memory…).
    ExecError,
}

/// Whose view the results are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// This process is in the initial user namespace: the host's binfmt_misc instance.
    Host,
    /// This process is in another user namespace, which may have its own instance (Linux ≥ 6.7):
    /// the result holds inside this namespace only, and is not visible from the host.
    Namespace,
}

/// The result for one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetCheck {
    /// The target (serialized as its QEMU name).
    #[serde(serialize_with = "target_name")]
    pub target: Target,
    /// Works, native or fails.
    pub state: State,
    /// The entry that served the probe (works), or the one that failed to (fails); `None` when
    /// no entry was involved or the mount could not be read.
    pub entry: Option<String>,
    /// That entry's interpreter.
    pub interpreter: Option<PathBuf>,
    /// For `fails`: what kind of failure.
    pub failure: Option<Failure>,
    /// One line: what happened (always for `fails`; for `works` when something is uncertain).
    pub reason: Option<String>,
    /// One line: how to fix it (for `fails`).
    pub fix: Option<String>,
    /// Whose view this is.
    pub scope: Scope,
}

impl TargetCheck {
    /// Whether the target's binaries execute here (works or native).
    pub fn executes(&self) -> bool {
        self.state != State::Fails
    }
}

fn target_name<S: serde::Serializer>(target: &Target, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(target.name())
}

/// What is known before the probes run, to explain their results with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// What the binfmt_misc mount shows.
    pub instance: InstanceView,
    /// Whose view the results are.
    pub scope: Scope,
    /// The target of binfmtd's own executable (`None` if the table has none): it runs natively
    /// even when the entries cannot be read.
    pub host: Option<Target>,
}

impl Facts {
    /// Reads the instance at `mount`, this process's user namespace and its own ELF header.
    pub fn gather(mount: &Path) -> Facts {
        let scope = if crate::host::in_initial_user_namespace() {
            Scope::Host
        } else {
            Scope::Namespace
        };
        let mut header = Vec::with_capacity(elf_magic::HEADER_LEN);
        if let Ok(file) = std::fs::File::open("/proc/self/exe") {
            use std::io::Read as _;
            let _ = file
                .take(elf_magic::HEADER_LEN as u64)
                .read_to_end(&mut header);
        }
        Facts {
            instance: InstanceView::read(mount),
            scope,
            host: elf_magic::detect(&header),
        }
    }
}

/// What the binfmt_misc mount showed before the probes ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceView {
    /// The mount point read.
    pub mount: PathBuf,
    /// The instance's state.
    pub status: InstanceStatus,
    /// Every entry (empty unless the mount could be read).
    pub entries: Vec<EntryInfo>,
}

/// The state of the binfmt_misc instance at the mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstanceStatus {
    /// `status` reads `enabled`.
    Enabled,
    /// `status` reads `disabled`: every foreign exec fails with ENOEXEC.
    Disabled,
    /// Nothing (or an untriggerable automount) is mounted there.
    NotMounted,
    /// It could not be read; the error.
    Unreadable(String),
}

impl InstanceView {
    /// Reads the instance mounted at `mount` (an automount is triggered; nothing is mounted).
    pub fn read(mount: &Path) -> InstanceView {
        let view = |status, entries| InstanceView {
            mount: mount.to_path_buf(),
            status,
            entries,
        };
        let fs = match BinfmtMisc::open(mount) {
            Ok(fs) => fs,
            Err(e) if e.kind() == ErrorKind::NotMounted => {
                return view(InstanceStatus::NotMounted, Vec::new());
            }
            Err(e) => return view(InstanceStatus::Unreadable(e.to_string()), Vec::new()),
        };
        let status = match fs.is_enabled() {
            Ok(true) => InstanceStatus::Enabled,
            Ok(false) => InstanceStatus::Disabled,
            Err(e) => InstanceStatus::Unreadable(e.to_string()),
        };
        match fs.entries() {
            Ok(entries) => view(status, entries),
            Err(e) => view(InstanceStatus::Unreadable(e.to_string()), Vec::new()),
        }
    }
}

/// Executes the probe of every target in `targets` (in parallel) from this process's point of
/// view and explains each result with the binfmt_misc instance mounted at `mount`. One result
/// per target, in the order given.
pub fn check(targets: &[Target], mount: &Path) -> Vec<TargetCheck> {
    let facts = Facts::gather(mount);
    run::observe_all(targets, PROBE_TIMEOUT)
        .iter()
        .zip(targets)
        .map(|(observation, &target)| classify(target, observation, &facts))
        .collect()
}

/// Whether every result executes (works or native): `binfmtd check`'s exit status 0.
pub fn all_execute(checks: &[TargetCheck]) -> bool {
    checks.iter().all(TargetCheck::executes)
}
