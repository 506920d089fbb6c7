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
use std::io::{Read, Write};
use std::path::Path;
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
    /// What the running kernel's binfmt_misc can do (flags, `P` through `AT_FLAGS`, instances).
    pub kernel: binfmt_misc::Features,
}

impl HostFacts {
    /// Gathers the facts, probing every compatible target (a few milliseconds each).
    pub fn gather() -> HostFacts {
        HostFacts::gather_for(&Target::ALL, None)
    }

    /// Gathers the facts, probing only the compatible targets among `wanted`. With a `cache`
    /// directory, probe results are read from and written to [`PROBE_CACHE`] there, keyed by the
    /// boot id and kernel release: what the CPU and kernel run natively cannot change before the
    /// next boot, so a re-run spawns no probe.
    pub fn gather_for(wanted: &[Target], cache: Option<&Path>) -> HostFacts {
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
        let key = format!("{} {release}", boot_id());
        let kernel = binfmt_misc::Features::of(&release);
        let cached = cache
            .map(|dir| read_probe_cache(dir, &key))
            .unwrap_or_default();
        let mut compat = BTreeMap::new();
        for &t in native.map(elf_magic::compat_candidates).unwrap_or_default() {
            if wanted.contains(&t) {
                compat.insert(t, cached.get(&t).copied().unwrap_or_else(|| probe(t)));
            }
        }
        if let Some(dir) = cache
            && compat.iter().any(|(t, n)| cached.get(t) != Some(n))
        {
            write_probe_cache(dir, &key, &compat);
        }
        HostFacts {
            machine,
            native,
            exe_header,
            compat,
            initial_user_namespace: in_initial_user_namespace(),
            kernel,
        }
    }

    /// The machine interpreters must be built for: binfmtd's own (from the header already read,
    /// falling back to reading `/proc/self/exe` again).
    pub fn machine(
        &self,
    ) -> Result<crate::interpreter::HostMachine, crate::interpreter::InterpreterError> {
        match crate::interpreter::HostMachine::from_header(&self.exe_header) {
            Some(machine) => Ok(machine),
            None => crate::interpreter::HostMachine::current(),
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

    /// Whether registering `matcher` would hijack the host's own executables: it matches
    /// binfmtd's own header or one of its [`elf_magic::header_variants`]. The one guard for
    /// QEMU rows and configured `[[entry]]`s alike.
    pub fn hijacks(&self, matcher: &binfmt_misc::Matcher) -> bool {
        let path = Path::new("/proc/self/exe");
        !self.exe_header.is_empty()
            && elf_magic::header_variants(&self.exe_header)
                .iter()
                .any(|header| matcher.matches(path, header))
    }
}

/// The probe cache's file name inside the install directory.
pub const PROBE_CACHE: &str = "host-probes";

fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Reads `<dir>/host-probes`: a first line with the key, then `target nativity` lines. A missing
/// file, another boot or kernel, or anything unreadable gives an empty map (probe again).
fn read_probe_cache(dir: &Path, key: &str) -> BTreeMap<Target, Nativity> {
    let Ok(text) = std::fs::read_to_string(dir.join(PROBE_CACHE)) else {
        return BTreeMap::new();
    };
    let mut lines = text.lines();
    if key.starts_with(' ') || lines.next() != Some(key) {
        return BTreeMap::new();
    }
    lines
        .filter_map(|line| {
            let (target, state) = line.split_once(' ')?;
            let nativity = match state {
                "native" => Nativity::Native,
                "foreign" => Nativity::Foreign,
                _ => return None,
            };
            Some((target.parse().ok()?, nativity))
        })
        .collect()
}

/// Best effort: a cache that cannot be written only costs a probe next time. Unknown results
/// are not cached (they may be answerable later).
fn write_probe_cache(dir: &Path, key: &str, results: &BTreeMap<Target, Nativity>) {
    if !dir.is_dir() || key.starts_with(' ') {
        return;
    }
    let mut text = format!("{key}\n");
    for (target, nativity) in results {
        match nativity {
            Nativity::Native => text.push_str(&format!("{target} native\n")),
            Nativity::Foreign => text.push_str(&format!("{target} foreign\n")),
            Nativity::Unknown => {}
        }
    }
    let Ok(mut tmp) = tempfile::Builder::new()
        .prefix(".host-probes.")
        .suffix(".tmp")
        .tempfile_in(dir)
    else {
        return;
    };
    if tmp.write_all(text.as_bytes()).is_ok() {
        let _ = tmp.persist(dir.join(PROBE_CACHE));
    }
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
    // /proc/self/exe, not the path: after an upgrade of binfmtd the path may name a new file,
    // or none ("… (deleted)"), while this process runs the old one.
    let status = Command::new("/proc/self/exe")
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
    let Ok(target) = target.parse::<Target>() else {
        return 2;
    };
    let elf = elf_magic::probe_elf(target);
    let Ok(dir) = tempfile::tempdir() else {
        return 2;
    };
    let mount_point = dir.path().join("binfmt_misc");
    if crate::isolate::enter_private_binfmt_misc(&mount_point).is_err() {
        // No private instance (Linux < 6.7, user namespaces disabled): the probe may still run
        // directly, as long as no enabled entry of the instance this process uses could take it.
        return match interceptable(elf) {
            Some(false) => match crate::isolate::run_elf(elf) {
                Ok(true) => 0,
                Ok(false) => 1,
                Err(_) => 2,
            },
            Some(true) | None => 2,
        };
    }
    let result = match crate::isolate::run_elf(elf) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(_) => 2,
    };
    // The private mount would keep the temporary directory from being removed.
    let _ = nix::mount::umount2(&mount_point, nix::mount::MntFlags::MNT_DETACH);
    drop(dir);
    result
}

/// Whether an enabled entry of the binfmt_misc at its standard place could run `elf` (`None`:
/// it cannot be read). Not mounted means no entry is visible; on kernels before 6.7 entries
/// survive an unmount, which would only make the probe look native through an emulator that
/// then keeps serving those binaries anyway.
fn interceptable(elf: &[u8]) -> Option<bool> {
    let root = Path::new(binfmt_misc::DEFAULT_MOUNT);
    let fs = match binfmt_misc::BinfmtMisc::open(root) {
        Ok(fs) => fs,
        Err(e) if e.kind() == binfmt_misc::ErrorKind::NotMounted => return Some(false),
        Err(_) => return None,
    };
    if !fs.is_enabled().ok()? {
        return Some(false);
    }
    let entries = fs.entries().ok()?;
    let path = Path::new("/proc/self/fd/probe");
    Some(
        entries
            .iter()
            .any(|e| e.entry.enabled && e.entry.matcher.matches(path, elf)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_cache_round_trip_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let mut results = BTreeMap::new();
        results.insert(Target::I386, Nativity::Native);
        results.insert(Target::Arm, Nativity::Foreign);
        results.insert(Target::I486, Nativity::Unknown);
        write_probe_cache(dir.path(), "boot-1 6.18", &results);
        let back = read_probe_cache(dir.path(), "boot-1 6.18");
        assert_eq!(back.get(&Target::I386), Some(&Nativity::Native));
        assert_eq!(back.get(&Target::Arm), Some(&Nativity::Foreign));
        assert_eq!(
            back.get(&Target::I486),
            None,
            "unknown results are probed again"
        );
        assert!(
            read_probe_cache(dir.path(), "boot-2 6.18").is_empty(),
            "another boot"
        );
        assert!(
            read_probe_cache(dir.path(), " 6.18").is_empty(),
            "no boot id: no cache"
        );
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
            kernel: binfmt_misc::Features::of("6.18.0"),
        };
        assert_eq!(&facts.exe_header[..4], b"\x7fELF");
        // The host's own row (x86_64 here, or whatever builds this test) must be flagged.
        let hijackers: Vec<_> = elf_magic::TABLE
            .iter()
            .filter(|r| facts.hijacks(&crate::engine::naming::row_matcher(r)))
            .collect();
        assert_eq!(
            hijackers.len(),
            1,
            "exactly the host's own row matches its executables"
        );
    }
}
