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

/// How many other temporary names [`temp_names`] offers after [`temp_name`], for when another
/// tool's entry happens to take the first.
pub const TEMP_ALTERNATIVES: usize = 3;

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
    replace_through(fs, old_name, rule, &temp_name(&rule.name))
}

/// [`replace`] through the temporary entry `temp` (one of [`temp_names`]`(&rule.name)`, chosen
/// by the caller because it is free).
pub fn replace_through(
    fs: &BinfmtMisc,
    old_name: &str,
    rule: &Rule,
    temp: &str,
) -> Result<(), Error> {
    let temp = Rule {
        name: temp.to_string(),
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
    with_suffix(name, TEMP_SUFFIX)
}

/// Every temporary name a replace of `name` may use, in order of preference: [`temp_name`],
/// then `name.1.binfmtd-new` … (each cut to fit, each ending in [`TEMP_SUFFIX`]).
pub fn temp_names(name: &str) -> Vec<String> {
    let mut names = vec![temp_name(name)];
    names.extend((1..=TEMP_ALTERNATIVES).map(|i| with_suffix(name, &format!(".{i}{TEMP_SUFFIX}"))));
    names
}

/// `name` + `suffix`, with `name` cut (at a character boundary) to fit in [`MAX_NAME_LEN`].
fn with_suffix(name: &str, suffix: &str) -> String {
    let mut cut = name.len().min(MAX_NAME_LEN - suffix.len());
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{suffix}", &name[..cut])
}

fn ignore_not_found(result: Result<(), Error>) -> Result<(), Error> {
    match result {
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_all_end_in_the_suffix_and_fit() {
        let names = temp_names("qemu-aarch64");
        assert_eq!(
            names,
            [
                "qemu-aarch64.binfmtd-new",
                "qemu-aarch64.1.binfmtd-new",
                "qemu-aarch64.2.binfmtd-new",
                "qemu-aarch64.3.binfmtd-new"
            ]
        );
        let long = "x".repeat(MAX_NAME_LEN);
        for name in temp_names(&long) {
            assert!(
                name.len() <= MAX_NAME_LEN && name.ends_with(TEMP_SUFFIX),
                "{name}"
            );
        }
    }
}
