//! Parsing any of a target's names into a [`Target`], and the error for names nobody uses, with
//! suggestions of the closest valid ones.

use std::error::Error;
use std::fmt;
use std::str::FromStr;

use crate::target::Target;

/// The error for a name that is no target's: carries the name and up to three close valid names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownTarget {
    /// The name as given (surrounding whitespace removed).
    pub name: String,
    /// Up to three valid names closest to it by edit distance, closest first; may be empty.
    pub suggestions: Vec<&'static str>,
}

impl fmt::Display for UnknownTarget {
    /// `unknown target `armv9`; did you mean armv7l, armv6l or armv8l? (`binfmtd table` lists
    /// every name)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown target `{}`", self.name)?;
        if let Some((last, rest)) = self.suggestions.split_last() {
            f.write_str("; did you mean ")?;
            if !rest.is_empty() {
                write!(f, "{} or ", rest.join(", "))?;
            }
            write!(f, "{last}?")?;
        }
        f.write_str(" (`binfmtd table` lists every name)")
    }
}

impl Error for UnknownTarget {}

impl Target {
    /// The target whose QEMU name ([`Target::name`]) is exactly `name` (lowercase, no `qemu-`).
    pub fn from_qemu_name(name: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == name)
    }
}

impl FromStr for Target {
    type Err = UnknownTarget;

    /// Parses any name of [`Target::names`], case-insensitively, plus `qemu-<name>`,
    /// `qemu-<name>-static` and OCI platforms without their `linux/` prefix.
    ///
    /// **Ambiguity rule.** A name that several targets could claim resolves to the target whose
    /// QEMU name it is: `arm` is [`Target::Arm`] (not an `uname -m` of Armeb), `mips64` is
    /// [`Target::Mips64`] (big-endian n64, although mips64el and both n32 targets also print
    /// `mips64`), `ppc64` is [`Target::Ppc64`], `sparc64` is [`Target::Sparc64`], `i486` is
    /// [`Target::I486`] (not an i486 CPU running [`Target::I386`]), `xtensa` and `microblaze` are
    /// the little- and big-endian targets that carry those names. The alias tables are built so
    /// that every shared name is some target's QEMU name (a unit test checks it), so no other
    /// tie-breaking is needed. Where byte order matters, say it: `mips64el`, `linux/mips64le`.
    fn from_str(s: &str) -> Result<Target, UnknownTarget> {
        let given = s.trim();
        let lower = given.to_ascii_lowercase();
        resolve(&lower).ok_or_else(|| UnknownTarget {
            name: given.to_string(),
            suggestions: suggestions(&lower),
        })
    }
}

/// Resolves a lowercase, trimmed name.
fn resolve(name: &str) -> Option<Target> {
    if let Some(rest) = name.strip_prefix("qemu-") {
        let rest = rest.strip_suffix("-static").unwrap_or(rest);
        return Target::from_qemu_name(rest);
    }
    if let Some(target) = Target::from_qemu_name(name) {
        return Some(target);
    }
    Target::ALL.into_iter().find(|t| is_alias_of(*t, name))
}

/// Whether `name` is one of `target`'s aliases, a platform also without its `linux/` prefix.
fn is_alias_of(target: Target, name: &str) -> bool {
    target.debian_arches().contains(&name)
        || target.uname_machines().contains(&name)
        || target
            .platforms()
            .iter()
            .any(|p| *p == name || p.strip_prefix("linux/") == Some(name))
}

/// Up to three names closest to `wanted`: by edit distance, then by longest common prefix, then
/// by table order. Names further than `max(2, len/3)` edits away are not suggested.
fn suggestions(wanted: &str) -> Vec<&'static str> {
    let wanted = match wanted.strip_prefix("qemu-") {
        Some(rest) => rest.strip_suffix("-static").unwrap_or(rest),
        None => wanted,
    };
    let limit = (wanted.chars().count() / 3).max(2);
    let mut scored: Vec<(usize, usize, usize, &'static str)> = Vec::new();
    for name in Target::ALL.into_iter().flat_map(Target::names) {
        if scored.iter().any(|s| s.3 == name) {
            continue;
        }
        let distance = levenshtein(wanted, name);
        if distance <= limit {
            let prefix = common_prefix(wanted, name);
            scored.push((distance, usize::MAX - prefix, scored.len(), name));
        }
    }
    scored.sort_unstable();
    scored.into_iter().take(3).map(|s| s.3).collect()
}

/// The number of leading characters `a` and `b` share.
fn common_prefix(a: &str, b: &str) -> usize {
    a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count()
}

/// The Levenshtein edit distance (insertions, deletions, substitutions) between two strings,
/// counted in characters.
pub(crate) fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    // `row[j]` is the distance between the prefix of `a` read so far and `b[..j]`.
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}
