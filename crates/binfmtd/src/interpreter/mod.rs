//! QEMU interpreters: find them, verify them from their headers, and keep managed copies.
//!
//! The flow for one target is
//! [`discover`] → [`verify`] → [`Store::install`] → register [`Installed::path`] with the kernel.
//!
//! - [`discover`]/[`candidates`]: configured directories first, then [`DEFAULT_DIRS`], looking for
//!   `qemu-<t>-static` before `qemu-<t>` in each directory.
//! - [`verify`]: a regular ELF file for this [`HostMachine`], statically linked, executable,
//!   root-owned and not group/other-writable; only its headers are read.
//! - [`Store`]: copies into the install directory atomically (temporary file, fsync, rename),
//!   records source identity, SHA-256 and QEMU version in `manifest.json`, and skips unchanged
//!   sources from `stat` alone.

mod adopt;
mod copy;
mod discover;
mod elf;
mod error;
mod host;
mod manifest;
mod store;
mod verify;
mod version;

#[cfg(test)]
mod tests;

pub use discover::{DEFAULT_DIRS, candidates, candidates_in, discover, discover_in};
pub use error::{DynamicReason, InterpreterError};
pub use host::{ElfClass, Endianness, HostMachine};
pub use store::{DEFAULT_INSTALL_DIR, Installed, KNOWN_INSTALL_DIRS, Store};
pub use verify::{Timestamp, Verified, VerifyPolicy, identity, verify, verify_with};
pub use version::{VERSION_TIMEOUT, parse_version, qemu_version, qemu_version_within};
