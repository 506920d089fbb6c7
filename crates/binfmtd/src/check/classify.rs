//! Pure: what executing a probe showed, plus what the binfmt_misc mount showed, gives a
//! [`TargetCheck`]: its state and the entry involved (the words are `explain.rs`'s).

use std::path::Path;

use binfmt_misc::EntryInfo;
use binfmt_misc::order::active_among;
use elf_magic::Target;

use super::explain::Explainer;
use super::run::{Observation, Outcome, PROBE_PATH};
use super::{Facts, InstanceStatus, State, TargetCheck};

/// Explains one probe's result. The entries that could have served it are those of the
/// instance whose matcher matches the probe; the one the kernel used is the newest enabled one.
pub fn classify(target: Target, observation: &Observation, facts: &Facts) -> TargetCheck {
    let view = &facts.instance;
    let probe = elf_magic::probe_elf(target);
    let matching: Vec<&EntryInfo> = view
        .entries
        .iter()
        .filter(|e| e.entry.matcher.matches(Path::new(PROBE_PATH), probe))
        .collect();
    // The entry the kernel picks, unless the whole instance is off.
    let active = match view.status {
        InstanceStatus::Enabled => active_among(&matching),
        _ => None,
    };
    let explain = Explainer {
        target,
        view,
        active,
        matching: &matching,
        stderr: &observation.stderr,
    };
    let mut result = TargetCheck {
        target,
        state: State::Fails,
        entry: active.map(|e| e.entry.name.clone()),
        interpreter: active.map(|e| e.entry.interpreter.clone()),
        failure: None,
        reason: None,
        fix: None,
        scope: facts.scope,
    };
    match &observation.outcome {
        Outcome::Exited(0) => {
            result.state = if active.is_some() {
                State::Works
            } else {
                State::Native
            };
            let unseen = matches!(
                view.status,
                InstanceStatus::NotMounted | InstanceStatus::Unreadable(_)
            );
            if unseen && facts.host != Some(target) {
                result.state = State::Works;
                result.reason = Some(format!(
                    "it ran, but {}, so whether this machine or an entry ran it is unknown",
                    explain.unseen()
                ));
            }
        }
        outcome => {
            let (failure, reason, fix) = explain.failure(outcome);
            result.failure = Some(failure);
            result.reason = Some(reason);
            result.fix = Some(fix);
        }
    }
    result
}
