//! The writing half of `install`: copy interpreters into the store, apply the plan to the
//! kernel, and record what the kernel now pins. Reached only after the whole plan was validated.

use anyhow::Result;
use binfmt_misc::{BinfmtMisc, Rule};
use elf_magic::Target;
use std::collections::BTreeMap;

use super::{Source, flat};
use crate::interpreter::{Installed, Store};
use crate::reconcile::Decision;
use crate::registrations::{Registration, Registrations};
use crate::report::{Action, EntryReport};

/// Copies every interpreter a planned entry needs into the store, after a free-space check.
pub(super) fn install_interpreters(
    store: &Store,
    sources: &BTreeMap<Target, (Source, bool)>,
    decision: &Decision,
) -> Result<BTreeMap<&'static str, Installed>> {
    let needed: Vec<&(Source, bool)> = sources
        .values()
        .filter(|(s, _)| {
            let path = store.path_of(s.name);
            decision
                .plan
                .steps
                .iter()
                .any(|step| step.rule.as_ref().is_some_and(|r| r.interpreter == path))
        })
        .collect();
    let to_copy: u64 = needed
        .iter()
        .filter(|(_, up_to_date)| !up_to_date)
        .map(|(s, _)| s.verified.size)
        .sum();
    if to_copy > 0 {
        let free = store.free_space().map_err(flat)?;
        if free < to_copy {
            anyhow::bail!(
                "not enough space in {}: {to_copy} bytes of interpreters to copy, {free} free; \
                 free some space or set install_dir elsewhere",
                store.dir().display()
            );
        }
    }
    let mut installed = BTreeMap::new();
    for (source, _) in needed {
        if installed.contains_key(source.name) {
            continue;
        }
        let done = store.install(source.name, &source.verified).map_err(flat)?;
        if done.changed {
            tracing::info!(
                interpreter = source.name,
                old_version = done.previous_version.as_deref().unwrap_or("-"),
                new_version = done.version.as_deref().unwrap_or("-"),
                "installed interpreter"
            );
        }
        installed.insert(source.name, done);
    }
    Ok(installed)
}

/// Fills digests and versions into the report lines now that the copies exist.
pub(super) fn attach_installed(
    decision: &mut Decision,
    installed: &BTreeMap<&'static str, Installed>,
) {
    for report in &mut decision.reports {
        let Some(path) = &report.interpreter else {
            continue;
        };
        if let Some(i) = installed.values().find(|i| &i.path == path) {
            report.sha256 = Some(i.sha256.clone());
            report.version = i.version.clone();
        }
    }
}

/// Marks every planned change as failed with `why` (nothing reached the kernel).
pub(super) fn fail_changes(reports: Vec<EntryReport>, why: &str) -> Vec<EntryReport> {
    reports
        .into_iter()
        .map(|r| {
            if r.action.is_change() {
                EntryReport {
                    action: Action::Failed,
                    reason: Some(why.to_string()),
                    ..r
                }
            } else {
                r
            }
        })
        .collect()
}

/// Applies the plan and records what the kernel now pins.
pub(super) fn apply(
    fs: &BinfmtMisc,
    decision: Decision,
    store: &Store,
    mut registrations: Registrations,
    installed: &BTreeMap<&'static str, Installed>,
) -> Result<Vec<EntryReport>> {
    let outcomes = binfmt_misc::apply(&decision.plan, fs);
    let mut reports = decision.reports;
    let before = registrations.clone();
    for outcome in outcomes
        .iter()
        .filter(|o| o.action != binfmt_misc::Action::Keep)
    {
        let step_rule: Option<&Rule> = decision
            .plan
            .steps
            .iter()
            .find(|s| s.name == outcome.name)
            .and_then(|s| s.rule.as_ref());
        let Some(report) = reports.iter_mut().find(|r| r.name == outcome.name) else {
            continue;
        };
        match (&outcome.result, step_rule) {
            (Err(e), _) => {
                report.action = Action::Failed;
                report.reason = Some(e.to_string());
                // Reported once by the caller (the CLI prints `error:` lines from the report).
                tracing::debug!(entry = %outcome.name, "{e}");
            }
            (Ok(()), Some(rule)) => {
                tracing::info!(entry = %outcome.name, action = ?report.action, reason = report.reason.as_deref().unwrap_or(""), "registered");
                let pinned = installed.values().find(|i| i.path == rule.interpreter);
                registrations.entries.insert(
                    outcome.name.clone(),
                    Registration {
                        interpreter: rule.interpreter.clone(),
                        sha256: pinned.map(|i| i.sha256.clone()),
                        version: pinned.and_then(|i| i.version.clone()),
                    },
                );
            }
            (Ok(()), None) => {
                registrations.entries.remove(&outcome.name);
                tracing::info!(entry = %outcome.name, "removed");
            }
        }
    }
    // Restoring a flushed table re-registers the same files: the record is then unchanged and
    // is not rewritten (no fsync on the daemon's hot path).
    // The kernel writes happened: a record that cannot be saved (full or failing disk) must not
    // turn them into a failure. The next run re-registers what it cannot prove is current.
    if registrations != before
        && let Err(e) = registrations.save(store.dir())
    {
        tracing::warn!(
            dir = %store.dir().display(),
            "cannot record the registrations ({e}); they will be re-registered next time"
        );
    }
    Ok(reports)
}
