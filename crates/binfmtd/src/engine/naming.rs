//! Entry names and rules for table rows: the one place that turns an [`elf_magic::Row`] into a
//! binfmt_misc [`Rule`] or [`Matcher`].

use binfmt_misc::{Flags, Matcher, Rule};
use std::path::PathBuf;

/// The entry name of a table row: the configured prefix plus the row's id (`qemu-aarch64`).
pub fn entry_name(prefix: &str, row: &elf_magic::Row) -> String {
    format!("{prefix}{}", row.id)
}

/// The matcher of a table row.
pub fn row_matcher(row: &elf_magic::Row) -> Matcher {
    Matcher::Magic {
        offset: usize::from(row.offset),
        magic: row.magic.to_vec(),
        mask: Some(row.mask.to_vec()),
    }
}

/// The rule registering `row` as `name` with `interpreter` and `flags`.
pub fn row_rule(name: String, row: &elf_magic::Row, interpreter: PathBuf, flags: Flags) -> Rule {
    Rule {
        name,
        matcher: row_matcher(row),
        interpreter,
        flags,
    }
}

/// Whether `name` is a temporary name binfmtd uses while replacing an entry without a gap
/// (`<name>.binfmtd-new`): configured entries may not take such names.
pub fn is_temporary(name: &str) -> bool {
    name.ends_with(binfmt_misc::TEMP_SUFFIX)
}

/// The table row whose matcher is exactly `matcher`, if any.
pub fn row_of(matcher: &Matcher) -> Option<&'static elf_magic::Row> {
    elf_magic::TABLE
        .iter()
        .find(|row| row_matcher(row) == *matcher)
}

/// The table target an entry's matcher serves: the row it equals (`exact`), else the first row
/// it overlaps.
pub fn served_target(matcher: &Matcher) -> Option<(elf_magic::Target, bool)> {
    if let Some(row) = row_of(matcher) {
        return Some((row.target, true));
    }
    elf_magic::TABLE
        .iter()
        .find(|row| row_matcher(row).overlaps(matcher))
        .map(|row| (row.target, false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use elf_magic::Target;

    #[test]
    fn names_and_rules_come_from_the_row() {
        let row = Target::Aarch64.primary_row();
        assert_eq!(entry_name("qemu-", row), "qemu-aarch64");
        assert_eq!(entry_name("x-", row), "x-aarch64");
        let rule = row_rule("n".into(), row, "/i".into(), Flags::NONE);
        assert_eq!(row_of(&rule.matcher).map(|r| r.id), Some("aarch64"));
        assert_eq!(served_target(&rule.matcher), Some((Target::Aarch64, true)));
    }

    #[test]
    fn temporary_names() {
        assert!(is_temporary("qemu-aarch64.binfmtd-new"));
        assert!(!is_temporary("qemu-aarch64"));
    }

    #[test]
    fn an_overlapping_matcher_serves_the_row_it_overlaps() {
        // FEX's x86_64 entry ignores bytes 8..=10 of the ident: not a row, but serves x86_64.
        let row = Target::X86_64.primary_row();
        let Matcher::Magic { magic, mask, .. } = row_matcher(row) else {
            unreachable!("rows are magic matchers")
        };
        let mut mask = mask.unwrap_or_default();
        for b in &mut mask[8..=10] {
            *b = 0;
        }
        let fex = Matcher::Magic {
            offset: 0,
            magic,
            mask: Some(mask),
        };
        assert_eq!(served_target(&fex), Some((Target::X86_64, false)));
    }
}
