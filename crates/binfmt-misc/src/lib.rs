//! The Linux binfmt_misc interface: rules, the register-line encoder, the entry parser, plans, and
//! the I/O on a mount root. It knows nothing about QEMU or ELF.
//!
//! The kernel's grammar in brief (the full account, with every errno observed on Linux 6.18, is
//! in the project's kernel notes):
//! - a registration is **one** `write(2)` of at most 1920 bytes to `<mount>/register`:
//!   `<d>name<d>type<d>offset<d>magic<d>mask<d>interpreter<d>flags`, `<d>` being the first byte;
//! - type `M` compares `magic` (under `mask`) at `offset` of the first 256 bytes of the file;
//!   type `E` compares the text after the last `.` of the path;
//! - magic and mask may use `\xHH` escapes; name, extension and interpreter are raw;
//! - flags are `P` (keep argv\[0\]), `O` (open the binary), `C` (credentials of the binary,
//!   implies `O`), `F` (open the interpreter now and pin it);
//! - each entry is a file `<mount>/<name>` that reads back as text ([`parse_entry`]) and accepts
//!   `1`, `0`, `-1` (enable, disable, remove); `<mount>/status` does the same for the instance;
//! - of several enabled entries matching one file, the most recently registered wins.
//!
//! Layers: [`Rule`], [`encode()`], [`parse_entry`], [`Entry::differences`] and [`kernel`]
//! (features by release) are pure; only [`BinfmtMisc`] (module `fs`) opens files under the mount,
//! module `mount` checks and mounts it, and [`replace()`] swaps an entry through a [`BinfmtMisc`]
//! without a gap. Which entries to register, replace or remove is the caller's policy.
//!
//! ```
//! use binfmt_misc::{encode, parse_entry, Entry, Flags, Matcher, Rule};
//! let rule = Rule {
//!     name: "qemu-riscv64".into(),
//!     matcher: Matcher::Magic {
//!         offset: 0,
//!         magic: b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\xf3\0".to_vec(),
//!         mask: Some(b"\xff\xff\xff\xff\xff\xff\xff\0\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff".to_vec()),
//!     },
//!     interpreter: "/usr/bin/qemu-riscv64-static".into(),
//!     flags: "POCF".parse()?,
//! };
//! let line = encode(&rule)?;
//! assert!(line.starts_with(b":qemu-riscv64:M:0:\\x7fELF\\x02"));
//! // What the kernel shows afterwards, and how it compares with the rule:
//! let text = Entry::from_rule(&rule).to_kernel_text();
//! let entry = parse_entry("qemu-riscv64", &text)?;
//! assert!(entry.differences(&rule).is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

// This crate implements the write API that clippy.toml reserves to binfmtd's engine::apply.
#![allow(clippy::disallowed_methods)]

pub mod decode;
pub mod encode;
pub mod entry;
pub mod error;
pub mod flags;
pub mod fs;
pub mod kernel;
pub mod matcher;
pub mod mount;
pub mod order;
pub mod replace;
pub mod rule;
pub mod watch;

pub use decode::{DecodeError, decode};
pub use encode::{DELIMITERS, encode, escape_line};
pub use entry::{Difference, Entry, ParseError, parse_entry};
pub use error::{Error, ErrorKind};
pub use flags::{Flags, FlagsError};
pub use fs::{BinfmtMisc, DEFAULT_MOUNT, InstanceLock};
pub use kernel::{Features, KernelVersion};
pub use matcher::Matcher;
pub use mount::{AUTOFS_MAGIC, BINFMTFS_MAGIC, mount_binfmt_misc};
pub use order::{EntryInfo, RegistrationStamp, active_among};
pub use replace::{
    TEMP_ALTERNATIVES, TEMP_SUFFIX, replace, replace_through, temp_name, temp_names,
};
pub use rule::{BUF_SIZE, MAX_NAME_LEN, MAX_REGISTER_LEN, Rule, RuleError, validate_name};
pub use watch::{Change, Watcher};
