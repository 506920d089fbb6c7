//! QEMU interpreters: find them, verify them from their headers, and keep managed copies.
//!
//! The flow for one target is [`candidates`] → [`verify`] → (the engine chooses and decides) →
//! [`Writer::put`] → register the managed path with the kernel.
//!
//! - [`discover`]/[`candidates`]: configured directories first, then [`DEFAULT_DIRS`], looking for
//!   `qemu-<t>-static` before `qemu-<t>` in each directory.
//! - [`verify`]: a regular ELF file for this [`HostMachine`], statically linked, executable,
//!   root-owned and not group/other-writable; only its headers are read.
//! - [`Store`]: hard-links (same filesystem) or copies into the install directory atomically
//!   (temporary file, fsync, rename), records source identity, QEMU version and (for a copy)
//!   SHA-256 in `manifest.json`, and caches what it learnt of sources by stat identity
//!   ([`Digest`]), so an unchanged source is never read again.
//! - [`Content`]: an interpreter's bytes are known by their unchanged inode ([`FileId`]), and by
//!   SHA-256 only where the file was read whole anyway (a copy): a linked or in-place file is
//!   never hashed.

mod content;
mod copy;
mod discover;
mod elf;
mod error;
mod host;
mod manifest;
mod mounts;
mod store;
mod verify;
mod version;

#[cfg(test)]
mod tests;

pub use content::{Content, FileId};
pub use copy::{Staged, hash_verified};
pub use discover::{DEFAULT_DIRS, candidates, candidates_in, discover, discover_in};
pub use error::{DynamicReason, InterpreterError};
pub use host::{ElfClass, Endianness, HostMachine};
pub use manifest::Digest;
pub use mounts::Mounts;
pub use store::{
    DEFAULT_INSTALL_DIR, Installed, KNOWN_INSTALL_DIRS, ManagedCopy, PERSISTED_DIR, Placed,
    Snapshot, Store, Writer,
};
pub use verify::{Timestamp, Verified, VerifyPolicy, identity, verify, verify_with};
pub use version::{
    VERSION_TIMEOUT, compare_versions, major_minor, parse_version, qemu_version,
    qemu_version_within, runs_probe,
};

/// Whether `dir` is a binfmtd install directory of some installation (it holds a binfmtd
/// manifest): entries running interpreters there are binfmtd's.
pub fn is_store(dir: &std::path::Path) -> bool {
    manifest::is_manifest(&dir.join(manifest::MANIFEST_FILE))
}
