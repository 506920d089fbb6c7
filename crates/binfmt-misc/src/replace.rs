//! The gapless [`replace`] of an entry, and the temporary name it uses.
//!
//! Deciding *what* to replace is the caller's business (binfmtd's engine); this module only
//! knows how to swap one entry for another without a moment in which neither matches.

use crate::encode::encode;
use crate::error::{Error, ErrorKind};
use crate::fs::BinfmtMisc;
use crate::rule::{MAX_NAME_LEN, Rule};

/// The suffix of the temporary entry [`replace`] registers while swapping.
pub const TEMP_SUFFIX: &str = ".binfmtd-new";

/// Replaces the entry `old_name` by `rule` so that at every instant an enabled entry matching
/// what either of them matches exists (the newest matching entry wins, kernel notes §4):
///
/// 1. register `rule` under [`temp_name`]`(&rule.name)`;
/// 2. remove `old_name` (already gone is fine);
/// 3. register `rule` under its own name;
/// 4. remove the temporary entry.
///
/// If step 1 fails nothing has changed: in particular an existing entry under the temporary name
/// (left by an interrupted run, or another tool's) is never removed here, [`Error::Exists`] is
/// returned; the caller decides whose it is. If step 3 fails, the temporary entry is left in
/// place so that matching binaries keep working, and the error is returned.
pub fn replace(fs: &BinfmtMisc, old_name: &str, rule: &Rule) -> Result<(), Error> {
    let temp = Rule {
        name: temp_name(&rule.name),
        ..rule.clone()
    };
    encode(rule)?;
    fs.register(&temp)?;
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
