//! Which ELF header bytes mean which QEMU linux-user target: the binfmt_misc magic/mask table,
//! as pure data and pure functions (no dependencies, no I/O).
//!
//! - [`Target`]: the 34 QEMU linux-user targets, their interpreter ([`Target::qemu_binary`]) and
//!   every name people use for them (QEMU, Debian, OCI platforms, `uname -m`), parsed with
//!   [`str::parse`] into a [`Target`] or an [`UnknownTarget`] that suggests close names.
//! - [`TABLE`]: the magic/mask [`Row`]s, QEMU's upstream table with the fixes in [`UPSTREAM`];
//!   no two rows overlap.
//! - [`detect()`] / [`matching_rows`]: which row binfmt_misc would pick for a file header.
//! - [`host`]: what the host runs natively ([`native_target`], [`compat_candidates`]), tiny
//!   probe executables ([`probe_elf`]) and the guard against registering the host's own format
//!   ([`header_variants`]).
//!
//! ```
//! use elf_magic::{detect, Target, TABLE};
//!
//! // The first 20 bytes of a little-endian 64-bit ELF executable for EM_AARCH64 (183).
//! let header = b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00";
//! assert_eq!(detect(header), Some(Target::Aarch64));
//!
//! let target: Target = "linux/arm64".parse()?;
//! assert_eq!(target, Target::Aarch64);
//! assert_eq!(target.qemu_binary(), "qemu-aarch64");
//! assert_eq!("armhf".parse::<Target>()?, Target::Arm);
//! assert_eq!(TABLE.iter().filter(|row| row.target == Target::Microblaze).count(), 2);
//!
//! let err = "aarch46".parse::<Target>().unwrap_err();
//! assert_eq!(err.suggestions.first(), Some(&"aarch64"));
//! # Ok::<(), elf_magic::UnknownTarget>(())
//! ```

mod aliases;
pub mod detect;
pub mod host;
mod parse;
mod probe;
pub mod row;
mod table;
pub mod target;

pub use detect::{detect, matching_rows};
pub use host::{
    compat_candidates, header_variants, native_target, native_target_with_endianness, probe_elf,
};
pub use parse::UnknownTarget;
pub use row::{HEADER_LEN, Row, TABLE, UPSTREAM};
pub use target::Target;

#[cfg(test)]
mod tests;
