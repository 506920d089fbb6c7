//! The I/O half of acting: performs a [`Decision`] and only that, and says how each part went.
//! It never decides anything: which entries and files to touch was settled by `decide`.
//!
//! Order of work:
//! 1. the store: create the directory, delete leftovers of interrupted runs, link or copy the
//!    interpreters, save the manifest once;
//! 2. the kernel: remove left-over temporary entries, register/replace/re-enable (a replace is
//!    gapless), then the other removals (an entry taken over disappears only once ours serves);
//! 3. the distribution's binfmt.d masks (only for targets whose entries are now in place);
//! 4. record what the kernel now pins and which masks are binfmtd's (`registrations.json`).
//!
//! In [`Mode::AllOrNothing`] a store failure means no kernel write at all; in
//! [`Mode::BestEffort`] only the entries needing the failed interpreter fail.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use binfmt_misc::BinfmtMisc;

use super::facts::Mode;
use super::parallel::map_parallel;
use super::pins::{Registration, Registrations};
use super::plan::{Decision, EntryDecision, Stage, Step, StoreAction};
use super::why::Why;
use crate::interpreter::{Digest, FileId, InterpreterError, Placed, Staged, Store};

/// Why one entry's change failed when applied.
#[derive(Debug, Clone)]
pub enum ApplyError {
    /// The kernel refused the write.
    Kernel(Arc<binfmt_misc::Error>),
    /// Its interpreter could not be put into the store.
    Interpreter(Arc<InterpreterError>),
    /// The store itself is unusable (reported once as a problem of the run).
    Store,
}

impl fmt::Display for ApplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApplyError::Kernel(e) => e.fmt(f),
            ApplyError::Interpreter(e) => e.fmt(f),
            ApplyError::Store => {
                f.write_str("not applied: the install directory cannot be used (see above)")
            }
        }
    }
}

/// How applying went.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Per entry decision (same order): `None` when it writes nothing.
    pub entries: Vec<Option<Result<(), ApplyError>>>,
    /// How each interpreter got into place.
    pub placed: BTreeMap<&'static str, Placed>,
    /// The store could not be prepared or its manifest saved (said once).
    pub store_error: Option<Arc<InterpreterError>>,
    /// Temporary files of interrupted runs deleted.
    pub cleaned: usize,
    /// The registrations record could not be saved (the next run re-registers what it cannot
    /// prove current).
    pub pins_error: Option<String>,
    /// binfmt.d masks created (file names).
    pub masks_made: Vec<String>,
    /// binfmtd's masks removed, or forgotten because they were already gone.
    pub masks_removed: Vec<String>,
    /// Masks that could not be written or removed, one line each.
    pub mask_errors: Vec<String>,
}

impl Outcome {
    /// The result of entry `index`, if it was a change.
    pub fn result(&self, index: usize) -> Option<&Result<(), ApplyError>> {
        self.entries.get(index).and_then(Option::as_ref)
    }

    /// The digest of the interpreter `binary` when this run copied it (hashed on the way).
    pub fn digest_of(&self, binary: &str) -> Option<&str> {
        self.placed.get(binary).and_then(Placed::sha256)
    }
}

/// The store side of an [`apply`].
#[derive(Debug)]
pub struct StoreIo<'a> {
    /// The store.
    pub store: &'a Store,
    /// Digests learnt by `prepare`, to cache.
    pub fresh: &'a [Digest],
}

/// Performs `decision` on `fs` and, unless `store` is `None` (`binfmtd exec`'s private
/// instance: no store, no record), on the store. The caller holds the instance's writer lock
/// ([`BinfmtMisc::lock_writers`]) from before it read the facts.
pub fn apply(
    decision: &Decision,
    mode: Mode,
    fs: &BinfmtMisc,
    store: Option<StoreIo<'_>>,
) -> Outcome {
    let mut outcome = Outcome::default();
    let failed_binaries = match &store {
        Some(io) => put_interpreters(decision, io.store, io.fresh, &mut outcome),
        None => BTreeMap::new(),
    };
    let store_failed = outcome.store_error.is_some() || !failed_binaries.is_empty();
    let entry_error = |d: &EntryDecision| -> Option<ApplyError> {
        if outcome.store_error.is_some() && d.step.registers() {
            return Some(ApplyError::Store);
        }
        let binary = d.interpreter.as_ref()?.binary;
        failed_binaries
            .get(binary)
            .map(|e| ApplyError::Interpreter(e.clone()))
    };
    let mut results: Vec<Option<Result<(), ApplyError>>> = vec![None; decision.entries.len()];
    let blocked = mode == Mode::AllOrNothing && store_failed;
    let first = |d: &EntryDecision| d.step == Step::Remove && matches!(d.why, Some(Why::Leftover));
    let phases: [&dyn Fn(&EntryDecision) -> bool; 3] = [
        &first,
        &|d: &EntryDecision| d.step.registers() || d.step == Step::Enable,
        &|d: &EntryDecision| d.step == Step::Remove && !first(d),
    ];
    for phase in phases {
        for (i, d) in decision
            .entries
            .iter()
            .enumerate()
            .filter(|(_, d)| phase(d))
        {
            let result = match (blocked, entry_error(d)) {
                (_, Some(e)) => Err(e),
                (true, None) => match &outcome.store_error {
                    Some(_) => Err(ApplyError::Store),
                    None => Err(first_failure(&failed_binaries)),
                },
                (false, None) => write(fs, d).map_err(|e| ApplyError::Kernel(Arc::new(e))),
            };
            match &result {
                Ok(()) => {
                    tracing::info!(entry = %d.name, step = ?d.step, reason = %d.why.as_ref().map(ToString::to_string).unwrap_or_default(), "applied")
                }
                Err(e) => tracing::debug!(entry = %d.name, "{e}"),
            }
            results[i] = Some(result);
        }
    }
    outcome.entries = results;
    if let Some(io) = store {
        apply_masks(decision, &mut outcome);
        record_pins(decision, io.store, &mut outcome);
    }
    outcome
}

/// Step 3: mask the distribution's binfmt.d files whose targets binfmtd now serves (none whose
/// entry failed just now), and remove binfmtd's masks that are no longer wanted.
fn apply_masks(decision: &Decision, outcome: &mut Outcome) {
    let plan = &decision.masks;
    let failed: std::collections::BTreeSet<elf_magic::Target> = decision
        .entries
        .iter()
        .enumerate()
        .filter(|(i, _)| matches!(outcome.result(*i), Some(Err(_))))
        .filter_map(|(_, d)| d.target)
        .collect();
    for mask in &plan.create {
        if !mask.targets.is_disjoint(&failed) {
            continue;
        }
        let path = plan.etc.join(&mask.name);
        let made = std::fs::create_dir_all(&plan.etc)
            .and_then(|()| std::os::unix::fs::symlink("/dev/null", &path));
        match made {
            Ok(()) => {
                tracing::info!(file = %path.display(), "masked the distribution's binfmt.d file (binfmtd serves its targets)");
                outcome.masks_made.push(mask.name.clone());
            }
            Err(e) => outcome.mask_errors.push(format!(
                "cannot mask {} (ln -s /dev/null): {e}; systemd-binfmt will register the \
                 distribution's entry again at its next start",
                path.display()
            )),
        }
    }
    for name in &plan.remove {
        let path = plan.etc.join(name);
        // Still our link? (checked again right before deleting it)
        let ours = std::fs::read_link(&path).is_ok_and(|t| t == std::path::Path::new("/dev/null"));
        let removed = if ours {
            std::fs::remove_file(&path)
        } else {
            Ok(())
        };
        match removed {
            Ok(()) => {
                if ours {
                    tracing::info!(file = %path.display(), "removed binfmtd's mask of the distribution's binfmt.d file");
                }
                outcome.masks_removed.push(name.clone());
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                outcome.masks_removed.push(name.clone())
            }
            Err(e) => outcome.mask_errors.push(format!(
                "cannot remove binfmtd's mask {}: {e}; remove it by hand (rm {})",
                path.display(),
                path.display()
            )),
        }
    }
    outcome.masks_removed.extend(plan.forget.iter().cloned());
    for e in &outcome.mask_errors {
        tracing::warn!("{e}");
    }
}

/// One kernel write: the only place binfmtd writes binfmt_misc (clippy.toml's
/// `disallowed-methods` forbids these calls everywhere else).
#[allow(clippy::disallowed_methods)]
fn write(fs: &BinfmtMisc, d: &EntryDecision) -> Result<(), binfmt_misc::Error> {
    let missing = || binfmt_misc::Error::NotFound {
        name: d.name.clone(),
    };
    match d.step {
        Step::Add => fs.register(d.rule.as_ref().ok_or_else(missing)?),
        Step::Replace => {
            let rule = d.rule.as_ref().ok_or_else(missing)?;
            let temp = d
                .temp
                .clone()
                .unwrap_or_else(|| binfmt_misc::temp_name(&rule.name));
            binfmt_misc::replace_through(fs, &d.name, rule, &temp)
        }
        Step::Enable => fs.enable(&d.name),
        Step::Remove => match fs.remove(&d.name) {
            Err(e) if e.kind() == binfmt_misc::ErrorKind::NotFound => Ok(()),
            other => other,
        },
        Step::Keep | Step::Skip | Step::Fail => Ok(()),
    }
}

/// Step 1: the store. Returns the interpreters that failed.
fn put_interpreters(
    decision: &Decision,
    store: &Store,
    fresh: &[Digest],
    outcome: &mut Outcome,
) -> BTreeMap<&'static str, Arc<InterpreterError>> {
    let mut failed = BTreeMap::new();
    let plan = &decision.store;
    // Digests are worth caching only where a store exists or is being created anyway.
    let remember = !fresh.is_empty() && (store.dir().is_dir() || plan.create);
    if plan.actions.is_empty() && plan.clean.is_empty() && !remember {
        return failed;
    }
    let store = match Store::open(store.dir()).map_err(Arc::new) {
        Ok(s) => s,
        Err(e) => {
            outcome.store_error = Some(e);
            return failed;
        }
    };
    let mut writer = match store.writer() {
        Ok(w) => w,
        Err(e) => {
            outcome.store_error = Some(Arc::new(e));
            return failed;
        }
    };
    for path in &plan.clean {
        match writer.clean(path) {
            Ok(()) => outcome.cleaned += 1,
            Err(e) => tracing::warn!("{e}"),
        }
    }
    for digest in fresh {
        writer.remember(digest.clone());
    }
    // Copies are read and hashed: staged several at a time, then renamed into place in order
    // (links are cheap and made in the loop below).
    let copies: Vec<&Stage> = plan
        .actions
        .iter()
        .filter_map(|a| match a {
            StoreAction::Stage(s) if !s.link => Some(s),
            _ => None,
        })
        .collect();
    let staged = map_parallel(&copies, |s| writer.stage(s.binary, &s.source));
    let mut staged: BTreeMap<&'static str, Result<Staged, InterpreterError>> =
        copies.iter().map(|s| s.binary).zip(staged).collect();
    for action in &plan.actions {
        let version = |binary: &str| {
            decision
                .entries
                .iter()
                .filter_map(|d| d.interpreter.as_ref())
                .find(|i| i.binary == binary)
                .and_then(|i| i.version.clone())
        };
        let result = match action {
            StoreAction::Stage(s) => match staged.remove(s.binary) {
                Some(copy) => copy.and_then(|copy| {
                    writer.put_staged(s.binary, copy, s.sha256.as_deref(), version(s.binary))
                }),
                None => writer.put(
                    s.binary,
                    &s.source,
                    s.sha256.as_deref(),
                    version(s.binary),
                    s.link,
                ),
            }
            .map(|placed| {
                tracing::info!(
                    interpreter = s.binary,
                    ?placed,
                    old_version = s.previous_version.as_deref().unwrap_or("-"),
                    new_version = version(s.binary).as_deref().unwrap_or("-"),
                    "installed interpreter"
                );
                outcome.placed.insert(s.binary, placed);
            }),
            StoreAction::Record {
                binary,
                source,
                sha256,
            } => writer.record(binary, source, sha256.as_deref(), version(binary)),
        };
        if let Err(e) = result {
            failed.insert(action.binary(), Arc::new(e));
        }
    }
    if let Err(e) = writer.commit() {
        // The files are in place; an unrecorded file is recognised by its content next time.
        outcome.store_error = Some(Arc::new(e));
    }
    failed
}

fn first_failure(failed: &BTreeMap<&'static str, Arc<InterpreterError>>) -> ApplyError {
    match failed.values().next() {
        Some(e) => ApplyError::Interpreter(e.clone()),
        None => ApplyError::Interpreter(Arc::new(InterpreterError::io(
            "installing interpreters into",
            "the store",
            std::io::Error::other("failed"),
        ))),
    }
}

/// Step 3: what the kernel now pins.
fn record_pins(decision: &Decision, store: &Store, outcome: &mut Outcome) {
    let mut pins = Registrations::load(store.dir());
    let before = pins.clone();
    for (i, d) in decision.entries.iter().enumerate() {
        if !matches!(outcome.result(i), Some(Ok(()))) {
            continue;
        }
        match (d.step, &d.rule) {
            (Step::Add | Step::Replace, Some(rule)) => {
                let interp = d.interpreter.as_ref();
                pins.entries.insert(
                    d.name.clone(),
                    Registration {
                        interpreter: rule.interpreter.clone(),
                        sha256: interp.and_then(|i| {
                            let copied = outcome.digest_of(i.binary).map(String::from);
                            i.content.sha256.clone().or(copied)
                        }),
                        file: std::fs::metadata(&rule.interpreter)
                            .ok()
                            .map(|m| FileId::of(&m)),
                        version: interp.and_then(|i| i.version.clone()),
                        chosen: interp.map(|i| super::report::chosen(&i.choice)),
                    },
                );
            }
            (Step::Remove, _) => {
                pins.entries.remove(&d.name);
            }
            _ => {}
        }
    }
    pins.masks.extend(outcome.masks_made.iter().cloned());
    for name in &outcome.masks_removed {
        pins.masks.remove(name);
    }
    // Restoring a flushed table re-registers the same files: the record is then unchanged and
    // is not rewritten (no fsync on the daemon's hot path).
    if pins != before {
        // Configured `[[entry]]`s are recognised as binfmtd's only through this record, so it
        // is written even when no interpreter needed the store.
        let saved = Store::open(store.dir())
            .map_err(|e| e.to_string())
            .and_then(|s| pins.save(s.dir()).map_err(|e| e.to_string()));
        if let Err(e) = saved {
            outcome.pins_error = Some(format!(
                "cannot record the registrations in {} ({e}); they will be re-registered next time",
                store.dir().display()
            ));
        }
    }
}
