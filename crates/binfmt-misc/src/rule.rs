//! A binfmt_misc rule (what is written to `register`) and its validation against the kernel's
//! limits.
//!
//! Validation mirrors `create_entry` in `fs/binfmt_misc.c` and is stricter where the kernel's
//! leniency only produces surprises (see [`Rule::validate`]).

use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::flags::Flags;
pub use crate::matcher::Matcher;

/// The longest entry name the kernel accepts (a file name: `NAME_MAX`).
pub const MAX_NAME_LEN: usize = 255;
/// The number of header bytes the kernel reads (`BINPRM_BUF_SIZE`, since Linux 5.1):
/// `offset + magic length` may not exceed it.
pub const BUF_SIZE: usize = 256;
/// The longest register line the kernel accepts in one `write()` (`MAX_REGISTER_LENGTH`).
pub const MAX_REGISTER_LEN: usize = 1920;

/// One binfmt_misc registration.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rule {
    /// The entry name: the file `<mount>/<name>`.
    pub name: String,
    /// What the entry matches.
    pub matcher: Matcher,
    /// The interpreter the kernel runs, with the binary's path as an argument.
    pub interpreter: PathBuf,
    /// The `P`, `O`, `C`, `F` flags.
    pub flags: Flags,
}

/// Why a rule cannot be registered. One variant per rule of the kernel (or of binfmtd's
/// stricter checks); each message names the rule and says how to fix it.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RuleError {
    /// The name is empty.
    #[error("binfmt_misc rule has an empty name: give it a name")]
    EmptyName,
    /// The name is `.` or `..`.
    #[error("binfmt_misc rule name {name:?} is reserved by the filesystem: choose another name")]
    DotName {
        /// The name.
        name: String,
    },
    /// The name is one of the control files.
    #[error("binfmt_misc rule name {name:?} is a control file of binfmt_misc: choose another name")]
    ReservedName {
        /// The name.
        name: String,
    },
    /// The name contains `/`.
    #[error("binfmt_misc rule name {name:?} contains '/': use a plain file name")]
    NameHasSlash {
        /// The name.
        name: String,
    },
    /// The name contains whitespace or a control character (the kernel accepts them, but they make
    /// the entry hard to address from a shell and ambiguous in logs).
    #[error("binfmt_misc rule name {name:?} contains {ch:?}: use letters, digits, '-', '_' or '.'")]
    NameHasBadChar {
        /// The name.
        name: String,
        /// The first offending character.
        ch: char,
    },
    /// The name is longer than [`MAX_NAME_LEN`] bytes.
    #[error("binfmt_misc rule name {name:?} is {len} bytes long: shorten it to at most 255 bytes")]
    NameTooLong {
        /// The name.
        name: String,
        /// Its length in bytes.
        len: usize,
    },
    /// A magic matcher with no magic bytes.
    #[error("binfmt_misc rule {name:?} has an empty magic: give at least one byte")]
    EmptyMagic {
        /// The rule name.
        name: String,
    },
    /// The mask length differs from the magic length.
    #[error(
        "binfmt_misc rule {name:?} has a {mask_len}-byte mask for a {magic_len}-byte magic: \
         make them the same length"
    )]
    MaskLength {
        /// The rule name.
        name: String,
        /// Magic length in bytes.
        magic_len: usize,
        /// Mask length in bytes.
        mask_len: usize,
    },
    /// `offset + magic length` exceeds [`BUF_SIZE`].
    #[error(
        "binfmt_misc rule {name:?} looks at bytes {offset}..{end} but the kernel reads only the \
         first 256: lower the offset or shorten the magic"
    )]
    MagicOutOfBuffer {
        /// The rule name.
        name: String,
        /// The offset.
        offset: usize,
        /// `offset + magic length`.
        end: usize,
    },
    /// An extension matcher with an empty extension.
    #[error("binfmt_misc rule {name:?} has an empty extension: give one, without the dot")]
    EmptyExtension {
        /// The rule name.
        name: String,
    },
    /// The extension contains `/`, `.` (only the text after the last dot is compared, so it could
    /// never match), whitespace or a control character.
    #[error(
        "binfmt_misc rule {name:?} has extension {extension:?} containing {ch:?}: give the text \
         after the last dot only"
    )]
    BadExtension {
        /// The rule name.
        name: String,
        /// The extension.
        extension: String,
        /// The first offending character.
        ch: char,
    },
    /// The interpreter path is empty.
    #[error("binfmt_misc rule {name:?} has an empty interpreter: give an absolute path")]
    EmptyInterpreter {
        /// The rule name.
        name: String,
    },
    /// The interpreter path is relative (the kernel would resolve it against the cwd of every
    /// process that execs a matching binary).
    #[error(
        "binfmt_misc rule {name:?} has a relative interpreter {interpreter:?}: give an absolute path"
    )]
    RelativeInterpreter {
        /// The rule name.
        name: String,
        /// The interpreter.
        interpreter: PathBuf,
    },
    /// The interpreter path contains a newline (the entry file becomes ambiguous) or NUL (the
    /// kernel would truncate it).
    #[error(
        "binfmt_misc rule {name:?} has an interpreter {interpreter:?} containing a newline or NUL: \
         rename or symlink the interpreter"
    )]
    BadInterpreter {
        /// The rule name.
        name: String,
        /// The interpreter.
        interpreter: PathBuf,
    },
    /// Every candidate delimiter occurs in the name, extension or interpreter.
    #[error(
        "binfmt_misc rule {name:?} uses every usable delimiter ({tried}) in its name, extension or \
         interpreter: rename or symlink the interpreter"
    )]
    NoDelimiter {
        /// The rule name.
        name: String,
        /// The delimiters that were tried.
        tried: String,
    },
    /// The register line would exceed [`MAX_REGISTER_LEN`] bytes.
    #[error(
        "binfmt_misc rule {name:?} encodes to {len} bytes, over the kernel's 1920: shorten the \
         interpreter path or the magic"
    )]
    LineTooLong {
        /// The rule name.
        name: String,
        /// The encoded length.
        len: usize,
    },
}

/// Checks an entry name as [`Rule::validate`] does.
///
/// Also used before any write to `<mount>/<name>`, so that `status` (whose `-1` flushes every
/// entry) or a path outside the mount can never be addressed as an entry.
pub fn validate_name(name: &str) -> Result<(), RuleError> {
    let named = || name.to_string();
    if name.is_empty() {
        return Err(RuleError::EmptyName);
    }
    if name == "." || name == ".." {
        return Err(RuleError::DotName { name: named() });
    }
    if name == "status" || name == "register" {
        return Err(RuleError::ReservedName { name: named() });
    }
    if name.contains('/') {
        return Err(RuleError::NameHasSlash { name: named() });
    }
    if let Some(ch) = name.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(RuleError::NameHasBadChar { name: named(), ch });
    }
    if name.len() > MAX_NAME_LEN {
        return Err(RuleError::NameTooLong {
            name: named(),
            len: name.len(),
        });
    }
    Ok(())
}

impl Rule {
    /// Checks every rule the kernel enforces (kernel notes §1), plus a few stricter ones:
    ///
    /// - the name may not contain whitespace or control characters (the kernel accepts even a
    ///   newline, which makes the entry unaddressable from a shell);
    /// - the interpreter must be absolute (a relative one is resolved against the cwd of every
    ///   process that execs a matching binary) and may not contain a newline (the entry file would
    ///   become ambiguous) or NUL (the kernel would truncate it);
    /// - an extension may not contain `.` (it could never match, the kernel compares the text after
    ///   the last dot), whitespace or control characters.
    ///
    /// The register-line checks (a free delimiter, at most 1920 bytes) are done by
    /// [`encode`](crate::encode()), which calls this first.
    pub fn validate(&self) -> Result<(), RuleError> {
        validate_name(&self.name)?;
        let name = || self.name.clone();
        match &self.matcher {
            Matcher::Magic {
                offset,
                magic,
                mask,
            } => {
                if magic.is_empty() {
                    return Err(RuleError::EmptyMagic { name: name() });
                }
                if let Some(mask) = mask
                    && mask.len() != magic.len()
                {
                    return Err(RuleError::MaskLength {
                        name: name(),
                        magic_len: magic.len(),
                        mask_len: mask.len(),
                    });
                }
                let end = offset.saturating_add(magic.len());
                if end > BUF_SIZE {
                    return Err(RuleError::MagicOutOfBuffer {
                        name: name(),
                        offset: *offset,
                        end,
                    });
                }
            }
            Matcher::Extension(ext) => {
                if ext.is_empty() {
                    return Err(RuleError::EmptyExtension { name: name() });
                }
                let bad = |c: &char| matches!(c, '/' | '.') || c.is_whitespace() || c.is_control();
                if let Some(ch) = ext.chars().find(bad) {
                    return Err(RuleError::BadExtension {
                        name: name(),
                        extension: ext.clone(),
                        ch,
                    });
                }
            }
        }
        let interp = self.interpreter.as_os_str().as_bytes();
        if interp.is_empty() {
            return Err(RuleError::EmptyInterpreter { name: name() });
        }
        if !self.interpreter.is_absolute() {
            return Err(RuleError::RelativeInterpreter {
                name: name(),
                interpreter: self.interpreter.clone(),
            });
        }
        if interp.iter().any(|&b| b == b'\n' || b == 0) {
            return Err(RuleError::BadInterpreter {
                name: name(),
                interpreter: self.interpreter.clone(),
            });
        }
        Ok(())
    }
}
