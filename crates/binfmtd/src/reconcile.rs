//! The pure heart of `install` and `plan`: from what is wanted and what the kernel has, decide
//! per entry what to do and why, and report what would fail before anything is written.
//!
//! Policy, in one place:
//! - a target the host runs natively is skipped (never an emulator for the host's own code), and
//!   a row that matches binfmtd's own executable is refused outright (it would send every native
//!   exec to the emulator: ELOOP, an unbootable host);
//! - an entry is *ours* when its interpreter lives in binfmtd's install directory; ours are
//!   replaced when they differ, never someone else's unless the policy for that target is
//!   `replace`;
//! - a problem with an explicitly requested target is a failure (exit 1, nothing changed); with
//!   `all` it is a skip with its reason, because `all` only asks for what is available.

use binfmt_misc::{
    Action as PlanAction, Difference, Entry, EntryInfo, Flags, Matcher, Plan, Rule, Step,
};
use elf_magic::Target;
use std::path::PathBuf;

use crate::config::Others;
use crate::host::{HostFacts, Nativity};
use crate::report::{Action, EntryReport};

/// The interpreter chosen for a target, verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpreter {
    /// The path entries will point at (the managed copy).
    pub path: PathBuf,
    /// SHA-256 of its content, where known.
    pub sha256: Option<String>,
    /// QEMU's version, where known.
    pub version: Option<String>,
}

/// One target the user wants emulated.
#[derive(Debug, Clone)]
pub struct Wanted {
    /// The target.
    pub target: Target,
    /// Named explicitly (a problem is a failure) rather than implied by `all` (a skip).
    pub explicit: bool,
    /// The verified interpreter, or why there is none.
    pub interpreter: Result<Interpreter, String>,
    /// Flags for its entries.
    pub flags: Flags,
    /// Policy for other tools' entries.
    pub others: Others,
}

/// An extra, non-QEMU entry from the configuration.
#[derive(Debug, Clone)]
pub struct Extra {
    /// The rule to register.
    pub rule: Rule,
    /// Policy for a same-named entry of another tool.
    pub others: Others,
}

/// The kernel's side and the ownership test.
pub struct Current<'a> {
    /// Every entry the kernel has now.
    pub entries: &'a [EntryInfo],
    /// Whether an entry is binfmtd's.
    pub is_ours: &'a dyn Fn(&Entry) -> bool,
}

/// The decision: a plan for `binfmt_misc::apply`, and the report lines that go with it.
#[derive(Debug, Default)]
pub struct Decision {
    /// Kernel changes, in order.
    pub plan: Plan,
    /// One line per entry (planned steps, skips and failures).
    pub reports: Vec<EntryReport>,
    /// Entries replaced only because their interpreter file may have changed ([`force_refresh`]).
    pub refreshed: Vec<String>,
}

impl Decision {
    /// Whether anything failed already at planning time (then nothing may be applied).
    pub fn failed(&self) -> bool {
        self.reports.iter().any(|r| r.action == Action::Failed)
    }
}

/// The entry name for a table row: the configured prefix plus the row's id (`qemu-aarch64`).
pub fn entry_name(prefix: &str, row: &elf_magic::Row) -> String {
    format!("{prefix}{}", row.id)
}

/// The rule for one table row.
pub fn row_rule(name: String, row: &elf_magic::Row, interpreter: PathBuf, flags: Flags) -> Rule {
    Rule {
        name,
        matcher: Matcher::Magic {
            offset: usize::from(row.offset),
            magic: row.magic.to_vec(),
            mask: Some(row.mask.to_vec()),
        },
        interpreter,
        flags,
    }
}

/// Decides what `install` does for every wanted target and extra entry.
pub fn decide(
    wanted: &[Wanted],
    extras: &[Extra],
    prefix: &str,
    host: &HostFacts,
    current: &Current<'_>,
) -> Decision {
    let mut decision = Decision::default();
    for w in wanted {
        decide_target(w, prefix, host, current, &mut decision);
    }
    for extra in extras {
        decide_rule(
            &extra.rule,
            None,
            extra.others,
            true,
            current,
            &mut decision,
            None,
        );
    }
    decision
}

fn decide_target(
    w: &Wanted,
    prefix: &str,
    host: &HostFacts,
    current: &Current<'_>,
    out: &mut Decision,
) {
    let target = Some(w.target.name().to_string());
    let first_name = w.target.rows().next().map(|r| entry_name(prefix, r));
    let name = first_name.unwrap_or_else(|| format!("{prefix}{}", w.target.name()));
    match host.nativity(w.target) {
        Nativity::Native => {
            out.reports.push(
                EntryReport::new(name, target, Action::Skipped).because(format!(
                    "native: this host runs {} binaries itself",
                    w.target
                )),
            );
            return;
        }
        Nativity::Unknown | Nativity::Foreign => {}
    }
    let interpreter = match &w.interpreter {
        Ok(i) => i,
        Err(why) => {
            let action = if w.explicit {
                Action::Failed
            } else {
                Action::Skipped
            };
            out.reports
                .push(EntryReport::new(name, target, action).because(why.clone()));
            return;
        }
    };
    for row in w.target.rows() {
        let name = entry_name(prefix, row);
        if host.row_matches_host(row) {
            out.reports.push(
                EntryReport::new(name, target.clone(), Action::Failed).because(format!(
                    "refusing to register: row {} matches this host's own executables \
                     (every native exec would go to the emulator)",
                    row.id
                )),
            );
            continue;
        }
        let rule = row_rule(name, row, interpreter.path.clone(), w.flags);
        decide_rule(
            &rule,
            target.clone(),
            w.others,
            w.explicit,
            current,
            out,
            Some(interpreter),
        );
    }
}

fn decide_rule(
    rule: &Rule,
    target: Option<String>,
    others: Others,
    explicit: bool,
    current: &Current<'_>,
    out: &mut Decision,
    interpreter: Option<&Interpreter>,
) {
    let existing = current.entries.iter().find(|e| e.entry.name == rule.name);
    let mut report = EntryReport::new(rule.name.clone(), target, Action::Kept);
    report.flags = Some(rule.flags.to_string());
    report.interpreter = Some(rule.interpreter.clone());
    report.sha256 = interpreter.and_then(|i| i.sha256.clone());
    report.version = interpreter.and_then(|i| i.version.clone());

    let (action, reason) = match existing {
        None => (PlanAction::Add, None),
        Some(e) if !(current.is_ours)(&e.entry) && others == Others::Leave => {
            let why = format!(
                "entry {} belongs to another tool (interpreter {}); pass --force or set \
                 others = \"replace\" to take it over",
                rule.name,
                e.entry.interpreter.display()
            );
            report.action = if explicit {
                Action::Failed
            } else {
                Action::Skipped
            };
            out.reports.push(report.because(why));
            return;
        }
        Some(e) => {
            let mut reasons = e.entry.differences(rule);
            let foreign = !(current.is_ours)(&e.entry);
            if reasons.is_empty() && !foreign {
                (PlanAction::Keep, None)
            } else {
                let mut text: Vec<String> = reasons.iter().map(ToString::to_string).collect();
                if foreign {
                    text.insert(0, "taking over another tool's entry".to_string());
                }
                let action = PlanAction::Replace {
                    reasons: std::mem::take(&mut reasons),
                };
                (action, Some(text.join(", ")))
            }
        }
    };
    report.action = match action {
        PlanAction::Add => Action::Added,
        PlanAction::Replace { .. } => Action::Replaced,
        PlanAction::Keep | PlanAction::Remove => Action::Kept,
    };
    let overlap = (others == Others::Leave)
        .then(|| overlap_note(rule, existing, action == PlanAction::Keep, current))
        .flatten();
    report.reason = match (reason, overlap) {
        (Some(r), Some(o)) => Some(format!("{r}; {o}")),
        (r, o) => r.or(o),
    };
    out.plan.steps.push(Step {
        name: rule.name.clone(),
        action,
        rule: Some(rule.clone()),
        current: existing.map(|e| e.entry.clone()),
    });
    if others == Others::Replace {
        remove_overlapping(rule, current, out);
    }
    out.reports.push(report);
    remove_leftover_temporary(rule, current, out);
}

/// Undoes a [`force_refresh`] of `name` that turned out unnecessary: the interpreter file had a
/// new stat identity but the same bytes (a `touch`, a reinstall of the same version), and the
/// kernel already pins those bytes, so re-registering would change nothing.
pub fn unforce(decision: &mut Decision, name: &str) {
    if !decision.refreshed.iter().any(|n| n == name) {
        return;
    }
    decision.refreshed.retain(|n| n != name);
    for step in decision.plan.steps.iter_mut().filter(|s| s.name == name) {
        step.action = PlanAction::Keep;
    }
    if let Some(r) = decision.reports.iter_mut().find(|r| r.name == name) {
        r.action = Action::Kept;
        r.reason = None;
    }
}

/// A replace interrupted half-way (killed, or its last write refused) can leave its temporary
/// entry behind: it still pins the old interpreter and would serve the files if the real entry
/// were disabled. Ours are removed once the real entry has its step.
fn remove_leftover_temporary(rule: &Rule, current: &Current<'_>, out: &mut Decision) {
    let temp = binfmt_misc::temp_name(&rule.name);
    let Some(left) = current.entries.iter().find(|e| e.entry.name == temp) else {
        return;
    };
    if !(current.is_ours)(&left.entry) {
        return;
    }
    out.plan.steps.push(Step {
        name: temp.clone(),
        action: PlanAction::Remove,
        rule: None,
        current: Some(left.entry.clone()),
    });
    out.reports.push(
        EntryReport::new(temp, None, Action::Removed)
            .because("left over from an interrupted replace"),
    );
}

/// Other tools' enabled entries that can match the same files as `rule` (left alone with
/// `others = "leave"`), and which entry the kernel uses: the most recently registered one.
fn overlap_note(
    rule: &Rule,
    existing: Option<&EntryInfo>,
    kept: bool,
    current: &Current<'_>,
) -> Option<String> {
    let others: Vec<&EntryInfo> = current
        .entries
        .iter()
        .filter(|e| e.entry.name != rule.name && e.entry.enabled && !(current.is_ours)(&e.entry))
        .filter(|e| e.entry.matcher.overlaps(&rule.matcher))
        .collect();
    if others.is_empty() {
        return None;
    }
    let names: Vec<&str> = others.iter().map(|e| e.entry.name.as_str()).collect();
    let names = names.join(", ");
    // A new or re-registered entry is the newest; a kept one competes on registration order.
    let shadowed_by = existing.filter(|_| kept).and_then(|ours| {
        let group: Vec<&EntryInfo> = others
            .iter()
            .copied()
            .chain(std::iter::once(ours))
            .collect();
        binfmt_misc::order::active_among(&group).filter(|active| active.entry.name != rule.name)
    });
    Some(match shadowed_by {
        None => format!(
            "also matched by {names} (another tool's); the kernel uses {} (registered last)",
            rule.name
        ),
        Some(active) => format!(
            "shadowed by {} (another tool's, registered later): the kernel uses it for these \
             files; pass --force or set others = \"replace\" to take over",
            active.entry.name
        ),
    })
}

/// With `others = "replace"`, differently named entries of other tools that can match the same
/// files as `rule` are removed, so ours is the only handler.
fn remove_overlapping(rule: &Rule, current: &Current<'_>, out: &mut Decision) {
    for e in current.entries {
        let entry = &e.entry;
        if entry.name == rule.name
            || (current.is_ours)(entry)
            || !entry.matcher.overlaps(&rule.matcher)
        {
            continue;
        }
        if out.plan.steps.iter().any(|s| s.name == entry.name) {
            continue;
        }
        out.plan.steps.push(Step {
            name: entry.name.clone(),
            action: PlanAction::Remove,
            rule: None,
            current: Some(entry.clone()),
        });
        out.reports.push(
            EntryReport::new(entry.name.clone(), None, Action::Removed).because(format!(
                "another tool's entry overlapping {} (others = \"replace\")",
                rule.name
            )),
        );
    }
}

/// Forces a replace of `name` (its interpreter file changed since registration: the kernel still
/// runs the old, pinned one).
pub fn force_refresh(decision: &mut Decision, name: &str, why: &str) {
    for step in decision.plan.steps.iter_mut().filter(|s| s.name == name) {
        match &mut step.action {
            PlanAction::Keep => {
                step.action = PlanAction::Replace {
                    reasons: Vec::new(),
                };
                decision.refreshed.push(name.to_string());
                if let Some(r) = decision.reports.iter_mut().find(|r| r.name == name) {
                    r.action = Action::Replaced;
                    r.reason = Some(why.to_string());
                }
            }
            // A replace for "disabled" alone only re-enables the entry, which would keep the old
            // pinned interpreter: the new file needs a real re-registration.
            PlanAction::Replace { reasons } if !reasons.contains(&Difference::Interpreter) => {
                reasons.push(Difference::Interpreter);
                if let Some(r) = decision.reports.iter_mut().find(|r| r.name == name) {
                    r.reason = Some(match r.reason.take() {
                        Some(earlier) => format!("{earlier}, {why}"),
                        None => why.to_string(),
                    });
                }
            }
            PlanAction::Replace { .. } | PlanAction::Add | PlanAction::Remove => {}
        }
    }
}

#[cfg(test)]
mod tests;
