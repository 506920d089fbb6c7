//! Facts about the machine binfmtd runs on: its own executable format, the targets it runs
//! natively, and which user namespace (and so which binfmt_misc instance) it sees.
//!
//! Native execution is probed, not guessed: an x86_64 kernel can be built without IA32
//! emulation, and an aarch64 CPU may lack AArch32. A probe is a tiny static ELF from
//! [`elf_magic::probe_elf`] that just exits 0. It must run *natively*, not through an emulator some
//! earlier run registered, so binfmtd re-executes itself as `binfmtd probe-native TARGET`, which
//! enters a fresh user namespace, mounts an empty binfmt_misc instance there (shadowing every
//! registered entry, Linux ≥ 6.7) and executes the probe. Where that is impossible the probe runs
//! directly when no enabled entry could intercept it, and is otherwise reported as unknown.

use elf_magic::Target;
use std::collections::BTreeMap;
use std::io::Read;
use std::process::{Command, Stdio};

/// How a target runs on this host without binfmtd.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Nativity {
    /// The host's own architecture, or a compatible one the probe executed natively.
    Native,
    /// The CPU/kernel cannot run it: it needs an emulator.
    Foreign,
    /// A compatible architecture whose probe could not be run natively (treated as foreign).
    Unknown,
}

/// What binfmtd knows about the host.
#[derive(Debug, Clone)]
pub struct HostFacts {
    /// `uname -m`.
    pub machine: String,
    /// The target of the host's own architecture, if the table has it.
    pub native: Option<Target>,
    /// The first 256 bytes of binfmtd's own executable: rows matching it must never be registered.
    pub exe_header: Vec<u8>,
    /// Per compatible target (e.g. i386 on x86_64), what the probe found.
    pub compat: BTreeMap<Target, Nativity>,
    /// Whether this process is in the initial user namespace (so it sees the host's instance).
    pub initial_user_namespace: bool,
    /// Whether the kernel tells the interpreter about `P` through `AT_FLAGS` (Linux ≥ 5.12);
    /// without it QEMU cannot know argv[0] was preserved.
    pub kernel_passes_preserve_argv0: bool,
}

impl HostFacts {
    /// Gathers the facts; probes compatible targets (a few milliseconds each).
    pub fn gather() -> HostFacts {
        let (machine, release) = nix::sys::utsname::uname()
            .map(|u| {
                let text = |s: &std::ffi::OsStr| s.to_string_lossy().into_owned();
                (text(u.machine()), text(u.release()))
            })
            .unwrap_or_default();
        let exe_header = own_header();
        // binfmtd's own header says the host's format exactly (endianness included, which
        // `uname -m` does not for mips or microblaze); uname is the fallback.
        let native = elf_magic::detect(&exe_header).or_else(|| elf_magic::native_target(&machine));
        let compat = native
            .map(|n| {
                elf_magic::compat_candidates(n)
                    .iter()
                    .map(|&t| (t, probe(t)))
                    .collect()
            })
            .unwrap_or_default();
        HostFacts {
            machine,
            native,
            exe_header,
            compat,
            initial_user_namespace: in_initial_user_namespace(),
            kernel_passes_preserve_argv0: kernel_at_least(&release, (5, 12)),
        }
    }

    /// How `target` runs here without an emulator.
    pub fn nativity(&self, target: Target) -> Nativity {
        if Some(target) == self.native {
            return Nativity::Native;
        }
        self.compat
            .get(&target)
            .copied()
            .unwrap_or(Nativity::Foreign)
    }

    /// Whether registering a rule for `row` would hijack the host's own executables.
    pub fn row_matches_host(&self, row: &elf_magic::Row) -> bool {
        !self.exe_header.is_empty() && row.matches(&self.exe_header)
    }
}

/// Whether a kernel release string (`6.18.44-fc`) is at least `min` (major, minor).
pub fn kernel_at_least(release: &str, min: (u32, u32)) -> bool {
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let major = parts.next().unwrap_or(0);
    let minor = parts.next().unwrap_or(0);
    (major, minor) >= min
}

/// The first 256 bytes of `/proc/self/exe`.
fn own_header() -> Vec<u8> {
    let mut buf = Vec::with_capacity(256);
    if let Ok(file) = std::fs::File::open("/proc/self/exe") {
        let _ = file.take(256).read_to_end(&mut buf);
    }
    buf
}

/// Whether this process is in the initial user namespace: there, `uid_map` maps the whole
/// 32-bit range onto itself.
pub fn in_initial_user_namespace() -> bool {
    std::fs::read_to_string("/proc/self/uid_map")
        .map(|map| is_identity_uid_map(&map))
        .unwrap_or(true)
}

fn is_identity_uid_map(map: &str) -> bool {
    let fields: Vec<&str> = map.split_whitespace().collect();
    fields == ["0", "0", "4294967295"]
}

/// Probes whether `target` runs natively by re-executing binfmtd (`probe-native`), which isolates
/// the probe from every registered emulator.
fn probe(target: Target) -> Nativity {
    let Some(_) = elf_magic::probe_elf(target) else {
        return Nativity::Unknown;
    };
    let Ok(exe) = std::env::current_exe() else {
        return Nativity::Unknown;
    };
    let status = Command::new(exe)
        .args(["probe-native", target.name()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match status.ok().and_then(|s| s.code()) {
        Some(0) => Nativity::Native,
        Some(1) => Nativity::Foreign,
        _ => Nativity::Unknown,
    }
}

/// The body of the hidden `binfmtd probe-native TARGET` command: exit status 0 if the probe for
/// `target` ran natively, 1 if the kernel refused it, 2 if the question cannot be answered here.
pub fn probe_native_command(target: &str) -> u8 {
    let Some(elf) = target.parse::<Target>().ok().and_then(elf_magic::probe_elf) else {
        return 2;
    };
    let Ok(dir) = tempfile::tempdir() else {
        return 2;
    };
    if crate::isolate::enter_private_binfmt_misc(&dir.path().join("binfmt_misc")).is_err() {
        return 2;
    }
    match crate::isolate::run_elf(elf) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(_) => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_versions() {
        assert!(kernel_at_least("6.18.44-fc-v669", (5, 12)));
        assert!(kernel_at_least("5.12.0", (5, 12)));
        assert!(!kernel_at_least("5.11.22", (5, 12)));
        assert!(!kernel_at_least("4.19.0-26-amd64", (5, 12)));
        assert!(!kernel_at_least("", (5, 12)));
    }

    #[test]
    fn identity_uid_map_means_initial_namespace() {
        assert!(is_identity_uid_map("         0          0 4294967295\n"));
        assert!(!is_identity_uid_map("         0       1000          1\n"));
        assert!(!is_identity_uid_map(""));
    }

    #[test]
    fn own_header_is_an_elf_that_some_row_would_hijack() {
        let facts = HostFacts {
            machine: String::new(),
            native: None,
            exe_header: own_header(),
            compat: BTreeMap::new(),
            initial_user_namespace: true,
            kernel_passes_preserve_argv0: true,
        };
        assert_eq!(&facts.exe_header[..4], b"\x7fELF");
        // The host's own row (x86_64 here, or whatever builds this test) must be flagged.
        let hijackers: Vec<_> = elf_magic::TABLE
            .iter()
            .filter(|r| facts.row_matches_host(r))
            .collect();
        assert_eq!(
            hijackers.len(),
            1,
            "exactly the host's own row matches its executables"
        );
    }
}
