//! Who registered an entry: binfmtd, a distribution's QEMU package, or another tool. Pure: the
//! directories and records it needs are facts gathered beforehand.
//!
//! - **binfmtd**: the interpreter lives in a binfmtd install directory (this configuration's,
//!   another binfmtd installation's such as the container image's `/usr/libexec/binfmtd`, or any
//!   directory holding a binfmtd manifest, e.g. an earlier `install_dir`), or the entry is one
//!   binfmtd recorded registering (an `[[entry]]` of the configuration, whose interpreter is
//!   anywhere).
//! - **distribution**: a QEMU table row served by a distribution's QEMU binary, as Debian's and
//!   Fedora's packages register them through systemd-binfmt or binfmt-support
//!   (`/usr/libexec/qemu-binfmt/<t>-binfmt-P`, `/usr/bin/qemu-<t>-static`, `/usr/bin/qemu-<t>`).
//! - **other**: everything else (FEX, box64, Rosetta, wine, python, a hand-made entry, …).

use binfmt_misc::Entry;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::naming::served_target;

/// Who registered an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Owner {
    /// binfmtd (this installation or another).
    Binfmtd,
    /// A distribution's QEMU package.
    Distribution,
    /// Another tool.
    Other,
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Owner::Binfmtd => "binfmtd",
            Owner::Distribution => "the distribution's QEMU package",
            Owner::Other => "another tool",
        })
    }
}

/// Directories where distributions install QEMU user-mode emulators.
const DISTRO_QEMU_DIRS: &[&str] = &["/usr/bin", "/usr/libexec/qemu-binfmt"];

/// What ownership is decided from.
#[derive(Debug, Clone, Default)]
pub struct Ownership {
    /// binfmtd install directories (as configured and canonical), this one first.
    pub binfmtd_dirs: Vec<PathBuf>,
    /// Entries binfmtd recorded registering, with the interpreter path it registered.
    pub registered: BTreeMap<String, PathBuf>,
}

impl Ownership {
    /// Who registered `entry`.
    pub fn owner(&self, entry: &Entry) -> Owner {
        let dir = entry.interpreter.parent();
        if dir.is_some_and(|d| self.binfmtd_dirs.iter().any(|ours| ours == d))
            || self.registered.get(&entry.name) == Some(&entry.interpreter)
        {
            Owner::Binfmtd
        } else if is_distro_qemu(&entry.interpreter) && served_target(&entry.matcher).is_some() {
            Owner::Distribution
        } else {
            Owner::Other
        }
    }
}

/// Whether `path` names a distribution's QEMU user-mode binary.
pub fn is_distro_qemu(path: &Path) -> bool {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return false;
    };
    DISTRO_QEMU_DIRS.iter().any(|d| dir == Path::new(d))
        && (name.starts_with("qemu-") || name.ends_with("-binfmt-P"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::naming::row_rule;
    use binfmt_misc::Flags;
    use elf_magic::Target;

    fn entry(name: &str, interpreter: &str) -> Entry {
        let row = Target::Aarch64.primary_row();
        Entry::from_rule(&row_rule(name.into(), row, interpreter.into(), Flags::NONE))
    }

    fn ownership() -> Ownership {
        Ownership {
            binfmtd_dirs: vec![
                "/var/lib/binfmtd/interpreters".into(),
                "/usr/libexec/binfmtd".into(),
            ],
            registered: [("myext".to_string(), PathBuf::from("/bin/cat"))].into(),
        }
    }

    #[test]
    fn owners() {
        let o = ownership();
        let owner = |name, interp| o.owner(&entry(name, interp));
        assert_eq!(
            owner("qemu-aarch64", "/var/lib/binfmtd/interpreters/qemu-aarch64"),
            Owner::Binfmtd
        );
        assert_eq!(
            owner("qemu-aarch64", "/usr/libexec/binfmtd/qemu-aarch64"),
            Owner::Binfmtd
        );
        assert_eq!(
            owner("myext", "/bin/cat"),
            Owner::Binfmtd,
            "a recorded [[entry]]"
        );
        assert_eq!(
            owner("myext", "/bin/dog"),
            Owner::Other,
            "same name, not what we registered"
        );
        assert_eq!(
            owner("qemu-aarch64", "/usr/libexec/qemu-binfmt/aarch64-binfmt-P"),
            Owner::Distribution
        );
        assert_eq!(
            owner("qemu-aarch64", "/usr/bin/qemu-aarch64-static"),
            Owner::Distribution
        );
        assert_eq!(
            owner("qemu-aarch64", "/usr/bin/qemu-aarch64"),
            Owner::Distribution
        );
        assert_eq!(
            owner("qemu-aarch64", "/usr/local/bin/qemu-aarch64"),
            Owner::Other
        );
        assert_eq!(owner("FEX-x86_64", "/usr/bin/FEXInterpreter"), Owner::Other);
    }

    #[test]
    fn a_distro_binary_behind_a_non_qemu_matcher_is_not_the_distribution() {
        let rule = binfmt_misc::Rule {
            name: "weird".into(),
            matcher: binfmt_misc::Matcher::Extension("zzz".into()),
            interpreter: "/usr/bin/qemu-aarch64".into(),
            flags: Flags::NONE,
        };
        assert_eq!(ownership().owner(&Entry::from_rule(&rule)), Owner::Other);
    }
}
