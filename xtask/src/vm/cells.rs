//! The matrix: which kernel boots on which virtual CPU, and what each cell is there to prove.
//!
//! Every cell runs the same scenario (`tests/vm/`); the per-kernel and per-CPU differences are
//! expected results inside it. What the scenario cannot find out by itself (which targets the
//! virtual CPU runs natively) is passed on the kernel command line as `vmtest.native=`, an
//! expectation written here, independent of binfmtd's own probe.

use super::qemu::GuestArch;

/// A private apt configuration: name, suites, architectures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Suite {
    /// Directory name under `target/vm/apt`.
    pub(crate) name: &'static str,
    /// Debian suites (component `main`).
    pub(crate) suites: &'static [&'static str],
    /// Architectures to index.
    pub(crate) arches: &'static [&'static str],
}

/// Debian 11: Linux 5.10.
pub(crate) const BULLSEYE: Suite = Suite {
    name: "bullseye",
    suites: &["bullseye"],
    arches: &["amd64"],
};
/// Debian 12: Linux 6.1, busybox-static for the guests.
pub(crate) const BOOKWORM: Suite = Suite {
    name: "bookworm",
    suites: &["bookworm"],
    arches: &["amd64", "arm64"],
};
/// Debian 13: Linux 6.12 for both architectures, and the arm64 `qemu-user` (static binaries).
pub(crate) const TRIXIE: Suite = Suite {
    name: "trixie",
    suites: &["trixie"],
    arches: &["amd64", "arm64"],
};
/// The newest kernel Debian builds (7.3 release candidates at the time of writing).
pub(crate) const EXPERIMENTAL: Suite = Suite {
    name: "experimental",
    suites: &["experimental"],
    arches: &["amd64"],
};

/// One cell of the matrix.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cell {
    /// Where its kernel comes from.
    pub(crate) suite: Suite,
    /// The guest architecture.
    pub(crate) arch: GuestArch,
    /// Appended to the cell's name (`6.12 arm64 a64fx`).
    pub(crate) variant: &'static str,
    /// `-M` override.
    pub(crate) machine: Option<&'static str>,
    /// `-cpu` override (TCG).
    pub(crate) cpu: Option<&'static str>,
    /// Targets the virtual CPU runs without an emulator (the scenario's expectation).
    pub(crate) native: &'static str,
    /// What the cell proves, for `--list`.
    pub(crate) proves: &'static str,
}

/// x86-64 runs i386 and i486 binaries itself (the kernels here have IA32 emulation).
const AMD64_NATIVE: &str = "x86_64,i386,i486";

/// The six cells.
pub(crate) const CELLS: [Cell; 6] = [
    Cell {
        suite: BULLSEYE,
        arch: GuestArch::Amd64,
        variant: "",
        machine: None,
        cpu: None,
        native: AMD64_NATIVE,
        proves: "global instance only; P dropped before 5.12; exec explains the old kernel",
    },
    Cell {
        suite: BOOKWORM,
        arch: GuestArch::Amd64,
        variant: "",
        machine: None,
        cpu: None,
        native: AMD64_NATIVE,
        proves: "global instance, entries survive an unmount (before 6.7), daemon restore",
    },
    Cell {
        suite: TRIXIE,
        arch: GuestArch::Amd64,
        variant: "",
        machine: None,
        cpu: None,
        native: AMD64_NATIVE,
        proves: "per-user-namespace instances seen from the host side",
    },
    Cell {
        suite: EXPERIMENTAL,
        arch: GuestArch::Amd64,
        variant: "",
        machine: None,
        cpu: None,
        native: AMD64_NATIVE,
        proves: "T/D/L flags detected; max_binfmt_misc_interpreters enforced cleanly",
    },
    Cell {
        suite: TRIXIE,
        arch: GuestArch::Arm64,
        variant: "",
        machine: None,
        cpu: Some("max"),
        native: "aarch64,arm",
        proves: "an arm64 host: qemu-x86_64 and qemu-i386 from Debian's arm64 qemu-user; arm native",
    },
    Cell {
        suite: TRIXIE,
        arch: GuestArch::Arm64,
        variant: " a64fx",
        // Without gic-version=3 this CPU's kernel oopses in has_useable_gicv3_cpuif.
        machine: Some("virt,gic-version=3"),
        cpu: Some("a64fx"),
        native: "aarch64",
        proves: "an arm64 CPU without AArch32: arm is foreign, probed and emulated",
    },
];

impl Cell {
    /// `<kernel label> <arch><variant>`, e.g. `5.10 amd64`, `6.12 arm64 a64fx`.
    pub(crate) fn name(&self, kernel_label: &str) -> String {
        format!("{kernel_label} {}{}", self.arch.debian(), self.variant)
    }

    /// `<suite> <arch><variant>`, e.g. `bullseye amd64`, `trixie arm64 a64fx`: the cell's name
    /// before its kernel is resolved.
    pub(crate) fn key(&self) -> String {
        format!("{} {}{}", self.suite.name, self.arch.debian(), self.variant)
    }

    /// Whether `--cell PATTERN` selects this cell: a substring of [`Cell::key`].
    pub(crate) fn selected_by(&self, patterns: &[String]) -> bool {
        patterns.is_empty() || patterns.iter().any(|p| self.key().contains(p.as_str()))
    }
}
