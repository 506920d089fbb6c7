//! The report of a run, derived from the decision and (when applied) the outcome: what happened
//! to each entry, why, and the problems of the run, each once.

use std::path::Path;

use super::apply::Outcome;
use super::facts::Choice;
use super::plan::{Decision, EntryDecision, Step};
use crate::report::{Action, EntryReport, Report};

/// Builds the report. `outcome` is `None` when nothing was applied (`plan`, or nothing to do).
pub fn build(
    decision: &Decision,
    outcome: Option<&Outcome>,
    mount: &Path,
    dry_run: bool,
) -> Report {
    let entries = decision
        .entries
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let mut report = entry(d, outcome.and_then(|o| o.result(i)));
            // A copy made now was hashed on the way.
            if let Some(i) = &d.interpreter
                && report.sha256.is_none()
            {
                report.sha256 = outcome
                    .and_then(|o| o.digest_of(i.binary))
                    .map(String::from);
            }
            report
        })
        .collect();
    let mut problems: Vec<String> = decision.problems.iter().map(ToString::to_string).collect();
    let mut warnings = decision.warnings.clone();
    if let Some(o) = outcome {
        problems.extend(o.store_error.as_ref().map(ToString::to_string));
        warnings.extend(o.pins_error.clone());
        if o.cleaned > 0 {
            warnings.push(format!(
                "removed {} temporary file(s) left in the install directory by an interrupted run",
                o.cleaned
            ));
        }
    }
    problems.dedup();
    Report {
        dry_run,
        mount: mount.to_path_buf(),
        entries,
        problems,
        warnings,
        ..Report::default()
    }
    .finish()
}

fn entry(d: &EntryDecision, applied: Option<&Result<(), super::apply::ApplyError>>) -> EntryReport {
    let action = match (d.step, applied) {
        (_, Some(Err(_))) | (Step::Fail, _) => Action::Failed,
        (Step::Add, _) => Action::Added,
        (Step::Replace | Step::Enable, _) => Action::Replaced,
        (Step::Keep, _) => Action::Kept,
        (Step::Remove, _) => Action::Removed,
        (Step::Skip, _) => Action::Skipped,
    };
    let mut reason: Vec<String> = match applied {
        Some(Err(e)) => vec![e.to_string()],
        _ => d.why.iter().map(ToString::to_string).collect(),
    };
    reason.extend(d.notes.iter().cloned());
    let mut report = EntryReport::new(
        d.name.clone(),
        d.target.map(|t| t.name().to_string()),
        action,
    );
    report.reason = (!reason.is_empty()).then(|| reason.join("; "));
    report.reason_code = match applied {
        Some(Err(super::apply::ApplyError::Store)) => Some("store-unusable"),
        Some(Err(_)) => Some("apply-failed"),
        _ => d.why.as_ref().map(super::why::Why::code),
    };
    if let Some(rule) = &d.rule {
        report.flags = Some(rule.flags.to_string());
        report.interpreter = Some(rule.interpreter.clone());
    }
    if let Some(i) = &d.interpreter {
        report.sha256 = i.content.sha256.clone();
        report.version = i.version.clone();
        report.chosen = Some(chosen(&i.choice));
    }
    report
}

/// Why an interpreter was chosen, in words (`install`/`plan` reports, and the registration
/// record `status` reads).
pub fn chosen(choice: &Choice) -> String {
    match choice {
        Choice::Configured => "configured ([target] interpreter)".to_string(),
        Choice::Only => "the only candidate found".to_string(),
        Choice::Newest { over } => {
            let others: Vec<String> = over
                .iter()
                .map(|(p, v)| {
                    format!(
                        "{} ({})",
                        p.display(),
                        v.as_deref().unwrap_or("version unknown")
                    )
                })
                .collect();
            format!(
                "the newest of several candidates; not chosen: {}",
                others.join(", ")
            )
        }
    }
}
