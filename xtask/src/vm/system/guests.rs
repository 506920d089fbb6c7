//! The full-system guests: which Debian suites, and what each has installed before the scenario
//! starts (the distribution's QEMU as a user installs it). Data only.

/// One guest: a Debian suite booted with its own kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Guest {
    /// The Debian suite (`debootstrap SUITE`).
    pub(crate) suite: &'static str,
    /// Packages installed into the rootfs besides [`BASE`] (`debootstrap --include`): the
    /// distribution's QEMU, as a user installs it.
    pub(crate) extra: &'static [&'static str],
    /// The QEMU package whose reinstall is step 4 (staged as a .deb in the image).
    pub(crate) qemu_package: &'static str,
    /// What the guest is there to prove.
    pub(crate) proves: &'static str,
}

/// In every rootfs: systemd as PID 1, the suite's kernel and initramfs, `ps`.
const BASE: [&str; 8] = [
    "systemd",
    "systemd-sysv",
    "dbus",
    "udev",
    "linux-image-amd64",
    "initramfs-tools",
    "kmod",
    "procps",
];

/// Debian 12: Linux 6.1, systemd 252, `qemu-user-static` 7.2 (static binaries and binfmt.d files).
pub(crate) const BOOKWORM: Guest = Guest {
    suite: "bookworm",
    extra: &["qemu-user-static"],
    qemu_package: "qemu-user-static",
    proves: "Debian 12, Linux 6.1, systemd 252, qemu-user-static 7.2",
};

/// Debian 13: Linux 6.12, systemd 257, `qemu-user-static` → `qemu-user` + `qemu-user-binfmt`
/// 10.0 (every `qemu-user` configure restarts systemd-binfmt through the trigger).
pub(crate) const TRIXIE: Guest = Guest {
    suite: "trixie",
    extra: &["qemu-user-static"],
    qemu_package: "qemu-user",
    proves: "Debian 13, Linux 6.12, systemd 257, qemu-user 10.0 + qemu-user-binfmt",
};

/// Every guest, in the order they are reported.
pub(crate) const GUESTS: [Guest; 2] = [BOOKWORM, TRIXIE];

impl Guest {
    /// `debootstrap --include=` value.
    pub(crate) fn include_arg(&self) -> String {
        let all: Vec<&str> = BASE.iter().chain(self.extra).copied().collect();
        all.join(",")
    }

    /// Whether `--suite` patterns select it (none: all).
    pub(crate) fn selected_by(&self, patterns: &[String]) -> bool {
        patterns.is_empty() || patterns.iter().any(|p| self.suite.contains(p.as_str()))
    }
}
