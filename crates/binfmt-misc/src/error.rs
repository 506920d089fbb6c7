//! The errors of the kernel interface, and the mapping from each observed errno to its meaning
//! (kernel notes §9).

use std::path::{Path, PathBuf};

use nix::errno::Errno;

use crate::encode::escape_line;
use crate::entry::ParseError;
use crate::rule::{Rule, RuleError};

/// An error from the binfmt_misc interface. Every message is one line naming the path or entry
/// and saying what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The rule is invalid; nothing was written.
    #[error(transparent)]
    Rule(#[from] RuleError),
    /// An entry file could not be parsed.
    #[error("cannot parse binfmt_misc entry {}: {source}: report this kernel's entry format", path.display())]
    Parse {
        /// The entry file.
        path: PathBuf,
        /// What was wrong.
        source: ParseError,
    },
    /// Nothing is mounted at the path (or it does not exist).
    #[error(
        "binfmt_misc is not mounted at {}: mount it with `mount -t binfmt_misc binfmt_misc {}`",
        path.display(), path.display()
    )]
    NotMounted {
        /// The expected mount point.
        path: PathBuf,
    },
    /// Another filesystem is mounted at the path.
    #[error(
        "{} holds {} (filesystem type {fs_type:#x}), not binfmt_misc: use binfmt_misc's mount \
         point instead (usually {})",
        path.display(),
        crate::mount::filesystem_name(*fs_type).unwrap_or("another filesystem"),
        crate::DEFAULT_MOUNT
    )]
    NotBinfmtMisc {
        /// The path.
        path: PathBuf,
        /// `statfs` `f_type` of what is mounted there.
        fs_type: u64,
    },
    /// The kernel has no binfmt_misc.
    #[error(
        "this kernel has no binfmt_misc filesystem: load it with `modprobe binfmt_misc` \
         (CONFIG_BINFMT_MISC)"
    )]
    Unsupported,
    /// EACCES or EPERM on a control operation.
    #[error(
        "permission denied to {op} {}: run as root (in a container: `docker run --privileged`)",
        path.display()
    )]
    PermissionDenied {
        /// The path operated on.
        path: PathBuf,
        /// What was attempted (e.g. "open for writing").
        op: &'static str,
    },
    /// EROFS.
    #[error(
        "{} cannot be written, its mount is read-only (as /proc/sys in a container without \
         --privileged, or in a systemd unit with ProtectKernelTunables= or ProtectSystem=strict): \
         remount it read-write, \
         run privileged, or add ReadWritePaths=/proc/sys/fs/binfmt_misc to the unit",
        path.display()
    )]
    ReadOnly {
        /// The path.
        path: PathBuf,
    },
    /// EEXIST on register: the name is taken.
    #[error("binfmt_misc entry {name:?} already exists: remove it first, or replace it")]
    Exists {
        /// The entry name.
        name: String,
    },
    /// No entry of that name.
    #[error("binfmt_misc entry {name:?} does not exist: check the name against the entry list")]
    NotFound {
        /// The entry name.
        name: String,
    },
    /// ENOENT on register with `F`.
    #[error(
        "cannot register binfmt_misc entry {name:?}: interpreter {} does not exist (F opens it \
         now): install it or fix the path",
        interpreter.display()
    )]
    InterpreterMissing {
        /// The entry name.
        name: String,
        /// The interpreter path.
        interpreter: PathBuf,
    },
    /// EACCES on register with `F`.
    #[error(
        "cannot register binfmt_misc entry {name:?}: interpreter {} is not executable (a \
         directory, no x bit, or a noexec mount): point it at an executable file",
        interpreter.display()
    )]
    InterpreterNotExecutable {
        /// The entry name.
        name: String,
        /// The interpreter path.
        interpreter: PathBuf,
    },
    /// EINVAL with `F` on a kernel older than 4.8.
    #[error(
        "cannot register binfmt_misc entry {name:?}: kernel {release} predates the F flag (4.8): \
         drop F or upgrade the kernel"
    )]
    FixBinaryUnsupported {
        /// The entry name.
        name: String,
        /// The running kernel's release.
        release: String,
    },
    /// ENOSPC on register with `F` (Linux >= 7.3): the limit on pinned interpreters is reached.
    #[error(
        "cannot register binfmt_misc entry {name:?}: the kernel's limit on pinned interpreters is \
         reached ({} = {}): raise it (`sysctl -w user.max_binfmt_misc_interpreters=N`) or \
         register fewer targets",
        crate::kernel::MAX_INTERPRETERS_SYSCTL,
        limit.map_or_else(|| "?".to_string(), |l| l.to_string())
    )]
    TooManyInterpreters {
        /// The entry name.
        name: String,
        /// The limit, when it could be read.
        limit: Option<u64>,
    },
    /// Any other EINVAL on register.
    #[error(
        "the kernel rejected binfmt_misc entry {name:?} (EINVAL) for line {line}: report this as a bug"
    )]
    Rejected {
        /// The entry name.
        name: String,
        /// The register line, escaped to one printable line.
        line: String,
    },
    /// ENAMETOOLONG on register.
    #[error("binfmt_misc entry name {name:?} is too long for the kernel: shorten it to 255 bytes")]
    NameTooLong {
        /// The entry name.
        name: String,
    },
    /// EBUSY on mount: this instance is already mounted there.
    #[error("binfmt_misc is already mounted at {} (EBUSY): use the existing mount", path.display())]
    Busy {
        /// The mount point.
        path: PathBuf,
    },
    /// Any other I/O error.
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        /// What was attempted.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// The variant of an [`Error`], without its data: for exit codes and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[allow(missing_docs)] // One-to-one with the documented variants of `Error`.
pub enum ErrorKind {
    Rule,
    Parse,
    NotMounted,
    NotBinfmtMisc,
    Unsupported,
    PermissionDenied,
    ReadOnly,
    Exists,
    NotFound,
    InterpreterMissing,
    InterpreterNotExecutable,
    FixBinaryUnsupported,
    TooManyInterpreters,
    Rejected,
    NameTooLong,
    Busy,
    Io,
}

impl Error {
    /// Which variant this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Rule(_) => ErrorKind::Rule,
            Error::Parse { .. } => ErrorKind::Parse,
            Error::NotMounted { .. } => ErrorKind::NotMounted,
            Error::NotBinfmtMisc { .. } => ErrorKind::NotBinfmtMisc,
            Error::Unsupported => ErrorKind::Unsupported,
            Error::PermissionDenied { .. } => ErrorKind::PermissionDenied,
            Error::ReadOnly { .. } => ErrorKind::ReadOnly,
            Error::Exists { .. } => ErrorKind::Exists,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::InterpreterMissing { .. } => ErrorKind::InterpreterMissing,
            Error::InterpreterNotExecutable { .. } => ErrorKind::InterpreterNotExecutable,
            Error::FixBinaryUnsupported { .. } => ErrorKind::FixBinaryUnsupported,
            Error::TooManyInterpreters { .. } => ErrorKind::TooManyInterpreters,
            Error::Rejected { .. } => ErrorKind::Rejected,
            Error::NameTooLong { .. } => ErrorKind::NameTooLong,
            Error::Busy { .. } => ErrorKind::Busy,
            Error::Io { .. } => ErrorKind::Io,
        }
    }

    pub(crate) fn io(op: &'static str, path: &Path, errno: Errno) -> Error {
        Error::Io {
            op,
            path: path.to_path_buf(),
            source: std::io::Error::from(errno),
        }
    }
}

/// Maps an errno from opening or writing a control file (`register`, `status`, an entry) that is
/// not specific to registration.
pub(crate) fn control_error(errno: Errno, path: &Path, op: &'static str) -> Error {
    match errno {
        Errno::EACCES | Errno::EPERM => Error::PermissionDenied {
            path: path.to_path_buf(),
            op,
        },
        Errno::EROFS => Error::ReadOnly {
            path: path.to_path_buf(),
        },
        _ => Error::io(op, path, errno),
    }
}

/// Maps an errno from the `write(2)` of a register line to `register` (kernel notes §1 and §9).
/// `kernel` tells "F unsupported" (< 4.8) from a rejected line.
pub(crate) fn register_error(
    errno: Errno,
    rule: &Rule,
    line: &[u8],
    kernel: &crate::kernel::Features,
    register: &Path,
) -> Error {
    let name = rule.name.clone();
    let fix = rule.flags.fix_binary;
    match errno {
        Errno::EEXIST => Error::Exists { name },
        Errno::ENAMETOOLONG => Error::NameTooLong { name },
        Errno::ENOENT if fix => Error::InterpreterMissing {
            name,
            interpreter: rule.interpreter.clone(),
        },
        Errno::EACCES if fix => Error::InterpreterNotExecutable {
            name,
            interpreter: rule.interpreter.clone(),
        },
        Errno::EINVAL if fix && !kernel.fix_binary() => Error::FixBinaryUnsupported {
            name,
            release: kernel.release.clone(),
        },
        Errno::ENOSPC if fix => Error::TooManyInterpreters {
            name,
            limit: crate::kernel::max_interpreters(),
        },
        Errno::EINVAL => Error::Rejected {
            name,
            line: escape_line(line),
        },
        _ => control_error(errno, register, "write a registration to"),
    }
}

#[cfg(test)]
mod tests;
