//! Pure policy about the host: what it is, what it may run without an emulator, how to find out,
//! and which rows must never be registered on it. The binary does the probing (it writes a probe
//! from [`probe_elf`] to a file and executes it) and the I/O.

use crate::probe;
use crate::target::Target;

/// The target a native kernel reporting `uname_machine` (`uname -m`) runs: `x86_64` is
/// [`Target::X86_64`], `i686` is [`Target::I386`], `armv7l` is [`Target::Arm`], `aarch64` is
/// [`Target::Aarch64`]; `None` for a machine no target covers.
///
/// Where byte order does not show in the name (`mips`, `mips64`, `xtensa`, `microblaze`) this
/// returns the target with that QEMU name (big-endian, except xtensa); prefer
/// [`native_target_with_endianness`] with the byte order the binary was built for, or better,
/// [`crate::detect()`] on the host's own executable header, which is exact.
pub fn native_target(uname_machine: &str) -> Option<Target> {
    let machine = uname_machine.trim().to_ascii_lowercase();
    pick(candidates(&machine), &machine)
}

/// Like [`native_target`], but only among targets of the given byte order
/// (`cfg!(target_endian = "big")` in the binary): `mips64` little-endian is
/// [`Target::Mips64el`]. `None` if no target of that byte order prints `uname_machine`.
pub fn native_target_with_endianness(uname_machine: &str, big_endian: bool) -> Option<Target> {
    let machine = uname_machine.trim().to_ascii_lowercase();
    pick(
        candidates(&machine).filter(|t| t.is_big_endian() == big_endian),
        &machine,
    )
}

/// Targets whose `uname -m` list has `machine` (already lowercase).
fn candidates(machine: &str) -> impl Iterator<Item = Target> + '_ {
    Target::ALL
        .into_iter()
        .filter(move |t| t.uname_machines().contains(&machine))
}

/// Among targets that print the same `uname -m`: the one whose QEMU name it is, else the widest
/// (a 64-bit kernel prints its own name to 32-bit processes too), else the first in QEMU order.
fn pick(candidates: impl Iterator<Item = Target>, machine: &str) -> Option<Target> {
    let all: Vec<Target> = candidates.collect();
    if let Some(named) = all.iter().copied().find(|t| t.name() == machine) {
        return Some(named);
    }
    let widest = all.iter().map(|t| t.bits()).max()?;
    all.into_iter().find(|t| t.bits() == widest)
}

/// Targets a CPU running `native` *may* also run without an emulator, so each must be probed
/// (with [`probe_elf`]) before its emulator is registered; empty when none can.
///
/// - [`Target::X86_64`]: [`Target::I386`] and [`Target::I486`] (Linux accepts `EM_486` as
///   i386), but only if the kernel has IA32 emulation, which can be compiled out or disabled
///   (`ia32_emulation=0`).
/// - [`Target::I386`]: [`Target::I486`] (the same check accepts `EM_486`).
/// - [`Target::Aarch64`]: [`Target::Arm`], only if the CPU implements AArch32 at EL0 (many
///   current cores do not) and the kernel has `CONFIG_COMPAT`. [`Target::Aarch64Be`]:
///   [`Target::Armeb`] likewise; compat tasks always share the kernel's byte order.
/// - [`Target::Ppc64`]: [`Target::Ppc`] (`CONFIG_COMPAT`). [`Target::Ppc64le`]: none, there is
///   no 32-bit little-endian PowerPC target.
/// - [`Target::Sparc64`]: [`Target::Sparc`] and [`Target::Sparc32plus`] (`CONFIG_COMPAT`).
///   [`Target::Sparc`]: [`Target::Sparc32plus`], when the 32-bit kernel runs on a V9 CPU.
/// - [`Target::Mips64`] / [`Target::Mips64el`]: the o32 and n32 targets of the same byte order
///   (`CONFIG_MIPS32_O32`, `CONFIG_MIPS32_N32`).
/// - [`Target::S390x`], [`Target::Riscv64`], [`Target::Loongarch64`] and every 32-bit or
///   single-ABI target: none. s390 (31-bit) and loongarch32 are not QEMU linux-user targets, and
///   no riscv64 kernel runs riscv32 binaries (`COMPAT` for rv32 is not in mainline defconfigs
///   and no distribution enables it).
pub fn compat_candidates(native: Target) -> &'static [Target] {
    match native {
        Target::X86_64 => &[Target::I386, Target::I486],
        Target::I386 => &[Target::I486],
        Target::Aarch64 => &[Target::Arm],
        Target::Aarch64Be => &[Target::Armeb],
        Target::Ppc64 => &[Target::Ppc],
        Target::Sparc64 => &[Target::Sparc, Target::Sparc32plus],
        Target::Sparc => &[Target::Sparc32plus],
        Target::Mips64 => &[Target::Mips, Target::Mipsn32],
        Target::Mips64el => &[Target::Mipsel, Target::Mipsn32el],
        _ => &[],
    }
}

/// A tiny, complete, static ELF executable for `target` that calls `exit(0)` and nothing else:
/// run it, and exit status 0 means this host runs `target`'s binaries, natively or through the
/// binfmt_misc entry that matches it.
///
/// Every target has one: its ELF class, byte order, `e_machine` and `e_flags` make
/// [`crate::detect()`] name exactly `target`, and its code uses the target's Linux syscall
/// convention (each is run under its QEMU by the tests).
pub fn probe_elf(target: Target) -> &'static [u8] {
    match target {
        Target::I386 => &probe::I386,
        Target::I486 => &probe::I486,
        Target::X86_64 => &probe::X86_64,
        Target::Alpha => &probe::ALPHA,
        Target::Arm => &probe::ARM,
        Target::Armeb => &probe::ARMEB,
        Target::Sparc => &probe::SPARC,
        Target::Sparc32plus => &probe::SPARC32PLUS,
        Target::Sparc64 => &probe::SPARC64,
        Target::Ppc => &probe::PPC,
        Target::Ppc64 => &probe::PPC64,
        Target::Ppc64le => &probe::PPC64LE,
        Target::M68k => &probe::M68K,
        Target::Mips => &probe::MIPS,
        Target::Mipsel => &probe::MIPSEL,
        Target::Mipsn32 => &probe::MIPSN32,
        Target::Mipsn32el => &probe::MIPSN32EL,
        Target::Mips64 => &probe::MIPS64,
        Target::Mips64el => &probe::MIPS64EL,
        Target::Sh4 => &probe::SH4,
        Target::Sh4eb => &probe::SH4EB,
        Target::S390x => &probe::S390X,
        Target::Aarch64 => &probe::AARCH64,
        Target::Aarch64Be => &probe::AARCH64_BE,
        Target::Hppa => &probe::HPPA,
        Target::Riscv32 => &probe::RISCV32,
        Target::Riscv64 => &probe::RISCV64,
        Target::Xtensa => &probe::XTENSA,
        Target::Xtensaeb => &probe::XTENSAEB,
        Target::Microblaze => &probe::MICROBLAZE,
        Target::Microblazeel => &probe::MICROBLAZEEL,
        Target::Or1k => &probe::OR1K,
        Target::Hexagon => &probe::HEXAGON,
        Target::Loongarch64 => &probe::LOONGARCH64,
    }
}

/// The headers the host's own executables may have, given the header of one of them (e.g. the
/// first 256 bytes of `/proc/self/exe`): `header` itself plus, for an ELF header, its
/// `ET_EXEC`/`ET_DYN` × `EI_OSABI` 0 (SYSV) / 3 (GNU) variants, since native executables differ
/// from the sample in ways the sample cannot show.
///
/// A rule matching any of them must never be registered: it would send every native exec, the
/// interpreter's included, to the interpreter (ELOOP, an unbootable system).
pub fn header_variants(header: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![header.to_vec()];
    if header.len() < 20 || !header.starts_with(b"\x7fELF") {
        return out;
    }
    let big = header.get(5) == Some(&2);
    for e_type in [2u16, 3] {
        for osabi in [0u8, 3] {
            let mut variant = header.to_vec();
            let bytes = if big {
                e_type.to_be_bytes()
            } else {
                e_type.to_le_bytes()
            };
            variant[16..18].copy_from_slice(&bytes);
            variant[7] = osabi;
            out.push(variant);
        }
    }
    out
}
