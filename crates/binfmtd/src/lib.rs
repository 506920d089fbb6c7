//! binfmtd: registers QEMU user-mode emulators in the kernel's binfmt_misc and keeps them there.
//!
//! The library half of the `binfmtd` binary (`main.rs` only parses arguments and dispatches). It
//! glues the two leaf crates: [`elf_magic`] (which header bytes mean which QEMU target) and
//! [`binfmt_misc`] (how to talk to the kernel).
//!
//! - [`check`]: whether each target's binaries execute now, by running a probe for each;
//! - [`cli`]: the command line; [`config`]: configuration files → [`config::Settings`];
//! - [`host`]: facts about this machine (native targets, by probe; its user namespace);
//! - [`interpreter`]: finding, verifying and installing QEMU interpreters;
//! - [`engine`]: gather the facts, decide (pure) what to register, replace, skip or refuse,
//!   apply that through the one write path, and derive the report;
//! - [`commands`]: install, plan, uninstall, status, table, exec, the tonistiigi form; [`report`]:
//!   their results;
//! - [`daemon`]: `binfmtd daemon`, the systemd service that keeps the entries registered;
//! - [`visibility`]: whether entries outlive a container; [`persist`]: `install --persist`.

pub mod advice;
pub mod check;
pub mod cli;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod engine;
pub mod host;
pub mod interpreter;
pub mod isolate;
pub mod logging;
pub mod persist;
pub mod report;
pub mod selection;
pub mod visibility;
