//! End-to-end tests: the built `binfmtd` binary against private binfmt_misc instances.
//!
//! One test binary (`it`) with one module per subject; the harness is `binfmtd_tests`.

mod harness;
