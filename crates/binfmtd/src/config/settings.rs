//! `Settings`: the validated, merged configuration the CLI and the daemon work from.
//!
//! Every value here has been checked (target names resolved, flags parsed, paths absolute, extra
//! entries validated as the kernel would); nothing is left optional that the caller needs.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use binfmt_misc::{Flags, Rule};
use elf_magic::Target;
use serde::Deserialize;

/// Which QEMU targets to register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Targets {
    /// Every target the host does not run natively and for which an interpreter exists.
    All,
    /// Exactly these (deduplicated, in the order given).
    List(Vec<Target>),
}

impl Targets {
    /// The targets asked for, and whether they were named explicitly (`false` for `All`, whose
    /// problems are skips rather than failures).
    pub fn expand(&self) -> (Vec<Target>, bool) {
        match self {
            Targets::All => (Target::ALL.to_vec(), false),
            Targets::List(list) => (list.clone(), true),
        }
    }

    /// Whether `target` is asked for (`All` asks for every target; the caller still excludes the
    /// native ones and those without an interpreter).
    pub fn includes(&self, target: Target) -> bool {
        match self {
            Targets::All => true,
            Targets::List(list) => list.contains(&target),
        }
    }
}

/// What to do with another tool's entry for a target we register (same magic, other name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Others {
    /// Leave it registered (ours is registered too; the kernel uses the newest).
    #[default]
    Leave,
    /// Remove it so that only our entry serves the target.
    Replace,
}

impl fmt::Display for Others {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Others::Leave => "leave",
            Others::Replace => "replace",
        })
    }
}

/// What to do with the entries a distribution's QEMU package registers for a target binfmtd
/// serves (systemd-binfmt's or binfmt-support's `qemu-<t>`, running `/usr/bin/qemu-<t>[-static]`
/// or `/usr/libexec/qemu-binfmt/<t>-binfmt-P`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Distribution {
    /// Replace them with binfmtd's entries (verified interpreter, drift healed, upgrades
    /// re-registered): binfmtd is the host's manager.
    #[default]
    Adopt,
    /// Leave them registered, as any other tool's.
    Leave,
}

impl fmt::Display for Distribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Distribution::Adopt => "adopt",
            Distribution::Leave => "leave",
        })
    }
}

/// `[target.<name>]`: per-target overrides; `None` means "use the global value".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetOverride {
    /// Flags for this target's entry instead of the global `flags`.
    pub flags: Option<Flags>,
    /// An explicit interpreter source instead of discovery (absolute path).
    pub interpreter: Option<PathBuf>,
    /// Policy for other tools' entries for this target instead of the global `others`.
    pub others: Option<Others>,
}

/// `[daemon]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DaemonSettings {
    /// Remove our entries when the daemon stops (default: leave them registered).
    pub remove_on_stop: bool,
}

/// The merged, validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Which QEMU targets to register.
    pub targets: Targets,
    /// Default flags of every QEMU entry (`PF` unless configured).
    pub flags: Flags,
    /// Per-target overrides, keyed by the normalised target.
    pub overrides: BTreeMap<Target, TargetOverride>,
    /// Directories searched for interpreters before the usual places.
    pub interpreter_dirs: Vec<PathBuf>,
    /// Where managed interpreter copies live; entries point here.
    pub install_dir: PathBuf,
    /// Entry name prefix: the entry for row `aarch64` is `<entry_prefix>aarch64`.
    pub entry_prefix: String,
    /// Default policy for other tools' entries for the same target.
    pub others: Others,
    /// Policy for the distribution's QEMU entries.
    pub distribution: Distribution,
    /// Directories whose interpreters are registered where they are, not put into the store
    /// (tonistiigi's `QEMU_BINARY_PATH`); empty otherwise.
    pub in_place_dirs: Vec<PathBuf>,
    /// A prefix of the interpreters' file names (`<prefix>qemu-<t>`): only tonistiigi's
    /// `QEMU_BINARY_PREFIX` sets it; empty otherwise.
    pub binary_prefix: String,
    /// Extra non-QEMU entries (box64, FEX, wine…), each already validated.
    pub entries: Vec<Rule>,
    /// `[daemon]` settings.
    pub daemon: DaemonSettings,
    /// The files actually read, in merge order (the embedded default is not listed).
    pub sources: Vec<PathBuf>,
    /// Things worth logging (e.g. the `C` flag), each one line with its file position.
    pub warnings: Vec<String>,
}

impl Settings {
    /// The flags for `target`'s entry: its override, else the global flags.
    pub fn flags_for(&self, target: Target) -> Flags {
        self.overrides
            .get(&target)
            .and_then(|o| o.flags)
            .unwrap_or(self.flags)
    }

    /// The policy for other tools' entries serving `target`.
    pub fn others_for(&self, target: Target) -> Others {
        self.overrides
            .get(&target)
            .and_then(|o| o.others)
            .unwrap_or(self.others)
    }

    /// The configured interpreter source for `target`, if any (otherwise discover one).
    pub fn interpreter_override(&self, target: Target) -> Option<&Path> {
        self.overrides
            .get(&target)
            .and_then(|o| o.interpreter.as_deref())
    }

    /// Applies `install --force`: `others = "replace"` globally and for every target.
    pub fn replace_others(&mut self) {
        self.others = Others::Replace;
        for o in self.overrides.values_mut() {
            o.others = None;
        }
    }

    /// Applies a command-line `--flags`: it replaces the global flags and every per-target flags
    /// override (the user asked for exactly these). Adds the `C` warning when it applies.
    pub fn override_flags(&mut self, flags: Flags, origin: &str) {
        self.flags = flags;
        for o in self.overrides.values_mut() {
            o.flags = None;
        }
        if flags.credentials {
            self.warnings.push(credentials_warning(origin, "flags"));
        }
    }
}

/// The warning for an enabled `C` flag; `origin` is a file position or e.g. `--flags`.
pub(super) fn credentials_warning(origin: &str, what: &str) -> String {
    format!(
        "{origin}: {what} include C: setuid foreign binaries then run the emulator as root; \
         drop C unless you need setuid foreign binaries"
    )
}
