//! Test harness for binfmtd.
//!
//! Three things every real-system test needs, in one place:
//! - [`fixtures`]: real foreign-architecture binaries from Debian (downloaded by `tests/fixtures.sh`)
//!   and the QEMU interpreters installed from Debian's `qemu-user-static`;
//! - [`sandbox`]: private binfmt_misc instances in user namespaces, so no test ever touches the
//!   host's binfmt_misc ([`sandbox_test!`] for a test whose body runs inside one, [`sandbox::Sandbox`]
//!   for multi-step scenarios);
//! - [`bin`]: the built `binfmtd` binary.

pub mod bin;
pub mod fixtures;
pub mod sandbox;
