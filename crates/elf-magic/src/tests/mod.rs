//! Unit tests of the table, the names and the host policy, with a header synthesizer that knows
//! nothing about the table: it builds headers from each target's ELF facts and goblin's
//! `EM_*` constants, so a wrong row cannot agree with itself.

mod host;
mod names;
mod overlap;
mod probes;
mod upstream;
mod vectors;

use goblin::elf::header as gh;

use crate::Target;

/// Linux's `EM_ALPHA`: goblin only knows the official `EM_FAKE_ALPHA` (41), which Linux never used.
const EM_ALPHA_LINUX: u16 = 0x9026;
/// `EM_MICROBLAZE_OLD`, the pre-189 number that QEMU's rows and old toolchains use.
const EM_MICROBLAZE_OLD: u16 = 0xbaab;

/// Every `e_machine` a real file for `target` can carry, the main one first.
pub(crate) fn machines(target: Target) -> Vec<u16> {
    match target {
        Target::I386 => vec![gh::EM_386],
        // EM_486 (6) was renumbered EM_IAMCU; Linux still accepts it as i386.
        Target::I486 => vec![gh::EM_IAMCU],
        Target::X86_64 => vec![gh::EM_X86_64],
        Target::Alpha => vec![EM_ALPHA_LINUX],
        Target::Arm | Target::Armeb => vec![gh::EM_ARM],
        Target::Sparc => vec![gh::EM_SPARC],
        Target::Sparc32plus => vec![gh::EM_SPARC32PLUS],
        Target::Sparc64 => vec![gh::EM_SPARCV9],
        Target::Ppc => vec![gh::EM_PPC],
        Target::Ppc64 | Target::Ppc64le => vec![gh::EM_PPC64],
        Target::M68k => vec![gh::EM_68K],
        Target::Mips
        | Target::Mipsel
        | Target::Mipsn32
        | Target::Mipsn32el
        | Target::Mips64
        | Target::Mips64el => vec![gh::EM_MIPS],
        Target::Sh4 | Target::Sh4eb => vec![gh::EM_SH],
        Target::S390x => vec![gh::EM_S390],
        Target::Aarch64 | Target::Aarch64Be => vec![gh::EM_AARCH64],
        Target::Hppa => vec![gh::EM_PARISC],
        Target::Riscv32 | Target::Riscv64 => vec![gh::EM_RISCV],
        Target::Xtensa | Target::Xtensaeb => vec![gh::EM_XTENSA],
        Target::Microblaze | Target::Microblazeel => {
            vec![EM_MICROBLAZE_OLD, gh::EM_MICROBLAZE]
        }
        Target::Or1k => vec![gh::EM_OPENRISC],
        Target::Hexagon => vec![gh::EM_QDSP6],
        Target::Loongarch64 => vec![gh::EM_LOONGARCH],
    }
}

/// Realistic `e_flags` for `target` (what Debian's toolchains emit).
pub(crate) fn flags(target: Target) -> u32 {
    match target {
        Target::Arm | Target::Armeb => 0x0500_0400, // EABI5, hard float
        Target::Mips | Target::Mipsel => 0x7000_1007, // mips32r2, o32, pic, cpic, noreorder
        Target::Mipsn32 | Target::Mipsn32el => 0x8000_0027, // mips64r2, ABI2, pic, cpic, noreorder
        Target::Mips64 | Target::Mips64el => 0x8000_0007, // mips64r2, pic, cpic, noreorder
        Target::Sparc32plus => 0x0000_0100,         // EF_SPARC_32PLUS
        Target::Ppc64 => 1,                         // ELFv1
        Target::Ppc64le => 2,                       // ELFv2
        Target::Riscv64 | Target::Loongarch64 => 0x5, // double-float ABI, RVC / LP64D
        _ => 0,
    }
}

/// What a synthetic header looks like.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spec {
    pub(crate) class64: bool,
    pub(crate) big: bool,
    pub(crate) e_type: u16,
    pub(crate) machine: u16,
    pub(crate) osabi: u8,
    pub(crate) abiversion: u8,
    pub(crate) flags: u32,
}

impl Spec {
    /// An `ET_EXEC`, OSABI 0 header for `target` with its main `e_machine`.
    pub(crate) fn of(target: Target) -> Spec {
        Spec {
            class64: target.bits() == 64,
            big: target.is_big_endian(),
            e_type: 2,
            machine: machines(target)[0],
            osabi: 0,
            abiversion: 0,
            flags: flags(target),
        }
    }

    /// The first 64 bytes of an ELF file with this spec (plausible values elsewhere).
    pub(crate) fn header(self) -> Vec<u8> {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = if self.class64 { 2 } else { 1 };
        h[5] = if self.big { 2 } else { 1 };
        h[6] = 1;
        h[7] = self.osabi;
        h[8] = self.abiversion;
        let put = |h: &mut Vec<u8>, at: usize, bytes: &[u8]| {
            let mut bytes = bytes.to_vec();
            if !self.big {
                bytes.reverse();
            }
            h[at..at + bytes.len()].copy_from_slice(&bytes);
        };
        put(&mut h, 16, &self.e_type.to_be_bytes());
        put(&mut h, 18, &self.machine.to_be_bytes());
        put(&mut h, 20, &1u32.to_be_bytes());
        if self.class64 {
            put(&mut h, 24, &0x0000_0000_0040_1234u64.to_be_bytes()); // e_entry
            put(&mut h, 32, &64u64.to_be_bytes()); // e_phoff
            put(&mut h, 48, &self.flags.to_be_bytes());
            put(&mut h, 52, &64u16.to_be_bytes());
            put(&mut h, 54, &56u16.to_be_bytes());
        } else {
            put(&mut h, 24, &0x0040_1234u32.to_be_bytes()); // e_entry
            put(&mut h, 28, &52u32.to_be_bytes()); // e_phoff
            put(&mut h, 36, &self.flags.to_be_bytes());
            put(&mut h, 40, &52u16.to_be_bytes());
            put(&mut h, 42, &32u16.to_be_bytes());
        }
        h
    }
}
