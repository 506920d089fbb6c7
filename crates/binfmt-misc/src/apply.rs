//! Applying a [`Plan`] through a [`BinfmtMisc`], and the gapless [`replace`].

use crate::encode::encode;
use crate::entry::Difference;
use crate::error::{Error, ErrorKind};
use crate::fs::BinfmtMisc;
use crate::plan::{Action, Plan};
use crate::rule::{MAX_NAME_LEN, Rule};

/// The suffix of the temporary entry [`replace`] registers while swapping.
pub const TEMP_SUFFIX: &str = ".binfmtd-new";

/// The result of one step.
#[derive(Debug)]
pub struct StepOutcome {
    /// The entry name.
    pub name: String,
    /// What was (or would have been) done.
    pub action: Action,
    /// Whether it worked.
    pub result: Result<(), Error>,
}

/// Applies `plan` in order and reports every step, [`Action::Keep`] ones included (as `Ok`,
/// without writing). A failed step does not stop the others.
///
/// Every rule is encoded before the first write; if any fails, nothing is written and only the
/// failing steps are returned, with their [`Error::Rule`]. An empty plan writes nothing.
/// A replacement whose only difference is [`Difference::Disabled`] re-enables the entry; any other
/// replacement goes through [`replace`].
pub fn apply(plan: &Plan, fs: &BinfmtMisc) -> Vec<StepOutcome> {
    let invalid: Vec<StepOutcome> = plan
        .changes()
        .filter_map(|step| {
            let rule = step.rule.as_ref()?;
            let err = encode(rule).err()?;
            Some(StepOutcome {
                name: step.name.clone(),
                action: step.action.clone(),
                result: Err(err.into()),
            })
        })
        .collect();
    if !invalid.is_empty() {
        return invalid;
    }
    plan.steps
        .iter()
        .map(|step| {
            let result = match (&step.action, &step.rule) {
                (Action::Keep, _) => Ok(()),
                (Action::Remove, _) => fs.remove(&step.name),
                (Action::Add, Some(rule)) => fs.register(rule),
                (Action::Replace { reasons }, Some(_)) if reasons == &[Difference::Disabled] => {
                    fs.enable(&step.name)
                }
                (Action::Replace { .. }, Some(rule)) => replace(fs, &step.name, rule),
                (Action::Add | Action::Replace { .. }, None) => Err(Error::NotFound {
                    name: step.name.clone(),
                }),
            };
            StepOutcome {
                name: step.name.clone(),
                action: step.action.clone(),
                result,
            }
        })
        .collect()
}

/// Replaces the entry `old_name` by `rule` so that at every instant an enabled entry matching
/// what either of them matches exists (the newest matching entry wins, kernel notes §4):
///
/// 1. register `rule` under [`temp_name`]`(&rule.name)` (a stale temporary entry left by an
///    interrupted run is removed first);
/// 2. remove `old_name` (already gone is fine);
/// 3. register `rule` under its own name;
/// 4. remove the temporary entry.
///
/// If step 1 fails nothing has changed. If step 3 fails, the temporary entry is left in place so
/// that matching binaries keep working, and the error is returned.
pub fn replace(fs: &BinfmtMisc, old_name: &str, rule: &Rule) -> Result<(), Error> {
    let temp = Rule {
        name: temp_name(&rule.name),
        ..rule.clone()
    };
    encode(rule)?;
    match fs.register(&temp) {
        Err(e) if e.kind() == ErrorKind::Exists => {
            fs.remove(&temp.name)?;
            fs.register(&temp)?;
        }
        other => other?,
    }
    ignore_not_found(fs.remove(old_name))?;
    fs.register(rule)?;
    ignore_not_found(fs.remove(&temp.name))
}

/// The temporary name [`replace`] uses for `name`: `name` + [`TEMP_SUFFIX`], with `name` cut (at
/// a character boundary) so that the result fits in [`MAX_NAME_LEN`] bytes.
pub fn temp_name(name: &str) -> String {
    let mut cut = name.len().min(MAX_NAME_LEN - TEMP_SUFFIX.len());
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{TEMP_SUFFIX}", &name[..cut])
}

fn ignore_not_found(result: Result<(), Error>) -> Result<(), Error> {
    match result {
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        other => other,
    }
}
