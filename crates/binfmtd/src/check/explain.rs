//! The words of a check: for each way a probe can fail, a one-line reason naming what is known
//! (the entry, its interpreter, the mount, what the interpreter said) and a one-line fix (kernel
//! notes §4 and §7 list the errors).

use binfmt_misc::EntryInfo;
use elf_magic::Target;
use nix::errno::Errno;

use super::run::Outcome;
use super::{Failure, InstanceStatus, InstanceView};

/// What a failure is explained with.
pub(super) struct Explainer<'a> {
    pub(super) target: Target,
    pub(super) view: &'a InstanceView,
    pub(super) active: Option<&'a EntryInfo>,
    pub(super) matching: &'a [&'a EntryInfo],
    pub(super) stderr: &'a str,
}

impl Explainer<'_> {
    fn mount(&self) -> String {
        self.view.mount.display().to_string()
    }

    /// Why the entries are not known: "binfmt_misc is not mounted at M" or "… could not be read".
    pub(super) fn unseen(&self) -> String {
        match &self.view.status {
            InstanceStatus::Unreadable(e) => {
                format!("binfmt_misc at {} could not be read ({e})", self.mount())
            }
            _ => format!("no binfmt_misc is mounted at {}", self.mount()),
        }
    }

    /// "entry E (interpreter X)", or "the emulator" when no entry is known.
    fn served_by(&self) -> String {
        match self.active {
            Some(e) => format!(
                "entry {} (interpreter {})",
                e.entry.name,
                e.entry.interpreter.display()
            ),
            None => "no entry (natively)".to_string(),
        }
    }

    /// `: <first stderr line>` or nothing.
    fn said(&self) -> String {
        self.stderr
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(|l| format!("; it said: {l}"))
            .unwrap_or_default()
    }

    fn install(&self) -> String {
        format!("`binfmtd install {}`", self.target)
    }

    fn reinstall(&self) -> String {
        format!("`binfmtd install --force {}`", self.target)
    }

    pub(super) fn failure(&self, outcome: &Outcome) -> (Failure, String, String) {
        let t = self.target;
        match outcome {
            Outcome::ExecFailed(Errno::ENOEXEC) => self.not_recognised(),
            Outcome::ExecFailed(Errno::ELOOP) => (
                Failure::Loop,
                format!(
                    "exec failed with ELOOP: {} is itself matched by a binfmt_misc entry, a \
                     loop of interpreters",
                    self.active
                        .map_or("the interpreter".to_string(), |e| format!(
                            "the interpreter {} of entry {}",
                            e.entry.interpreter.display(),
                            e.entry.name
                        ))
                ),
                format!(
                    "remove the looping entry ({}) and register a static interpreter for this \
                     machine: {}",
                    self.remove_hint(),
                    self.reinstall()
                ),
            ),
            Outcome::ExecFailed(Errno::ENOENT) => self.missing_interpreter(),
            Outcome::ExecFailed(errno) => (
                Failure::ExecError,
                format!(
                    "exec through {} failed with {errno:?} ({})",
                    self.served_by(),
                    errno.desc()
                ),
                match errno {
                    Errno::EACCES => format!(
                        "the interpreter is not executable here (no x bit, or a noexec mount) \
                         and the entry has no F flag: {}",
                        self.reinstall()
                    ),
                    _ => "see `binfmtd status`".to_string(),
                },
            ),
            Outcome::Signaled(signal) => (
                Failure::Crashed,
                format!(
                    "{t} probe killed by {} in {}: the emulator crashed{}",
                    signal.as_str(),
                    self.served_by(),
                    self.said()
                ),
                self.run_by_hand("a newer QEMU may fix it"),
            ),
            Outcome::Exited(code) => (
                Failure::ExitStatus,
                format!(
                    "{t} probe exited with status {code} instead of 0 under {}: the \
                     interpreter failed{}",
                    self.served_by(),
                    self.said()
                ),
                self.run_by_hand("check that it is a QEMU for this target"),
            ),
            Outcome::TimedOut => (
                Failure::TimedOut,
                format!(
                    "{t} probe still running after {} s under {}: the emulator hangs{}",
                    super::PROBE_TIMEOUT.as_secs(),
                    self.served_by(),
                    self.said()
                ),
                self.run_by_hand("a newer QEMU may fix it"),
            ),
            Outcome::Error(what) => (
                Failure::ExecError,
                format!("the {t} probe could not be run: {what}"),
                "this is binfmtd's own failure, not the entry's: see the error; if memfds cannot \
                 be executed here (sysctl vm.memfd_noexec = 2), `binfmtd check` cannot work"
                    .to_string(),
            ),
        }
    }

    /// ENOEXEC: the kernel found no handler.
    fn not_recognised(&self) -> (Failure, String, String) {
        let t = self.target;
        let mount = self.mount();
        if self.view.status == InstanceStatus::Disabled {
            return (
                Failure::InstanceDisabled,
                format!(
                    "binfmt_misc at {mount} is disabled (`status` reads `disabled`): no foreign \
                     binary executes"
                ),
                format!("`echo 1 > {mount}/status`"),
            );
        }
        if let Some(e) = self.active {
            return (
                Failure::ExecError,
                format!(
                    "exec failed with ENOEXEC although entry {} matches: its interpreter {} is \
                     not an executable this kernel runs",
                    e.entry.name,
                    e.entry.interpreter.display()
                ),
                format!(
                    "register an interpreter built for this machine: {}",
                    self.reinstall()
                ),
            );
        }
        if let Some(newest) = self.matching.iter().max_by_key(|e| e.registered) {
            let names: Vec<&str> = self
                .matching
                .iter()
                .map(|e| e.entry.name.as_str())
                .collect();
            return (
                Failure::EntryDisabled,
                format!(
                    "every entry matching {t} binaries is disabled: {}",
                    names.join(", ")
                ),
                format!(
                    "`echo 1 > {mount}/{}`, or {}",
                    newest.entry.name,
                    self.install()
                ),
            );
        }
        match self.view.status {
            InstanceStatus::Enabled => (
                Failure::NoEntry,
                format!("no binfmt_misc entry at {mount} matches {t} binaries"),
                self.install(),
            ),
            _ => (
                Failure::NoEntry,
                format!(
                    "{t} binaries are not recognised (ENOEXEC), and {}",
                    self.unseen()
                ),
                format!(
                    "mount it (`mount -t binfmt_misc binfmt_misc {mount}`, or pass --mount), then \
                     {}",
                    self.install()
                ),
            ),
        }
    }

    /// ENOENT: the interpreter path (without F), or something it needs, is missing.
    fn missing_interpreter(&self) -> (Failure, String, String) {
        let t = self.target;
        let Some(e) = self.active else {
            return (
                Failure::InterpreterMissing,
                format!("exec of the {t} probe failed with ENOENT and no entry explains it"),
                "see `binfmtd status`".to_string(),
            );
        };
        let interp = e.entry.interpreter.display();
        if e.entry.flags.fix_binary {
            (
                Failure::InterpreterMissing,
                format!(
                    "entry {}'s interpreter {interp} is pinned (F) but cannot be loaded here \
                     (ENOENT): a file it needs, such as its dynamic loader, is missing",
                    e.entry.name
                ),
                format!("register a static interpreter: {}", self.reinstall()),
            )
        } else {
            (
                Failure::InterpreterMissing,
                format!(
                    "entry {}'s interpreter {interp} does not exist here (ENOENT; the entry has \
                     no F flag, so the path is looked up in the caller's mount namespace and \
                     root)",
                    e.entry.name
                ),
                format!(
                    "install {interp}, or register with F so it works everywhere: {}",
                    self.reinstall()
                ),
            )
        }
    }

    /// How to remove the active (looping) entry.
    fn remove_hint(&self) -> String {
        match self.active {
            Some(e) => format!("`echo -1 > {}/{}`", self.mount(), e.entry.name),
            None => "`binfmtd status` shows the entries".to_string(),
        }
    }

    /// "run `X <a TARGET binary>` by hand to see why; HINT".
    fn run_by_hand(&self, hint: &str) -> String {
        match self.active {
            Some(e) => format!(
                "run `{} <a {} binary>` by hand to see why; {hint}",
                e.entry.interpreter.display(),
                self.target
            ),
            None => format!("run a {} binary by hand to see why", self.target),
        }
    }
}
