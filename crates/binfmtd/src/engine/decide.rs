//! The pure decision: from the [`Facts`] and the caller's intent, what happens to every entry
//! and every interpreter file, and why. Nothing after this rewrites its result: [`apply`]
//! performs it and the report is derived from both.
//!
//! Policy, in one place:
//! - a target the host runs natively is skipped; a row (or `[[entry]]`) that would match
//!   binfmtd's own executable is refused (every native exec would loop);
//! - binfmtd's own entries are kept when exact, re-enabled when only disabled, and replaced when
//!   they differ or when the kernel pins an older interpreter file than the store now has;
//! - a same-named entry of the distribution's QEMU package is adopted (`distribution = "adopt"`,
//!   the default) and of any other tool left alone unless `others = "replace"` (or `--force`);
//! - under `all`, a target another tool's enabled entry already serves (FEX, box64, Rosetta)
//!   is skipped; naming the target, or `others = "replace"`, takes it over;
//! - with [`Mode::AllOrNothing`] one failure means no change at all; with
//!   [`Mode::BestEffort`] every entry that can be served is.
//!
//! [`apply`]: super::apply

use std::collections::BTreeSet;
use std::path::PathBuf;

use binfmt_misc::{Difference, Entry, EntryInfo, Flags, Rule, temp_name, temp_names};
use elf_magic::Target;

use super::facts::{
    ExtraFacts, Facts, InstallIntent, Mode, Placement, Problem, Source, TargetFacts,
    UninstallIntent,
};
use super::naming::{entry_name, row_matcher, row_rule};
use super::owner::Owner;
use super::plan::{
    Decision, EntryDecision, InstanceProblem, Interp, Stage, Step, StoreAction, StorePlan,
};
use super::why::Why;
use crate::config::{Distribution, Others};
use crate::host::Nativity;
use crate::interpreter::{Content, ManagedCopy};

/// Decides an install (also `plan` and every daemon convergence).
pub fn install(facts: &Facts, intent: &InstallIntent) -> Decision {
    let mut d = Decider::new(facts, intent);
    for t in &facts.targets {
        d.target(t);
    }
    for extra in &facts.extras {
        d.extra(extra);
    }
    d.superseded_own_entries();
    let mut decision = d.finish();
    if let Some(masks) = &facts.masks
        && !(intent.mode == Mode::AllOrNothing && decision.failed())
    {
        // A target whose distribution entries are to be left alone keeps its vendor file.
        let leave: BTreeSet<Target> = facts
            .targets
            .iter()
            .filter(|t| t.distribution == Distribution::Leave)
            .map(|t| t.target)
            .collect();
        let served = served_targets(&decision)
            .difference(&leave)
            .copied()
            .collect();
        decision.masks = super::masks::plan(masks, &served);
    }
    decision
}

/// The targets binfmtd serves once `decision` is applied: every entry of the target is
/// registered, re-enabled or kept (a skipped or failed row leaves the target to others).
fn served_targets(decision: &Decision) -> BTreeSet<Target> {
    let mut served = BTreeSet::new();
    let mut not = BTreeSet::new();
    for d in &decision.entries {
        let Some(t) = d.target else { continue };
        match d.step {
            Step::Add | Step::Replace | Step::Enable | Step::Keep => {
                served.insert(t);
            }
            Step::Skip | Step::Fail | Step::Remove => {
                not.insert(t);
            }
        }
    }
    served.difference(&not).copied().collect()
}

/// Decides an uninstall of the entries the caller selected.
pub fn uninstall(facts: &Facts, intent: &UninstallIntent) -> Decision {
    let mut decision = Decision::default();
    for name in &intent.selected {
        let Some(info) = facts.kernel.entry(name) else {
            continue;
        };
        let owner = facts.ownership.owner(&info.entry);
        let d = if owner == Owner::Binfmtd || intent.any_owner {
            EntryDecision::new(name, None, Step::Remove).because(Why::Requested)
        } else {
            EntryDecision::new(name, None, Step::Skip).because(Why::NotOurs { owner })
        };
        decision.entries.push(d.current(&info.entry));
    }
    if let Some(masks) = &facts.masks {
        // Targets binfmtd still serves after the removals keep their masks.
        let removed: BTreeSet<&str> = decision
            .entries
            .iter()
            .filter(|d| d.step == Step::Remove)
            .map(|d| d.name.as_str())
            .collect();
        let served: BTreeSet<Target> = facts
            .kernel
            .entries
            .iter()
            .map(|i| &i.entry)
            .filter(|e| !removed.contains(e.name.as_str()))
            .filter(|e| e.enabled && facts.ownership.owner(e) == Owner::Binfmtd)
            .filter_map(|e| super::naming::served_target(&e.matcher))
            .filter_map(|(t, exact)| exact.then_some(t))
            .collect();
        decision.masks = super::masks::plan(masks, &served);
    }
    decision.instance_problems(facts);
    decision
}

/// Accumulates the decision of one install.
struct Decider<'a> {
    facts: &'a Facts,
    intent: &'a InstallIntent,
    out: Decision,
    /// Every entry name this run wants registered (rows of wanted targets, extras).
    wanted: BTreeSet<String>,
}

/// What a rule's decision depends on besides the rule itself.
struct RuleContext<'a> {
    target: Option<Target>,
    explicit: bool,
    others: Others,
    distribution: Distribution,
    source: Option<&'a Source>,
}

impl<'a> Decider<'a> {
    fn new(facts: &'a Facts, intent: &'a InstallIntent) -> Decider<'a> {
        let mut wanted: BTreeSet<String> = facts
            .targets
            .iter()
            .filter(|t| t.nativity != Nativity::Native && t.interpreter.is_ok())
            .flat_map(|t| t.target.rows().map(|row| entry_name(&facts.prefix, row)))
            .collect();
        wanted.extend(facts.extras.iter().map(|e| e.rule.name.clone()));
        Decider {
            facts,
            intent,
            out: Decision::default(),
            wanted,
        }
    }

    fn target(&mut self, t: &TargetFacts) {
        let facts = self.facts;
        let first = entry_name(&facts.prefix, t.target.primary_row());
        let skip_or_fail = if t.explicit { Step::Fail } else { Step::Skip };
        if t.nativity == Nativity::Native {
            let d = EntryDecision::new(&first, Some(t.target), Step::Skip);
            self.out.entries.push(d.because(Why::Native(t.target)));
            return;
        }
        let source = match &t.interpreter {
            Ok(source) => source,
            Err(problem) => {
                let error = match problem {
                    Problem::Unusable(e) => Some(e.clone()),
                    Problem::NotFound | Problem::NotNeeded => None,
                };
                let why = Why::NoInterpreter {
                    target: t.target,
                    error,
                };
                let d = EntryDecision::new(&first, Some(t.target), skip_or_fail);
                self.out.entries.push(d.because(why));
                return;
            }
        };
        if !t.explicit
            && t.others == Others::Leave
            && let Some(by) = self.served_by_another(t)
        {
            let d = EntryDecision::new(&first, Some(t.target), Step::Skip);
            self.out
                .entries
                .push(d.because(Why::ServedBy { entry: by }));
            return;
        }
        let Some(flags) = self.flags(t.flags, &first, Some(t.target)) else {
            return;
        };
        if t.target == Target::Aarch64
            && let Some(w) = source
                .version
                .as_deref()
                .and_then(crate::advice::slow_aarch64)
            && !self.out.warnings.contains(&w)
        {
            self.out.warnings.push(w);
        }
        let path = match source.placement {
            Placement::Store { .. } => facts.store.dir.join(source.binary),
            Placement::InPlace => source.file.path.clone(),
        };
        let ctx = RuleContext {
            target: Some(t.target),
            explicit: t.explicit,
            others: t.others,
            distribution: t.distribution,
            source: Some(source),
        };
        for row in t.target.rows() {
            let name = entry_name(&facts.prefix, row);
            if facts.host.hijacks(&row_matcher(row)) {
                let d = EntryDecision::new(&name, Some(t.target), Step::Fail);
                let why = Why::HijacksHost { row: Some(row.id) };
                self.out.entries.push(d.because(why));
                continue;
            }
            self.rule(row_rule(name, row, path.clone(), flags), &ctx);
        }
    }

    fn extra(&mut self, extra: &ExtraFacts) {
        let rule = &extra.rule;
        let fail = |why| EntryDecision::new(&rule.name, None, Step::Fail).because(why);
        if self.facts.host.hijacks(&rule.matcher) {
            self.out.entries.push(fail(Why::HijacksHost { row: None }));
            return;
        }
        if !extra.interpreter_header.is_empty()
            && rule
                .matcher
                .matches(&rule.interpreter, &extra.interpreter_header)
        {
            let why = Why::MatchesItsInterpreter {
                interpreter: rule.interpreter.clone(),
            };
            self.out.entries.push(fail(why));
            return;
        }
        let Some(flags) = self.flags(rule.flags, &rule.name, None) else {
            return;
        };
        let ctx = RuleContext {
            target: None,
            explicit: true,
            others: extra.others,
            distribution: Distribution::Leave,
            source: None,
        };
        let rule = Rule {
            flags,
            ..rule.clone()
        };
        let index = self.out.entries.len();
        self.rule(rule.clone(), &ctx);
        // An extra overlapping a QEMU row binfmtd registers competes with it: say which wins.
        let rivals: Vec<&String> = self
            .wanted
            .iter()
            .filter(|n| **n != rule.name)
            .filter(|n| {
                self.out.entries.iter().any(|e| {
                    &e.name == *n
                        && e.rule
                            .as_ref()
                            .is_some_and(|r| r.matcher.overlaps(&rule.matcher))
                })
            })
            .collect();
        if let (Some(d), false) = (self.out.entries.get_mut(index), rivals.is_empty()) {
            let names: Vec<&str> = rivals.iter().map(|s| s.as_str()).collect();
            d.notes.push(format!(
                "overlaps {} (binfmtd's QEMU entry): the kernel uses whichever was registered last",
                names.join(", ")
            ));
        }
    }

    /// The flags as the kernel can honour them, or `None` after a failure decision: without
    /// `AT_FLAGS` (Linux < 5.12) QEMU cannot know argv\[0\] was preserved, so `P` is dropped
    /// (with one warning); flags the kernel does not accept at all fail.
    fn flags(&mut self, flags: Flags, name: &str, target: Option<Target>) -> Option<Flags> {
        let kernel = &self.facts.host.kernel;
        let mut effective = flags;
        if flags.preserve_argv0 && !kernel.preserve_argv0_reaches_interpreter() {
            effective.preserve_argv0 = false;
            let warning = format!(
                "kernel {} does not pass P (preserve argv[0]) to the interpreter (Linux >= \
                 5.12 does): registering without P",
                kernel.release
            );
            if !self.out.warnings.contains(&warning) {
                self.out.warnings.push(warning);
            }
        }
        if kernel.accepts(effective) {
            return Some(effective);
        }
        let why = Why::FlagsUnsupported {
            flags: effective.to_string(),
            accepted: kernel.accepted_flags(),
            release: kernel.release.clone(),
        };
        self.out
            .entries
            .push(EntryDecision::new(name, target, Step::Fail).because(why));
        None
    }

    /// Under `all`: another tool's enabled entry (not binfmtd's, not an adoptable distribution
    /// entry, not the same name) that serves `t`'s primary row.
    fn served_by_another(&self, t: &TargetFacts) -> Option<String> {
        let facts = self.facts;
        let row = row_matcher(t.target.primary_row());
        let names: BTreeSet<String> = t
            .target
            .rows()
            .map(|r| entry_name(&facts.prefix, r))
            .collect();
        facts
            .kernel
            .entries
            .iter()
            .map(|i| &i.entry)
            .filter(|e| e.enabled && !names.contains(&e.name) && e.matcher.overlaps(&row))
            .find(|e| match facts.ownership.owner(e) {
                Owner::Binfmtd => false,
                Owner::Distribution => t.distribution == Distribution::Leave,
                Owner::Other => true,
            })
            .map(|e| e.name.clone())
    }

    fn rule(&mut self, rule: Rule, ctx: &RuleContext<'_>) {
        let facts = self.facts;
        let existing = facts.kernel.entry(&rule.name);
        let interp = ctx
            .source
            .map(|s| Interp::of(s, rule.interpreter.clone(), self.runs(s)));
        let base = EntryDecision::new(&rule.name, ctx.target, Step::Keep).rule(&rule);
        let base = match &interp {
            Some(i) => base.interpreter(i.clone()),
            None => base,
        };
        let held = self.intent.held.contains(&rule.name);
        let (step, why) = match existing {
            None => (Step::Add, None),
            Some(info) => {
                let e = &info.entry;
                match facts.ownership.owner(e) {
                    Owner::Binfmtd => self.own_entry(e, &rule, ctx.source),
                    owner
                        if ctx.others == Others::Replace
                            || (owner == Owner::Distribution
                                && ctx.distribution == Distribution::Adopt) =>
                    {
                        (Step::Replace, Some(Why::TakeOver { owner, entry: None }))
                    }
                    owner => {
                        let step = if ctx.explicit { Step::Fail } else { Step::Skip };
                        let why = Why::OwnedBy {
                            owner,
                            interpreter: e.interpreter.clone(),
                        };
                        self.out
                            .entries
                            .push(base.step(step).because(why).current(e));
                        return;
                    }
                }
            }
        };
        if held && step.is_change() {
            let d = base.step(Step::Skip).because(Why::BackingOff);
            self.out.entries.push(with_current(d, existing));
            return;
        }
        // The temporary names of a gapless replace: binfmtd's leftovers (an interrupted run)
        // are removed before anything is registered (removals come first in `apply`); another
        // tool's entry under one is never touched, the next name is used instead.
        let mut temp = None;
        for name in temp_names(&rule.name) {
            match facts.kernel.entry(&name) {
                Some(t) if facts.ownership.owner(&t.entry) != Owner::Binfmtd => continue,
                Some(t) => {
                    let d = EntryDecision::new(&name, None, Step::Remove).because(Why::Leftover);
                    self.out.entries.push(d.current(&t.entry));
                }
                None => {}
            }
            temp.get_or_insert(name);
        }
        if step == Step::Replace && temp.is_none() {
            let d = base.step(Step::Fail).because(Why::TemporaryNameTaken {
                temp: temp_name(&rule.name),
            });
            self.out.entries.push(with_current(d, existing));
            return;
        }
        // Whatever the entry needs, the store keeps a verified copy of what serves it (also
        // restoring a deleted copy, or recording a touched source, without re-registering).
        if let Some(src) = ctx.source {
            self.stage(src);
        }
        let mut d = base.step(step);
        d.why = why;
        if step == Step::Replace {
            d.temp = temp;
        }
        let notes = self.overlaps(&rule, existing, step == Step::Keep, ctx);
        d.notes.extend(notes);
        self.out.entries.push(with_current(d, existing));
    }

    /// Binfmtd's own entry under the wanted name: keep, re-enable or replace.
    fn own_entry(&self, e: &Entry, rule: &Rule, source: Option<&Source>) -> (Step, Option<Why>) {
        let diffs = e.differences(rule);
        let stale = source.is_some_and(|s| !self.facts.store.pins.pins(&rule.name, &self.runs(s)));
        match (diffs.as_slice(), stale) {
            ([], false) => (Step::Keep, None),
            ([Difference::Disabled], false) => (Step::Enable, Some(Why::Differs(diffs))),
            (_, false) => (Step::Replace, Some(Why::Differs(diffs))),
            (_, true) => {
                let version = source.and_then(|s| s.version.clone());
                (Step::Replace, Some(Why::InterpreterUpdated { version }))
            }
        }
    }

    /// Other entries that can match the same files as `rule`: removed when they are taken over
    /// (`others = "replace"`, an adopted distribution entry), otherwise a note saying which one
    /// the kernel uses.
    fn overlaps(
        &mut self,
        rule: &Rule,
        existing: Option<&EntryInfo>,
        kept: bool,
        ctx: &RuleContext<'_>,
    ) -> Vec<String> {
        let facts = self.facts;
        let temps = temp_names(&rule.name);
        let mut left: Vec<&EntryInfo> = Vec::new();
        for info in &facts.kernel.entries {
            let e = &info.entry;
            if e.name == rule.name || temps.contains(&e.name) || !e.matcher.overlaps(&rule.matcher)
            {
                continue;
            }
            let owner = facts.ownership.owner(e);
            let take = match owner {
                // binfmtd's own entries under other names are handled once, at the end.
                Owner::Binfmtd => continue,
                Owner::Distribution => {
                    ctx.distribution == Distribution::Adopt || ctx.others == Others::Replace
                }
                Owner::Other => ctx.others == Others::Replace,
            };
            if take {
                if !self.out.entries.iter().any(|d| d.name == e.name) {
                    let why = Why::TakeOver {
                        owner,
                        entry: Some(rule.name.clone()),
                    };
                    let d = EntryDecision::new(&e.name, None, Step::Remove).because(why);
                    self.out.entries.push(d.current(e));
                }
            } else if e.enabled {
                left.push(info);
            }
        }
        if left.is_empty() {
            return Vec::new();
        }
        let names: Vec<&str> = left.iter().map(|i| i.entry.name.as_str()).collect();
        let names = names.join(", ");
        let shadowed_by = existing.filter(|_| kept).and_then(|ours| {
            let group: Vec<&EntryInfo> = left.iter().copied().chain([ours]).collect();
            binfmt_misc::order::active_among(&group).filter(|a| a.entry.name != rule.name)
        });
        vec![match shadowed_by {
            None => format!(
                "also matched by {names} (another tool's); the kernel uses {} (registered last)",
                rule.name
            ),
            Some(active) => format!(
                "shadowed by {} (another tool's, registered later): the kernel uses it for \
                 these files; pass --force or set others = \"replace\" to take over",
                active.entry.name
            ),
        }]
    }

    /// binfmtd's own entries for a wanted row under another name (the entry prefix changed):
    /// removed, since the wanted name now serves the row.
    fn superseded_own_entries(&mut self) {
        let facts = self.facts;
        let registered: Vec<(String, binfmt_misc::Matcher)> = self
            .out
            .entries
            .iter()
            .filter(|d| d.step.registers() || d.step == Step::Keep)
            .filter_map(|d| Some((d.name.clone(), d.rule.as_ref()?.matcher.clone())))
            .collect();
        for info in &facts.kernel.entries {
            let e = &info.entry;
            if self.wanted.contains(&e.name)
                || super::naming::is_temporary(&e.name)
                || facts.ownership.owner(e) != Owner::Binfmtd
                || self.out.entries.iter().any(|d| d.name == e.name)
            {
                continue;
            }
            if let Some((to, _)) = registered.iter().find(|(_, m)| *m == e.matcher) {
                let d = EntryDecision::new(&e.name, None, Step::Remove)
                    .because(Why::Renamed { to: to.clone() });
                self.out.entries.push(d.current(e));
            }
        }
    }

    /// The bytes an entry served by `source` runs once this run is done: the managed file where
    /// the store keeps it (it has the source's bytes), else the source's (linked, copied anew, or
    /// used in place).
    fn runs(&self, source: &Source) -> Content {
        match self.kept(source) {
            Some((m, _)) if matches!(source.placement, Placement::Store { .. }) => {
                m.content.clone()
            }
            _ => source.content(),
        }
    }

    /// The managed file for `source` when it already has the source's bytes, and whether it
    /// is recorded as made from this very source (unchanged since, so nothing is to be done).
    fn kept(&self, source: &Source) -> Option<(&ManagedCopy, bool)> {
        let m = self.facts.store.managed.get(source.binary)?;
        let made_from = m.source.as_ref().is_some_and(|s| s.same_file(&source.file));
        (made_from || m.content.same_bytes(&source.content())).then_some((m, made_from))
    }

    /// Plans getting `source` into place (once per interpreter).
    fn stage(&mut self, source: &Source) {
        if source.placement == Placement::InPlace
            || self
                .out
                .store
                .actions
                .iter()
                .any(|a| a.binary() == source.binary)
        {
            return;
        }
        let managed = self.facts.store.managed.get(source.binary);
        let action = match self.kept(source) {
            Some((_, true)) => return,
            Some((m, false)) => StoreAction::Record {
                binary: source.binary,
                source: source.file.clone(),
                sha256: source.sha256.clone().or_else(|| m.content.sha256.clone()),
            },
            _ => StoreAction::Stage(Stage {
                binary: source.binary,
                source: source.file.clone(),
                sha256: source.sha256.clone(),
                link: matches!(source.placement, Placement::Store { linkable: true }),
                previous_version: managed.and_then(|m| m.version.clone()),
            }),
        };
        self.out.store.actions.push(action);
    }

    /// Writability, space, the interpreter limit, all-or-nothing, and the store's housekeeping.
    fn finish(mut self) -> Decision {
        self.check_writable();
        self.check_space();
        self.check_interpreter_limit();
        if self.intent.mode == Mode::AllOrNothing && self.out.failed_beyond_space() {
            self.out.hold();
        }
        let facts = self.facts;
        let writes_store = !self.out.store.actions.is_empty();
        if writes_store {
            self.out.store.create = !facts.store.exists;
            self.out.store.clean = facts
                .store
                .leftovers
                .iter()
                .map(|(p, _)| p.clone())
                .collect();
        }
        self.out.instance_problems(facts);
        self.out
    }

    /// A read-only mount or a non-root user: every kernel change fails, with the cause said once
    /// (and no interpreter is copied for nothing).
    fn check_writable(&mut self) {
        let Some(error) = &self.facts.kernel.not_writable else {
            return;
        };
        let mut any = false;
        for d in self.out.entries.iter_mut().filter(|d| d.step.is_change()) {
            d.step = Step::Fail;
            d.why = Some(Why::CannotWrite);
            any = true;
        }
        if any {
            self.out.store = StorePlan::default();
            self.out
                .problems
                .push(InstanceProblem::NotWritable(error.clone()));
        }
    }

    /// Copies that do not fit fail their entries (said once); links need no space.
    fn check_space(&mut self) {
        let store = &self.facts.store;
        let Some(free) = store.free else { return };
        let reclaimable: u64 = store.leftovers.iter().map(|(_, size)| size).sum();
        let mut budget = free.saturating_add(reclaimable);
        let mut refused: Vec<&'static str> = Vec::new();
        let mut needed = 0u64;
        let mut kept = Vec::new();
        for action in std::mem::take(&mut self.out.store.actions) {
            let size = match &action {
                StoreAction::Stage(s) if !s.link => s.source.size,
                _ => 0,
            };
            if size <= budget {
                budget -= size;
                kept.push(action);
            } else {
                needed = needed.saturating_add(size);
                refused.push(action.binary());
            }
        }
        self.out.store.actions = kept;
        if refused.is_empty() {
            return;
        }
        for d in &mut self.out.entries {
            let binary = d.interpreter.as_ref().map(|i| i.binary);
            if d.step.is_change() && binary.is_some_and(|b| refused.contains(&b)) {
                d.step = Step::Fail;
                d.why = binary.map(|binary| Why::NoSpace { binary });
            }
        }
        self.out.problems.push(InstanceProblem::NoSpace {
            dir: store.dir.clone(),
            binaries: refused,
            needed,
            free,
        });
    }

    /// Linux >= 7.3 limits pinned interpreters: registering past it fails with ENOSPC, so a
    /// plan that would exceed it registers nothing new (said once).
    fn check_interpreter_limit(&mut self) {
        let kernel = &self.facts.kernel;
        let Some(limit) = kernel.max_interpreters else {
            return;
        };
        let pinned = |e: &Entry| e.flags.fix_binary;
        let mut count = kernel.entries.iter().filter(|i| pinned(&i.entry)).count() as u64;
        let mut transient = 0u64;
        for d in &self.out.entries {
            let now = d.current.as_ref().is_some_and(pinned);
            let after = d.rule.as_ref().is_some_and(|r| r.flags.fix_binary);
            match d.step {
                Step::Add if after => count += 1,
                Step::Remove if now => count = count.saturating_sub(1),
                // A gapless replace holds the old and a temporary entry for a moment.
                Step::Replace => {
                    count = count + u64::from(after) - u64::from(now);
                    transient = transient.max(u64::from(after));
                }
                _ => {}
            }
        }
        if count + transient <= limit {
            return;
        }
        for d in &mut self.out.entries {
            if d.step.registers() && d.rule.as_ref().is_some_and(|r| r.flags.fix_binary) {
                d.step = Step::Fail;
                d.why = Some(Why::TooManyInterpreters { limit });
            }
        }
        self.out
            .problems
            .push(InstanceProblem::TooManyInterpreters {
                limit,
                needed: count + transient,
            });
    }
}

fn with_current(d: EntryDecision, existing: Option<&EntryInfo>) -> EntryDecision {
    match existing {
        Some(info) => d.current(&info.entry),
        None => d,
    }
}

impl Interp {
    fn of(source: &Source, path: PathBuf, content: Content) -> Interp {
        Interp {
            binary: source.binary,
            path,
            content,
            version: source.version.clone(),
            choice: source.choice.clone(),
        }
    }
}
