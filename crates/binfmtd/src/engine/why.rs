//! Why the engine decided what it did, as typed values: each prints as one line that names the
//! entry, file or setting and, for problems, the fix. Reports and logs print them; tests match
//! on the variants.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use binfmt_misc::Difference;
use elf_magic::Target;

use super::owner::Owner;
use crate::interpreter::InterpreterError;

/// The reason of one entry's decision.
#[derive(Debug, Clone)]
pub enum Why {
    /// Skipped: the host runs the target itself.
    Native(Target),
    /// No usable interpreter.
    NoInterpreter {
        /// The target.
        target: Target,
        /// `None`: none found; else why the found one is unusable.
        error: Option<Arc<InterpreterError>>,
    },
    /// A same-named entry belongs to someone else and the policy leaves it.
    OwnedBy {
        /// Whose it is.
        owner: Owner,
        /// Its interpreter.
        interpreter: PathBuf,
    },
    /// Under `all`: another tool's enabled entry already serves the target.
    ServedBy {
        /// That entry.
        entry: String,
    },
    /// The row would match binfmtd's own executables (every native exec would loop).
    HijacksHost {
        /// The table row, or `None` for an `[[entry]]`.
        row: Option<&'static str>,
    },
    /// An `[[entry]]` matches its own interpreter: every exec through it would loop (ELOOP).
    MatchesItsInterpreter {
        /// The interpreter.
        interpreter: PathBuf,
    },
    /// The kernel does not accept these flags.
    FlagsUnsupported {
        /// The flags asked for.
        flags: String,
        /// The flags the kernel accepts.
        accepted: &'static str,
        /// The kernel release.
        release: String,
    },
    /// The temporary name a gapless replace needs is taken by another tool's entry.
    TemporaryNameTaken {
        /// That name.
        temp: String,
    },
    /// Not enough space to install the interpreter (said once in the decision's problems).
    NoSpace {
        /// The interpreter's name.
        binary: &'static str,
    },
    /// The kernel's limit on pinned interpreters would be exceeded (said once).
    TooManyInterpreters {
        /// The limit.
        limit: u64,
    },
    /// Not applied because another entry fails (nothing is changed in that case).
    Held,
    /// binfmt_misc cannot be written by this process (said once).
    CannotWrite,
    /// The daemon is backing off: another tool keeps changing this entry.
    BackingOff,
    /// Replaced: the entry differs from what it should be.
    Differs(Vec<Difference>),
    /// Replaced: the kernel pins an older or unknown interpreter file.
    InterpreterUpdated {
        /// The version now installed, when known.
        version: Option<String>,
    },
    /// Replaced or removed: taking over another owner's entry.
    TakeOver {
        /// Whose it was.
        owner: Owner,
        /// Its name, when it differs from ours (an overlapping entry being removed).
        entry: Option<String>,
    },
    /// Removed: binfmtd's own entry for the same row under another name (the entry prefix
    /// changed).
    Renamed {
        /// The name it is registered under now.
        to: String,
    },
    /// Removed: a temporary entry left by an interrupted replace.
    Leftover,
    /// Removed on request.
    Requested,
    /// Skipped on an uninstall: another tool's entry.
    NotOurs {
        /// Whose it is.
        owner: Owner,
    },
}

impl Why {
    /// Whether this is a problem of the configuration (what was asked for cannot be served as
    /// configured), as opposed to the moment (space, a busy kernel, another tool's fight): the
    /// daemon refuses to start on these.
    pub fn is_configuration_problem(&self) -> bool {
        matches!(
            self,
            Why::NoInterpreter { .. }
                | Why::HijacksHost { .. }
                | Why::MatchesItsInterpreter { .. }
                | Why::FlagsUnsupported { .. }
                | Why::OwnedBy { .. }
        )
    }

    /// A short word for JSON consumers (`reason_code`).
    pub fn code(&self) -> &'static str {
        match self {
            Why::Native(_) => "native",
            Why::NoInterpreter { .. } => "no-interpreter",
            Why::OwnedBy { .. } => "owned-by-other",
            Why::ServedBy { .. } => "served-by-other",
            Why::HijacksHost { .. } => "hijacks-host",
            Why::MatchesItsInterpreter { .. } => "loops",
            Why::FlagsUnsupported { .. } => "flags-unsupported",
            Why::TemporaryNameTaken { .. } => "temporary-name-taken",
            Why::NoSpace { .. } => "no-space",
            Why::TooManyInterpreters { .. } => "too-many-interpreters",
            Why::Held => "held",
            Why::CannotWrite => "cannot-write",
            Why::BackingOff => "backing-off",
            Why::Differs(_) => "differs",
            Why::InterpreterUpdated { .. } => "interpreter-updated",
            Why::TakeOver { .. } => "take-over",
            Why::Renamed { .. } => "renamed",
            Why::Leftover => "leftover",
            Why::Requested => "requested",
            Why::NotOurs { .. } => "not-ours",
        }
    }
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Why::Native(t) => write!(f, "native: this host runs {t} binaries itself"),
            Why::NoInterpreter {
                target,
                error: Some(e),
            } => write!(f, "no usable interpreter for {target}: {e}"),
            Why::NoInterpreter {
                target,
                error: None,
            } => {
                let name = target.qemu_binary();
                write!(
                    f,
                    "no interpreter for {target}: looked for {name}-static and {name} in the \
                     configured interpreter_dirs and {}; install QEMU's static user-mode \
                     emulators (Debian: qemu-user-static, or qemu-user on Debian 13 and later) \
                     or set [target.{target}] interpreter",
                    crate::interpreter::DEFAULT_DIRS.join(", ")
                )
            }
            Why::OwnedBy { owner, interpreter } => write!(
                f,
                "belongs to {owner} (interpreter {}); pass --force or set others = \"replace\" \
                 (distribution = \"adopt\" for the distribution's QEMU) to take it over",
                interpreter.display()
            ),
            Why::ServedBy { entry } => write!(
                f,
                "served by {entry} (another emulator the host has); name the target explicitly \
                 or set others = \"replace\" to use QEMU instead"
            ),
            Why::HijacksHost { row: Some(row) } => write!(
                f,
                "refusing to register: row {row} matches this host's own executables (every \
                 native exec would go to the emulator)"
            ),
            Why::HijacksHost { row: None } => f.write_str(
                "refusing to register: it matches this host's own executables (every native \
                 exec would go to the interpreter and loop); narrow its magic/mask",
            ),
            Why::MatchesItsInterpreter { interpreter } => write!(
                f,
                "refusing to register: it matches its own interpreter {} (every exec would \
                 loop with ELOOP); narrow its magic/mask or use another interpreter",
                interpreter.display()
            ),
            Why::FlagsUnsupported {
                flags,
                accepted,
                release,
            } => write!(
                f,
                "kernel {release} does not accept flags {flags} (it accepts {accepted}); drop \
                 the others from the configuration's flags"
            ),
            Why::TemporaryNameTaken { temp } => write!(
                f,
                "cannot replace it without a gap: its temporary names ({temp} and {} more) are \
                 all taken by other tools' entries; remove one of them",
                binfmt_misc::TEMP_ALTERNATIVES
            ),
            Why::NoSpace { binary } => {
                write!(f, "{binary} not installed: not enough space (see above)")
            }
            Why::TooManyInterpreters { limit } => write!(
                f,
                "the kernel allows {limit} pinned interpreters ({}, see above)",
                binfmt_misc::kernel::MAX_INTERPRETERS_SYSCTL
            ),
            Why::Held => f.write_str("not applied: nothing is changed while another entry fails"),
            Why::CannotWrite => {
                f.write_str("not applied: binfmt_misc cannot be written (see above)")
            }
            Why::BackingOff => f.write_str(
                "left alone for now: another tool keeps changing this entry (binfmtd backs off)",
            ),
            Why::Differs(diffs) => {
                let text: Vec<String> = diffs.iter().map(ToString::to_string).collect();
                f.write_str(&text.join(", "))
            }
            Why::InterpreterUpdated { version } => match version {
                Some(v) => write!(f, "interpreter updated on disk (now {v})"),
                None => f.write_str("the kernel pins an older or unknown interpreter file"),
            },
            Why::TakeOver { owner, entry: None } => write!(f, "taking over {owner}'s entry"),
            Why::TakeOver {
                owner,
                entry: Some(e),
            } => write!(f, "{owner}'s entry overlapping {e}: binfmtd serves it now"),
            Why::Renamed { to } => write!(f, "binfmtd's entry for the same row is now {to}"),
            Why::Leftover => f.write_str("left over from an interrupted replace"),
            Why::Requested => f.write_str("removed as asked"),
            Why::NotOurs { owner } => {
                write!(f, "registered by {owner}; pass --force to remove it anyway")
            }
        }
    }
}
