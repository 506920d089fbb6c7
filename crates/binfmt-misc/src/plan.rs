//! The pure plan: from the desired rules and the entries the kernel has, what to keep, add,
//! replace or remove, and why.

use crate::entry::{Difference, Entry};
use crate::rule::Rule;

/// What to do with one entry name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The entry is exactly the rule and enabled: nothing to do.
    Keep,
    /// No entry of that name: register the rule.
    Add,
    /// The entry differs from the rule in these ways: replace it without a gap.
    Replace {
        /// Every difference found (never empty).
        reasons: Vec<Difference>,
    },
    /// An entry that was asked to be removed.
    Remove,
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The entry name.
    pub name: String,
    /// What to do.
    pub action: Action,
    /// The desired rule (`None` for [`Action::Remove`]).
    pub rule: Option<Rule>,
    /// The entry the kernel has now (`None` for [`Action::Add`]).
    pub current: Option<Entry>,
}

/// An ordered list of steps: desired rules in their order, then removals in the order asked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// The steps.
    pub steps: Vec<Step>,
}

impl Plan {
    /// Whether applying this plan would write nothing (only [`Action::Keep`] steps).
    pub fn is_empty(&self) -> bool {
        self.changes().next().is_none()
    }

    /// The steps that write something (all but [`Action::Keep`]).
    pub fn changes(&self) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(|s| s.action != Action::Keep)
    }
}

/// Plans how to get from `current` to `desired`.
///
/// A desired rule with no entry of its name is an [`Action::Add`]; an entry of that name equal to
/// the rule (see [`Entry::differences`]) is a [`Action::Keep`], otherwise a [`Action::Replace`]
/// with the reasons. Each name in `remove` that has an entry and is not desired is an
/// [`Action::Remove`]. Other entries are not mentioned: which entries may be removed or replaced
/// is the caller's policy.
pub fn plan(desired: &[Rule], current: &[Entry], remove: &[&str]) -> Plan {
    let find = |name: &str| current.iter().find(|e| e.name == name);
    let mut steps = Vec::new();
    for rule in desired {
        let existing = find(&rule.name);
        let action = match existing {
            None => Action::Add,
            Some(entry) => {
                let reasons = entry.differences(rule);
                if reasons.is_empty() {
                    Action::Keep
                } else {
                    Action::Replace { reasons }
                }
            }
        };
        steps.push(Step {
            name: rule.name.clone(),
            action,
            rule: Some(rule.clone()),
            current: existing.cloned(),
        });
    }
    for name in remove {
        let already = steps.iter().any(|s| s.name == *name);
        if let Some(entry) = find(name).filter(|_| !already) {
            steps.push(Step {
                name: entry.name.clone(),
                action: Action::Remove,
                rule: None,
                current: Some(entry.clone()),
            });
        }
    }
    Plan { steps }
}
