//! End-to-end tests: the built `binfmtd` binary against private binfmt_misc instances.
//!
//! One test binary (`it`) with one module per subject; the harness is `binfmtd_tests`.

mod check;
mod cli;
mod cli_choice;
mod cli_env;
mod cli_faults;
mod cli_upgrade;
mod compat;
mod daemon;
mod exec;
mod harness;
mod invariants;
mod messages;
mod regressions;
mod store;
