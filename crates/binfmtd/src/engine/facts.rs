//! Everything [`decide`](super::decide) knows, as plain data: the caller's intent and the facts
//! [`gather`](super::gather) read from the kernel, the store, the interpreters and the host.
//!
//! Nothing here does I/O, so a decision can be replayed from facts in a unit test.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use binfmt_misc::{EntryInfo, Flags, Rule};
use elf_magic::Target;

use super::owner::Ownership;
use super::pins::Registrations;
use crate::config::{Distribution, Others};
use crate::host::{HostFacts, Nativity};
use crate::interpreter::{Content, FileId, InterpreterError, ManagedCopy, Verified};

/// How failures of single entries affect the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `install` and `plan`: any failure means nothing is changed (bad input changes nothing).
    AllOrNothing,
    /// The daemon and tonistiigi's `--install`: every entry that can be served is served, each
    /// failure is reported on its own.
    BestEffort,
}

/// What the caller wants from an install-like run.
#[derive(Debug, Clone)]
pub struct InstallIntent {
    /// How failures combine.
    pub mode: Mode,
    /// Entries the daemon is backing off from (another tool keeps changing them): left alone.
    pub held: BTreeSet<String>,
}

/// Which entries an uninstall selects.
#[derive(Debug, Clone)]
pub struct UninstallIntent {
    /// The entries the words selected (resolved by the caller from names, globs and targets).
    pub selected: Vec<String>,
    /// Also remove other tools' entries among them (`--force`, tonistiigi's `--uninstall`).
    pub any_owner: bool,
}

/// The facts of one run.
#[derive(Debug, Clone)]
pub struct Facts {
    /// The host: native targets, its own header (the guard), kernel features.
    pub host: HostFacts,
    /// The binfmt_misc instance.
    pub kernel: KernelFacts,
    /// The managed install directory.
    pub store: StoreFacts,
    /// Who registered which entry.
    pub ownership: Ownership,
    /// The entry name prefix (`qemu-`).
    pub prefix: String,
    /// Per wanted target, in order.
    pub targets: Vec<TargetFacts>,
    /// The configured extra (`[[entry]]`) entries.
    pub extras: Vec<ExtraFacts>,
    /// The systemd binfmt.d files, when binfmtd is the host's manager (the daemon, and
    /// `uninstall` removing its masks); `None` leaves binfmt.d alone.
    pub masks: Option<super::masks::MaskFacts>,
}

/// The binfmt_misc instance as read now.
#[derive(Debug, Clone, Default)]
pub struct KernelFacts {
    /// Where it is mounted.
    pub mount: PathBuf,
    /// Whether binfmt_misc is mounted where binfmtd looks (`plan` does not mount it).
    pub mounted: bool,
    /// Whether the instance is enabled (`status` reads `enabled`).
    pub enabled: bool,
    /// Every entry, oldest registration first.
    pub entries: Vec<EntryInfo>,
    /// The kernel's limit on pinned (`F`) interpreters, when it has one (Linux >= 7.3).
    pub max_interpreters: Option<u64>,
    /// Why this process cannot write registrations (a read-only mount, not root), if it cannot.
    pub not_writable: Option<Arc<binfmt_misc::Error>>,
}

impl KernelFacts {
    /// The entry called `name`.
    pub fn entry(&self, name: &str) -> Option<&EntryInfo> {
        self.entries.iter().find(|e| e.entry.name == name)
    }
}

/// One wanted target and everything about it.
#[derive(Debug, Clone)]
pub struct TargetFacts {
    /// The target.
    pub target: Target,
    /// Named explicitly (a problem is a failure) rather than implied by `all` (a skip).
    pub explicit: bool,
    /// Whether the host runs it itself.
    pub nativity: Nativity,
    /// The configured flags (before dropping what the kernel cannot honour).
    pub flags: Flags,
    /// Policy for other tools' entries.
    pub others: Others,
    /// Policy for the distribution's QEMU entries.
    pub distribution: Distribution,
    /// The interpreter chosen for it, or why there is none (`Err` too for native targets,
    /// which are not resolved).
    pub interpreter: Result<Source, Problem>,
}

/// Why a target has no interpreter.
#[derive(Debug, Clone)]
pub enum Problem {
    /// Not looked for: the target is native.
    NotNeeded,
    /// No candidate file exists.
    NotFound,
    /// The (chosen) candidate failed verification.
    Unusable(Arc<InterpreterError>),
}

/// A verified interpreter source and how it gets into place.
#[derive(Debug, Clone)]
pub struct Source {
    /// Its name in the store (`qemu-aarch64`; `qemu-i386` serves i386 and i486).
    pub binary: &'static str,
    /// The verified source file.
    pub file: Verified,
    /// SHA-256 of its content, when it was read whole (only a file to be copied is).
    pub sha256: Option<String>,
    /// Its QEMU version, when known.
    pub version: Option<String>,
    /// Where entries will find it.
    pub placement: Placement,
    /// Why this candidate.
    pub choice: Choice,
}

impl Source {
    /// Its bytes as known: its inode, and its digest when read.
    pub fn content(&self) -> Content {
        Content {
            file: FileId::from(&self.file),
            sha256: self.sha256.clone(),
        }
    }
}

/// Where the registered interpreter lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// In the store, as `<install_dir>/<binary>`: hard-linked from the source when they share a
    /// filesystem, copied otherwise.
    Store {
        /// Whether a hard link is possible (same filesystem).
        linkable: bool,
    },
    /// Where it is: already a binfmtd-managed file (the image's layout, a persisted install), or
    /// `binfmtd exec`'s private instance, which dies with its namespace.
    InPlace,
}

/// Why a candidate was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// `[target.X] interpreter` names it.
    Configured,
    /// The only candidate found.
    Only,
    /// The newest of several verified candidates that run the target's probe.
    Newest {
        /// The candidates passed over (path and version).
        over: Vec<(PathBuf, Option<String>)>,
    },
}

/// The managed install directory.
#[derive(Debug, Clone, Default)]
pub struct StoreFacts {
    /// The directory.
    pub dir: PathBuf,
    /// Whether it exists.
    pub exists: bool,
    /// Its device (for hard links), when it or its nearest existing parent can be stat'ed.
    pub dev: Option<u64>,
    /// Free bytes for new copies, when known.
    pub free: Option<u64>,
    /// The managed copies, by binary name.
    pub managed: BTreeMap<String, ManagedCopy>,
    /// Temporary files left by interrupted runs, with their sizes.
    pub leftovers: Vec<(PathBuf, u64)>,
    /// What binfmtd registered.
    pub pins: Registrations,
}

/// A configured `[[entry]]`.
#[derive(Debug, Clone)]
pub struct ExtraFacts {
    /// The rule.
    pub rule: Rule,
    /// Policy for a same-named entry of another tool.
    pub others: Others,
    /// The first 256 bytes of its interpreter, to refuse a rule that matches its own
    /// interpreter (every exec would loop); empty when unreadable.
    pub interpreter_header: Vec<u8>,
}
