//! The QEMU linux-user targets: one [`Target`] per emulator row of QEMU's binfmt table, with the
//! facts about each that do not depend on naming (interpreter, word size, byte order, table rows).
//!
//! The names people use for a target (Debian, OCI, `uname -m`) live in `aliases.rs`; parsing them
//! lives in `parse.rs`.

use std::fmt;

use crate::row::{Row, TABLE};

/// A QEMU linux-user target, i.e. one emulator that binfmt_misc can hand foreign ELF files to.
///
/// The variant order is the API contract's; [`Target::ALL`] lists them in QEMU's script order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// 32-bit x86 (`EM_386`).
    I386,
    /// 32-bit x86 binaries tagged `EM_486` (rare); run by `qemu-i386`.
    I486,
    /// 64-bit x86 (`EM_X86_64`, ELF64 only; x32 is not a QEMU target).
    X86_64,
    /// DEC Alpha (Linux's unofficial `EM_ALPHA` 0x9026).
    Alpha,
    /// 32-bit ARM, little-endian (armel, armhf).
    Arm,
    /// 32-bit ARM, big-endian header (BE8 and BE32).
    Armeb,
    /// 32-bit SPARC V8 (`EM_SPARC`).
    Sparc,
    /// 32-bit SPARC V8+ (`EM_SPARC32PLUS`), the 32-bit ABI on 64-bit SPARC CPUs.
    Sparc32plus,
    /// 64-bit SPARC V9 (`EM_SPARCV9`).
    Sparc64,
    /// 32-bit PowerPC, big-endian.
    Ppc,
    /// 64-bit PowerPC, big-endian.
    Ppc64,
    /// 64-bit PowerPC, little-endian.
    Ppc64le,
    /// Motorola 68000 family.
    M68k,
    /// MIPS o32, big-endian.
    Mips,
    /// MIPS o32, little-endian.
    Mipsel,
    /// MIPS n32 (`EF_MIPS_ABI2`), big-endian.
    Mipsn32,
    /// MIPS n32 (`EF_MIPS_ABI2`), little-endian.
    Mipsn32el,
    /// MIPS n64, big-endian.
    Mips64,
    /// MIPS n64, little-endian.
    Mips64el,
    /// SuperH SH-4, little-endian.
    Sh4,
    /// SuperH SH-4, big-endian.
    Sh4eb,
    /// IBM z/Architecture (64-bit s390).
    S390x,
    /// 64-bit ARM, little-endian.
    Aarch64,
    /// 64-bit ARM, big-endian.
    Aarch64Be,
    /// HP PA-RISC (32-bit userland).
    Hppa,
    /// 32-bit RISC-V.
    Riscv32,
    /// 64-bit RISC-V.
    Riscv64,
    /// Tensilica Xtensa, little-endian.
    Xtensa,
    /// Tensilica Xtensa, big-endian.
    Xtensaeb,
    /// Xilinx MicroBlaze, big-endian.
    Microblaze,
    /// Xilinx MicroBlaze, little-endian.
    Microblazeel,
    /// OpenRISC 1000.
    Or1k,
    /// Qualcomm Hexagon (`EM_QDSP6`).
    Hexagon,
    /// 64-bit LoongArch.
    Loongarch64,
}

impl Target {
    /// Every target, in the order of QEMU's `scripts/qemu-binfmt-conf.sh` target list.
    pub const ALL: [Target; 34] = [
        Target::I386,
        Target::I486,
        Target::Alpha,
        Target::Arm,
        Target::Armeb,
        Target::Sparc,
        Target::Sparc32plus,
        Target::Sparc64,
        Target::Ppc,
        Target::Ppc64,
        Target::Ppc64le,
        Target::M68k,
        Target::Mips,
        Target::Mipsel,
        Target::Mipsn32,
        Target::Mipsn32el,
        Target::Mips64,
        Target::Mips64el,
        Target::Sh4,
        Target::Sh4eb,
        Target::S390x,
        Target::Aarch64,
        Target::Aarch64Be,
        Target::Hppa,
        Target::Riscv32,
        Target::Riscv64,
        Target::Xtensa,
        Target::Xtensaeb,
        Target::Microblaze,
        Target::Microblazeel,
        Target::Or1k,
        Target::X86_64,
        Target::Hexagon,
        Target::Loongarch64,
    ];

    /// QEMU's name for the target (`aarch64`, `aarch64_be`, `i486`), as in `qemu-<name>`.
    pub fn name(self) -> &'static str {
        match self {
            Target::I386 => "i386",
            Target::I486 => "i486",
            Target::X86_64 => "x86_64",
            Target::Alpha => "alpha",
            Target::Arm => "arm",
            Target::Armeb => "armeb",
            Target::Sparc => "sparc",
            Target::Sparc32plus => "sparc32plus",
            Target::Sparc64 => "sparc64",
            Target::Ppc => "ppc",
            Target::Ppc64 => "ppc64",
            Target::Ppc64le => "ppc64le",
            Target::M68k => "m68k",
            Target::Mips => "mips",
            Target::Mipsel => "mipsel",
            Target::Mipsn32 => "mipsn32",
            Target::Mipsn32el => "mipsn32el",
            Target::Mips64 => "mips64",
            Target::Mips64el => "mips64el",
            Target::Sh4 => "sh4",
            Target::Sh4eb => "sh4eb",
            Target::S390x => "s390x",
            Target::Aarch64 => "aarch64",
            Target::Aarch64Be => "aarch64_be",
            Target::Hppa => "hppa",
            Target::Riscv32 => "riscv32",
            Target::Riscv64 => "riscv64",
            Target::Xtensa => "xtensa",
            Target::Xtensaeb => "xtensaeb",
            Target::Microblaze => "microblaze",
            Target::Microblazeel => "microblazeel",
            Target::Or1k => "or1k",
            Target::Hexagon => "hexagon",
            Target::Loongarch64 => "loongarch64",
        }
    }

    /// The QEMU linux-user binary that runs this target, without directory or `-static` suffix:
    /// `qemu-<name>`, except that [`Target::I486`] is run by `qemu-i386`.
    pub fn qemu_binary(self) -> &'static str {
        match self {
            Target::I386 | Target::I486 => "qemu-i386",
            Target::X86_64 => "qemu-x86_64",
            Target::Alpha => "qemu-alpha",
            Target::Arm => "qemu-arm",
            Target::Armeb => "qemu-armeb",
            Target::Sparc => "qemu-sparc",
            Target::Sparc32plus => "qemu-sparc32plus",
            Target::Sparc64 => "qemu-sparc64",
            Target::Ppc => "qemu-ppc",
            Target::Ppc64 => "qemu-ppc64",
            Target::Ppc64le => "qemu-ppc64le",
            Target::M68k => "qemu-m68k",
            Target::Mips => "qemu-mips",
            Target::Mipsel => "qemu-mipsel",
            Target::Mipsn32 => "qemu-mipsn32",
            Target::Mipsn32el => "qemu-mipsn32el",
            Target::Mips64 => "qemu-mips64",
            Target::Mips64el => "qemu-mips64el",
            Target::Sh4 => "qemu-sh4",
            Target::Sh4eb => "qemu-sh4eb",
            Target::S390x => "qemu-s390x",
            Target::Aarch64 => "qemu-aarch64",
            Target::Aarch64Be => "qemu-aarch64_be",
            Target::Hppa => "qemu-hppa",
            Target::Riscv32 => "qemu-riscv32",
            Target::Riscv64 => "qemu-riscv64",
            Target::Xtensa => "qemu-xtensa",
            Target::Xtensaeb => "qemu-xtensaeb",
            Target::Microblaze => "qemu-microblaze",
            Target::Microblazeel => "qemu-microblazeel",
            Target::Or1k => "qemu-or1k",
            Target::Hexagon => "qemu-hexagon",
            Target::Loongarch64 => "qemu-loongarch64",
        }
    }

    /// True when the target's ELF files are big-endian (`EI_DATA` = `ELFDATA2MSB`).
    pub fn is_big_endian(self) -> bool {
        matches!(
            self,
            Target::Armeb
                | Target::Sparc
                | Target::Sparc32plus
                | Target::Sparc64
                | Target::Ppc
                | Target::Ppc64
                | Target::M68k
                | Target::Mips
                | Target::Mipsn32
                | Target::Mips64
                | Target::Sh4eb
                | Target::S390x
                | Target::Aarch64Be
                | Target::Hppa
                | Target::Xtensaeb
                | Target::Microblaze
                | Target::Or1k
        )
    }

    /// The ELF class of the target's files in bits: 64 for `ELFCLASS64`, else 32.
    ///
    /// MIPS n32 and SPARC V8+ are 32: their files are ELF32 even though the CPU is 64-bit.
    pub fn bits(self) -> u8 {
        match self {
            Target::X86_64
            | Target::Alpha
            | Target::Sparc64
            | Target::Ppc64
            | Target::Ppc64le
            | Target::Mips64
            | Target::Mips64el
            | Target::S390x
            | Target::Aarch64
            | Target::Aarch64Be
            | Target::Riscv64
            | Target::Loongarch64 => 64,
            _ => 32,
        }
    }

    /// The rows of [`TABLE`] that send files to this target: one, or two for the microblaze
    /// targets (the old `EM_MICROBLAZE_OLD` 0xbaab and the current `EM_MICROBLAZE` 189).
    pub fn rows(self) -> impl Iterator<Item = &'static Row> {
        TABLE.iter().filter(move |row| row.target == self)
    }

    /// The target's primary row, the one whose `id` is [`Target::name`].
    pub fn primary_row(self) -> &'static Row {
        let name = self.name();
        // A unit test checks that every target has a row with its name; the fallbacks only keep
        // this function total.
        self.rows()
            .find(|row| row.id == name)
            .or_else(|| self.rows().next())
            .unwrap_or(&TABLE[0])
    }
}

impl fmt::Display for Target {
    /// Writes [`Target::name`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
