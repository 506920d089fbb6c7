//! The output of [`decide`](super::decide): one [`EntryDecision`] per entry, the [`StorePlan`]
//! for interpreter files, and the problems of the instance as a whole (each said once).

use std::fmt;
use std::path::PathBuf;

use binfmt_misc::{Entry, Rule};
use elf_magic::Target;

use super::facts::{Choice, Facts};
use super::why::Why;
use crate::interpreter::{Content, Verified};

/// What happens to one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Register it (no entry of that name exists).
    Add,
    /// Re-register it without a gap (it differs, or pins an old interpreter, or is taken over).
    Replace,
    /// Only re-enable it (it is exactly right but disabled).
    Enable,
    /// Nothing to do.
    Keep,
    /// Remove it.
    Remove,
    /// Deliberately not done (see the reason): not a failure.
    Skip,
    /// Cannot be done (see the reason): the run fails.
    Fail,
}

impl Step {
    /// Whether this step writes to the kernel.
    pub fn is_change(self) -> bool {
        matches!(
            self,
            Step::Add | Step::Replace | Step::Enable | Step::Remove
        )
    }

    /// Whether this step registers a rule.
    pub fn registers(self) -> bool {
        matches!(self, Step::Add | Step::Replace)
    }
}

/// The interpreter an entry runs, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interp {
    /// Its name in the store (`qemu-aarch64`).
    pub binary: &'static str,
    /// The path the entry registers.
    pub path: PathBuf,
    /// Its bytes (the pin recorded at registration).
    pub content: Content,
    /// Its QEMU version.
    pub version: Option<String>,
    /// Why this candidate was chosen.
    pub choice: Choice,
}

/// The decision for one entry.
#[derive(Debug, Clone)]
pub struct EntryDecision {
    /// The entry name.
    pub name: String,
    /// The QEMU target it serves (`None` for `[[entry]]`s and other tools' entries).
    pub target: Option<Target>,
    /// What happens.
    pub step: Step,
    /// Why (every step but a plain keep or add has a reason).
    pub why: Option<Why>,
    /// The rule it should be (registered by add and replace).
    pub rule: Option<Rule>,
    /// The entry the kernel has now.
    pub current: Option<Entry>,
    /// The interpreter of a QEMU entry.
    pub interpreter: Option<Interp>,
    /// Remarks that are not a reason: overlaps with other entries and which one the kernel uses.
    pub notes: Vec<String>,
    /// The temporary entry a replace registers through: the first of
    /// [`binfmt_misc::temp_names`] that is free or binfmtd's own leftover (removed first).
    pub temp: Option<String>,
}

impl EntryDecision {
    /// A decision with only the required fields.
    pub fn new(name: &str, target: Option<Target>, step: Step) -> EntryDecision {
        EntryDecision {
            name: name.to_string(),
            target,
            step,
            why: None,
            rule: None,
            current: None,
            interpreter: None,
            notes: Vec::new(),
            temp: None,
        }
    }

    /// `NAME: why`, one line (for errors naming the failed entries).
    pub fn describe(&self) -> String {
        match &self.why {
            Some(why) => format!("{}: {why}", self.name),
            None => self.name.clone(),
        }
    }

    pub(super) fn because(mut self, why: Why) -> EntryDecision {
        self.why = Some(why);
        self
    }

    pub(super) fn step(mut self, step: Step) -> EntryDecision {
        self.step = step;
        self
    }

    pub(super) fn rule(mut self, rule: &Rule) -> EntryDecision {
        self.rule = Some(rule.clone());
        self
    }

    pub(super) fn current(mut self, entry: &Entry) -> EntryDecision {
        self.current = Some(entry.clone());
        self
    }

    pub(super) fn interpreter(mut self, interp: Interp) -> EntryDecision {
        self.interpreter = Some(interp);
        self
    }
}

/// Getting one interpreter file into the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// Its name in the store.
    pub binary: &'static str,
    /// The verified source.
    pub source: Verified,
    /// The source's SHA-256, when gathered (a copy must produce the same).
    pub sha256: Option<String>,
    /// Hard-link the source (same filesystem) rather than copy it.
    pub link: bool,
    /// The QEMU version of the managed file it replaces, if any (for the log).
    pub previous_version: Option<String>,
}

/// What happens to one interpreter file in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreAction {
    /// Link or copy the source into place (temporary name, then rename).
    Stage(Stage),
    /// The managed file already has the source's bytes: only record the source's new identity
    /// (a `touch`, a reinstall of the same build, a copy left unrecorded by an interrupted run).
    Record {
        /// Its name in the store.
        binary: &'static str,
        /// The source.
        source: Verified,
        /// The digest of those bytes, when known (the source's, or the managed file's).
        sha256: Option<String>,
    },
}

impl StoreAction {
    /// The interpreter this action is about.
    pub fn binary(&self) -> &'static str {
        match self {
            StoreAction::Stage(s) => s.binary,
            StoreAction::Record { binary, .. } => binary,
        }
    }
}

/// The store's part of a decision.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StorePlan {
    /// Create the install directory first.
    pub create: bool,
    /// Temporary files of interrupted runs to delete first.
    pub clean: Vec<PathBuf>,
    /// The interpreter files to put in place.
    pub actions: Vec<StoreAction>,
}

/// A problem of the whole run or instance, reported once (not per entry).
#[derive(Debug, Clone)]
pub enum InstanceProblem {
    /// This process cannot write registrations (a read-only mount, not root).
    NotWritable(std::sync::Arc<binfmt_misc::Error>),
    /// `status` reads `disabled`: the kernel ignores every entry.
    Disabled {
        /// The mount.
        mount: PathBuf,
    },
    /// The copies do not fit.
    NoSpace {
        /// The install directory.
        dir: PathBuf,
        /// The interpreters that do not fit.
        binaries: Vec<&'static str>,
        /// Bytes they need.
        needed: u64,
        /// Bytes free.
        free: u64,
    },
    /// More pinned interpreters than the kernel allows (Linux >= 7.3).
    TooManyInterpreters {
        /// The limit.
        limit: u64,
        /// How many the plan needs.
        needed: u64,
    },
}

impl fmt::Display for InstanceProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstanceProblem::NotWritable(e) => e.fmt(f),
            InstanceProblem::Disabled { mount } => write!(
                f,
                "binfmt_misc at {} is disabled (its status file reads \"disabled\"): no foreign \
                 binary executes; enable it with `echo 1 > {}/status`",
                mount.display(),
                mount.display()
            ),
            InstanceProblem::NoSpace {
                dir,
                binaries,
                needed,
                free,
            } => write!(
                f,
                "not enough space in {}: {} MB of interpreters to copy ({}), {} MB free; free \
                 some space, put install_dir on the filesystem of the interpreters (then they \
                 are hard-linked), or choose fewer targets",
                dir.display(),
                needed.div_ceil(1 << 20),
                binaries.join(", "),
                free / (1 << 20)
            ),
            InstanceProblem::TooManyInterpreters { limit, needed } => write!(
                f,
                "the kernel allows {limit} pinned interpreters ({}) and this needs {needed}: \
                 raise it (`sysctl -w user.max_binfmt_misc_interpreters={needed}`) or install \
                 fewer targets; nothing was registered",
                binfmt_misc::kernel::MAX_INTERPRETERS_SYSCTL
            ),
        }
    }
}

/// Everything decided for one run.
#[derive(Debug, Clone, Default)]
pub struct Decision {
    /// One decision per entry, in order; removals of left-over temporary entries come before
    /// the replace that needs their name.
    pub entries: Vec<EntryDecision>,
    /// The interpreter files.
    pub store: StorePlan,
    /// The distribution's binfmt.d files masked or unmasked ([`masks`](super::masks)).
    pub masks: super::masks::MaskPlan,
    /// Problems of the whole run, each said once.
    pub problems: Vec<InstanceProblem>,
    /// Warnings (e.g. a flag dropped on an old kernel).
    pub warnings: Vec<String>,
}

impl Decision {
    /// Whether something fails (then the exit status is 1).
    pub fn failed(&self) -> bool {
        !self.problems.is_empty() || self.entries.iter().any(|d| d.step == Step::Fail)
    }

    /// Whether something fails for another reason than a lack of space in the store. A store
    /// too small for every copy still serves the entries whose copies fit (issue 14, bug 9), so
    /// only these other failures make all-or-nothing hold everything.
    pub(super) fn failed_beyond_space(&self) -> bool {
        self.problems
            .iter()
            .any(|p| !matches!(p, InstanceProblem::NoSpace { .. }))
            || self
                .failures()
                .any(|d| !matches!(d.why, Some(Why::NoSpace { .. })))
    }

    /// The entries that fail.
    pub fn failures(&self) -> impl Iterator<Item = &EntryDecision> {
        self.entries.iter().filter(|d| d.step == Step::Fail)
    }

    /// Whether applying this decision writes anything (to the kernel or the store).
    pub fn changes(&self) -> bool {
        self.entries.iter().any(|d| d.step.is_change())
            || !self.store.actions.is_empty()
            || self.masks.changes()
    }

    /// All or nothing: every change becomes a skip, and no file is written.
    pub(super) fn hold(&mut self) {
        for d in &mut self.entries {
            if d.step.is_change() {
                d.step = Step::Skip;
                d.why = Some(Why::Held);
            }
        }
        self.store = StorePlan::default();
        self.masks = super::masks::MaskPlan::default();
    }

    /// Adds the problems of the instance itself (a disabled instance).
    pub(super) fn instance_problems(&mut self, facts: &Facts) {
        if facts.kernel.mounted && !facts.kernel.enabled {
            self.problems.push(InstanceProblem::Disabled {
                mount: facts.kernel.mount.clone(),
            });
        }
    }
}
