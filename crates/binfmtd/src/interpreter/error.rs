//! `InterpreterError`: every way finding, verifying, or installing a QEMU interpreter can fail.
//!
//! Each message is one line that names the file and says what to do about it.

use std::io;
use std::path::PathBuf;

use super::host::HostMachine;

/// Why an interpreter was judged dynamically linked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DynamicReason {
    /// The file has a `PT_INTERP` program header naming this program interpreter.
    Interpreter(String),
    /// The file's dynamic section has a `DT_NEEDED` entry naming this library.
    Needs(String),
}

impl std::fmt::Display for DynamicReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Interpreter(interp) => write!(f, "it asks for the program interpreter {interp}"),
            Self::Needs(lib) => write!(f, "it needs the shared library {lib}"),
        }
    }
}

/// An error from the interpreter module: discovery, verification, or the managed store.
#[derive(Debug, thiserror::Error)]
pub enum InterpreterError {
    /// The file does not exist (or is a dangling symlink).
    #[error(
        "interpreter {path} does not exist: install qemu-user-static or configure its directory"
    )]
    NotFound {
        /// The path that was asked for.
        path: PathBuf,
    },
    /// The path resolves to something other than a regular file.
    #[error(
        "interpreter {path} is a {kind}, not a regular file: point the configuration at the binary"
    )]
    NotRegularFile {
        /// The resolved path.
        path: PathBuf,
        /// What it is instead ("directory", "fifo", ...).
        kind: &'static str,
    },
    /// The file is not an ELF executable.
    #[error("interpreter {path} is not an ELF executable ({reason}): use a qemu-user binary")]
    NotElf {
        /// The resolved path.
        path: PathBuf,
        /// What was wrong with the header.
        reason: String,
    },
    /// The file is an ELF for another machine, class or byte order than this host.
    #[error(
        "interpreter {path} is built for {found}, but this host is {expected}: use a qemu-user binary built for this host"
    )]
    WrongMachine {
        /// The resolved path.
        path: PathBuf,
        /// The file's machine.
        found: HostMachine,
        /// This host's machine.
        expected: HostMachine,
    },
    /// The file is dynamically linked, so it would not run inside foreign root filesystems.
    #[error(
        "interpreter {path} is dynamically linked ({reason}): install the static build (qemu-user-static)"
    )]
    Dynamic {
        /// The resolved path.
        path: PathBuf,
        /// The interpreter or library that gives it away.
        reason: DynamicReason,
    },
    /// The file has no execute bit.
    #[error("interpreter {path} is not executable (mode {mode:04o}): run chmod 0755 on it")]
    NotExecutable {
        /// The resolved path.
        path: PathBuf,
        /// The permission bits.
        mode: u32,
    },
    /// The file could be replaced by someone other than root.
    #[error("interpreter {path} is insecure ({reason}): run chown root:root and chmod go-w on it")]
    Insecure {
        /// The resolved path.
        path: PathBuf,
        /// The owner or mode problem.
        reason: String,
    },
    /// The install directory could be written by someone else, who could then swap an
    /// interpreter between its copy and its registration.
    #[error(
        "install directory {dir} is insecure ({reason}): another user could replace an \
         interpreter before it is registered; run chown root and chmod go-w on it, or choose \
         another install_dir"
    )]
    InsecureStore {
        /// The install directory.
        dir: PathBuf,
        /// The owner or mode problem.
        reason: String,
    },
    /// The file changed between verification and installation.
    #[error("interpreter {path} changed while it was being installed: run the command again")]
    SourceChanged {
        /// The source path.
        path: PathBuf,
    },
    /// A name that cannot be a file in the install directory.
    #[error(
        "invalid interpreter name {name:?}: use a plain file name such as qemu-aarch64 (no '/', no leading '.', not manifest.json)"
    )]
    InvalidName {
        /// The rejected name.
        name: String,
    },
    /// The install directory is read-only, not ours to write, or full.
    #[error("install directory {dir} is not usable ({what}: {source}): {hint}")]
    StoreUnusable {
        /// The install directory.
        dir: PathBuf,
        /// What was being done ("creating", "writing", ...).
        what: &'static str,
        /// The suggested fix, chosen from the errno.
        hint: &'static str,
        /// The underlying error.
        source: io::Error,
    },
    /// Any other I/O error, with the operation and the file.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done ("reading", "opening", ...).
        op: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

impl InterpreterError {
    /// An [`InterpreterError::Io`] for `op` on `path`.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// An [`InterpreterError::StoreUnusable`] with a hint chosen from the errno.
    pub(crate) fn store(what: &'static str, dir: impl Into<PathBuf>, source: io::Error) -> Self {
        // By kind, not errno: tempfile wraps its errors (adding the path), hiding the errno.
        let hint = match source.kind() {
            io::ErrorKind::ReadOnlyFilesystem => {
                "the filesystem is read-only; choose a writable install_dir in the configuration"
            }
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => {
                "the filesystem is full; free some space"
            }
            io::ErrorKind::PermissionDenied => {
                "permission denied; run as root or choose another install_dir"
            }
            io::ErrorKind::NotADirectory | io::ErrorKind::AlreadyExists => {
                "a path component is not a directory; choose another install_dir"
            }
            _ => "check the install_dir setting",
        };
        Self::StoreUnusable {
            dir: dir.into(),
            what,
            hint,
            source,
        }
    }
}
