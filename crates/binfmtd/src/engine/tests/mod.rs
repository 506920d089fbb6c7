//! Unit tests of the engine's pure decision: facts built by hand, no kernel, no files.
//!
//! `World` describes a host (x86_64, Linux 6.18 unless said otherwise), a store, and a kernel
//! table; each test changes what it needs and checks the decisions.

mod decide;
mod limits;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use binfmt_misc::{Entry, EntryInfo, Flags, RegistrationStamp, Rule};
use elf_magic::Target;

use super::facts::{
    Choice, ExtraFacts, Facts, InstallIntent, KernelFacts, Mode, Placement, Problem, Source,
    StoreFacts, TargetFacts,
};
use super::naming::{entry_name, row_rule};
use super::owner::Ownership;
use super::pins::{Registration, Registrations};
use super::plan::{Decision, EntryDecision, Step};
use crate::config::{Distribution, Others};
use crate::host::{HostFacts, Nativity};
use crate::interpreter::{Content, FileId, ManagedCopy, Timestamp, Verified};

pub(super) const STORE: &str = "/var/lib/binfmtd/interpreters";

/// The header of an x86_64 executable (the host's own format).
fn x86_64_header() -> Vec<u8> {
    let mut h = vec![0u8; 64];
    h[..4].copy_from_slice(b"\x7fELF");
    h[4] = 2; // ELF64
    h[5] = 1; // LSB
    h[6] = 1;
    h[16] = 3; // ET_DYN
    h[18] = 0x3e; // EM_X86_64
    h[20] = 1;
    h
}

pub(super) fn host(release: &str) -> HostFacts {
    HostFacts {
        machine: "x86_64".into(),
        native: Some(Target::X86_64),
        exe_header: x86_64_header(),
        compat: [
            (Target::I386, Nativity::Native),
            (Target::I486, Nativity::Native),
        ]
        .into(),
        initial_user_namespace: true,
        kernel: binfmt_misc::Features::of(release),
    }
}

pub(super) fn verified(path: &str, size: u64) -> Verified {
    Verified {
        path: path.into(),
        size,
        mtime: Timestamp { sec: 1, nsec: 0 },
        ctime: Timestamp { sec: 1, nsec: 0 },
        dev: 1,
        ino: size,
    }
}

/// A source for `target`, linkable into the store unless `copy`.
pub(super) fn source(target: Target, sha: &str) -> Source {
    Source {
        binary: target.qemu_binary(),
        file: verified(
            &format!("/usr/bin/{}-static", target.qemu_binary()),
            10 << 20,
        ),
        sha256: Some(sha.into()),
        version: Some("10.0.13".into()),
        placement: Placement::Store { linkable: true },
        choice: Choice::Only,
    }
}

pub(super) fn wanted(
    target: Target,
    explicit: bool,
    interpreter: Result<Source, Problem>,
) -> TargetFacts {
    TargetFacts {
        target,
        explicit,
        nativity: if matches!(target, Target::X86_64 | Target::I386 | Target::I486) {
            Nativity::Native
        } else {
            Nativity::Foreign
        },
        flags: "PF".parse().unwrap_or_default(),
        others: Others::Leave,
        distribution: Distribution::Adopt,
        interpreter,
    }
}

/// A kernel entry, registered in order.
pub(super) fn info(entry: Entry, order: u64) -> EntryInfo {
    EntryInfo {
        entry,
        registered: RegistrationStamp {
            ctime_sec: order as i64,
            ctime_nsec: 0,
            inode: order,
        },
    }
}

/// The rule binfmtd registers for `target`'s primary row.
pub(super) fn our_rule(target: Target) -> Rule {
    let row = target.primary_row();
    row_rule(
        entry_name("qemu-", row),
        row,
        PathBuf::from(STORE).join(target.qemu_binary()),
        "PF".parse().unwrap_or_default(),
    )
}

/// A rule for `target`'s row with another interpreter, name and flags.
pub(super) fn rule_of(target: Target, name: &str, interpreter: &str, flags: &str) -> Rule {
    row_rule(
        name.into(),
        target.primary_row(),
        interpreter.into(),
        flags.parse().unwrap_or_default(),
    )
}

/// The facts everyone starts from.
pub(super) struct World {
    pub(super) facts: Facts,
}

impl World {
    pub(super) fn new(targets: Vec<TargetFacts>) -> World {
        World {
            facts: Facts {
                host: host("6.18.44"),
                kernel: KernelFacts {
                    mount: "/proc/sys/fs/binfmt_misc".into(),
                    mounted: true,
                    enabled: true,
                    entries: Vec::new(),
                    max_interpreters: None,
                    not_writable: None,
                },
                store: StoreFacts {
                    dir: STORE.into(),
                    exists: true,
                    dev: Some(1),
                    free: Some(u64::MAX),
                    managed: BTreeMap::new(),
                    leftovers: Vec::new(),
                    pins: Registrations::default(),
                },
                ownership: Ownership {
                    binfmtd_dirs: vec![STORE.into(), "/usr/libexec/binfmtd".into()],
                    registered: BTreeMap::new(),
                },
                prefix: "qemu-".into(),
                targets,
                extras: Vec::new(),
                masks: None,
            },
        }
    }

    /// Adds kernel entries, oldest first.
    pub(super) fn with_entries(mut self, rules: &[Rule]) -> World {
        let base = self.facts.kernel.entries.len() as u64;
        for (i, r) in rules.iter().enumerate() {
            self.facts
                .kernel
                .entries
                .push(info(Entry::from_rule(r), base + i as u64 + 1));
        }
        self
    }

    /// Records that binfmtd registered `rule` pinning `sha`, with its managed copy in place.
    pub(super) fn pinned(mut self, rule: &Rule, sha: &str) -> World {
        let reg = Registration {
            interpreter: rule.interpreter.clone(),
            sha256: Some(sha.into()),
            file: None,
            version: None,
            chosen: None,
        };
        self.facts.store.pins.entries.insert(rule.name.clone(), reg);
        self.facts
            .ownership
            .registered
            .insert(rule.name.clone(), rule.interpreter.clone());
        self
    }

    /// A managed copy in the store (its own inode, on the store's device: the same bytes as a
    /// source only by digest).
    pub(super) fn managed(mut self, binary: &str, sha: &str, source: Option<Verified>) -> World {
        let copy = ManagedCopy {
            content: Content {
                file: FileId {
                    dev: 2,
                    ino: 1,
                    size: 10 << 20,
                    mtime: Timestamp { sec: 1, nsec: 0 },
                },
                sha256: Some(sha.into()),
            },
            version: None,
            source,
        };
        self.facts.store.managed.insert(binary.into(), copy);
        self
    }

    pub(super) fn extra(mut self, rule: Rule, interpreter_header: Vec<u8>) -> World {
        self.facts.extras.push(ExtraFacts {
            rule,
            others: Others::Leave,
            interpreter_header,
        });
        self
    }

    pub(super) fn decide(&self, mode: Mode) -> Decision {
        super::decide::install(
            &self.facts,
            &InstallIntent {
                mode,
                held: BTreeSet::new(),
            },
        )
    }

    pub(super) fn decide_held(&self, held: &[&str]) -> Decision {
        let held = held.iter().map(|s| s.to_string()).collect();
        super::decide::install(
            &self.facts,
            &InstallIntent {
                mode: Mode::BestEffort,
                held,
            },
        )
    }
}

/// The decision for entry `name`.
pub(super) fn of<'a>(d: &'a Decision, name: &str) -> &'a EntryDecision {
    d.entries
        .iter()
        .find(|e| e.name == name)
        .unwrap_or_else(|| panic!("no decision for {name}: {:#?}", names(d)))
}

/// `(name, step)` of every decision.
pub(super) fn names(d: &Decision) -> Vec<(String, Step)> {
    d.entries.iter().map(|e| (e.name.clone(), e.step)).collect()
}

pub(super) fn why_code(d: &EntryDecision) -> &'static str {
    d.why.as_ref().map_or("", super::why::Why::code)
}

pub(super) fn unusable() -> Problem {
    Problem::Unusable(Arc::new(crate::interpreter::InterpreterError::NotFound {
        path: "/nope".into(),
    }))
}

pub(super) fn flags(s: &str) -> Flags {
    s.parse().unwrap_or_default()
}
