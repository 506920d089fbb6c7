//! The engine: decide once, apply once.
//!
//! ```text
//!   settings + words ──> gather::prepare ──> Prepared (host, chosen interpreters)   slow, I/O
//!   kernel, store ─────> gather::facts ────> Facts                                  fast, I/O
//!   Facts + intent ────> decide ───────────> Decision (per entry, store plan)       pure
//!   Decision ──────────> apply ────────────> Outcome                                I/O only
//!   Decision + Outcome > report::build ────> Report                                 pure
//! ```
//!
//! `install`, `plan`, `uninstall`, tonistiigi's `--install`/`--uninstall`, `exec` and the daemon
//! are thin callers of these five steps; [`apply`] is the only code that writes to binfmt_misc
//! or the store. Every fact `decide` uses is an input ([`facts`]), so every policy is tested
//! without a kernel, and nothing after `decide` changes its result.

pub mod apply;
pub mod decide;
pub mod facts;
pub mod gather;
pub mod masks;
pub mod naming;
pub mod owner;
mod parallel;
pub mod pins;
pub mod plan;
pub mod report;
pub mod why;

#[cfg(test)]
mod tests;

pub use apply::{ApplyError, Outcome, StoreIo, apply};
pub use facts::{Facts, InstallIntent, Mode, UninstallIntent};
pub use gather::{Prepared, Use, facts as read_facts, prepare};
pub use owner::Owner;
pub use plan::{Decision, EntryDecision, Step};
pub use why::Why;
