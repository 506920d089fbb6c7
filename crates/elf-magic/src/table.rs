//! The magic/mask table itself: QEMU's `scripts/qemu-binfmt-conf.sh` rows, with the local fixes
//! recorded in [`UPSTREAM`] and, per row, in a comment and in [`deviation`].
//!
//! Header bytes the masks look at: 0–3 `\x7fELF`; 4 `EI_CLASS` (1 = 32-bit, 2 = 64-bit); 5
//! `EI_DATA` (1 = little-, 2 = big-endian); 6 `EI_VERSION`; 7 `EI_OSABI`; 8 `EI_ABIVERSION`; 9–15
//! padding; 16–17 `e_type` (2 = EXEC, 3 = DYN: mask `fe` on its low byte accepts both and rejects
//! REL and CORE); 18–19 `e_machine`, both in the file's byte order; 20–23 `e_version`; 36–39
//! `e_flags` of an ELF32 header.
//!
//! **`EI_OSABI`.** Every row keeps QEMU's choice: ignored (mask `00`), except loongarch64's `fc`
//! (0–3). So SYSV (0) and GNU (3) binaries both match, as they must: Debian sid's busybox-static
//! builds carry 3, most other binaries 0. Debian narrows some rows to 0–3; we do not, since the
//! narrower mask would only turn other OS ABIs from "fails in QEMU" into "fails with ENOEXEC".

use crate::row::Row;
use crate::target::Target;

/// Which upstream table this one follows, and what it changes.
pub const UPSTREAM: &str = "QEMU 10.2 scripts/qemu-binfmt-conf.sh (its magic/mask lines are \
    byte-identical since QEMU 7.2), with local fixes: the microblaze row spells e_type \
    big-endian (00 02, mask ff fe) so that it matches real big-endian files, as Debian's table \
    does; two extra rows, microblaze-em189 and microblazeel-em189, match EM_MICROBLAZE 189, which \
    current toolchains emit and QEMU's loader accepts. Unchanged on purpose: the mips rows are \
    upstream's (EI_ABIVERSION ignored, so glibc's ld.so with EI_ABIVERSION 5 matches; the 40-byte \
    o32/n32 rows tell mips from mipsn32 by EF_MIPS_ABI2), never Debian bookworm's; EI_OSABI stays \
    ignored as upstream; ppc64le keeps upstream's quirk of not comparing e_machine's high byte.";

/// Little-endian ELF: `\x7fELF`, class, data, version exact, OSABI ignored, ABI version and
/// padding exact, e_type EXEC or DYN, e_machine exact (QEMU's usual mask).
const MASK_LE: &[u8] =
    b"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff";
/// Big-endian ELF: as [`MASK_LE`] with the e_type mask on byte 17, the low byte in MSB order.
const MASK_BE: &[u8] =
    b"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff";
/// QEMU's x86 and alpha mask: like [`MASK_LE`] but `EI_DATA` and `EI_VERSION` masked with `fe`,
/// so 0 (none/invalid) is accepted besides 1.
const MASK_X86: &[u8] =
    b"\xff\xff\xff\xff\xff\xfe\xfe\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff";
/// m68k: like [`MASK_BE`] but `EI_VERSION` masked with `fe`.
const MASK_M68K: &[u8] =
    b"\xff\xff\xff\xff\xff\xff\xfe\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff";
/// Big-endian 64-bit MIPS: like [`MASK_BE`] but `EI_ABIVERSION` ignored.
const MASK_MIPS64_BE: &[u8] =
    b"\xff\xff\xff\xff\xff\xff\xff\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff";
/// Little-endian 64-bit MIPS: like [`MASK_LE`] but `EI_ABIVERSION` ignored.
const MASK_MIPS64_LE: &[u8] =
    b"\xff\xff\xff\xff\xff\xff\xff\x00\x00\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff";
/// Big-endian 32-bit MIPS (40 bytes): `EI_ABIVERSION` ignored, e_version (20–23) must be 1 and
/// only `EF_MIPS_ABI2` (0x20, in byte 39) of e_flags is compared.
const MASK_MIPS32_BE: &[u8] = b"\xff\xff\xff\xff\xff\xff\xff\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x20";
/// Little-endian 32-bit MIPS (40 bytes): as [`MASK_MIPS32_BE`], `EF_MIPS_ABI2` in byte 36.
const MASK_MIPS32_LE: &[u8] = b"\xff\xff\xff\xff\xff\xff\xff\x00\x00\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff\xff\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x20\x00\x00\x00";

/// Shorthand for a row at offset 0.
const fn row(target: Target, id: &'static str, magic: &'static [u8], mask: &'static [u8]) -> Row {
    Row {
        target,
        id,
        offset: 0,
        magic,
        mask,
    }
}

/// Every row, in QEMU's order; the em189 rows follow their target's primary row. Rows never
/// overlap (checked by tests), so at most one matches any file.
#[rustfmt::skip]
pub static TABLE: &[Row] = &[
    // ELF32 LSB EM_386 (3). Upstream.
    row(Target::I386, "i386", b"\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x03\x00", MASK_X86),
    // ELF32 LSB EM_486 (6, today's EM_IAMCU), run by qemu-i386. Upstream.
    row(Target::I486, "i486", b"\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x06\x00", MASK_X86),
    // ELF64 LSB EM_ALPHA (0x9026, Linux's unofficial number). Upstream.
    row(Target::Alpha, "alpha", b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x26\x90", MASK_X86),
    // ELF32 LSB EM_ARM (40); armel and armhf alike (e_flags not compared). Upstream.
    row(Target::Arm, "arm", b"\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x28\x00", MASK_LE),
    // ELF32 MSB EM_ARM (40): BE8 and BE32. Upstream.
    row(Target::Armeb, "armeb", b"\x7fELF\x01\x02\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x28", MASK_BE),
    // ELF32 MSB EM_SPARC (2). Upstream.
    row(Target::Sparc, "sparc", b"\x7fELF\x01\x02\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x02", MASK_BE),
    // ELF32 MSB EM_SPARC32PLUS (18), V8+. Upstream.
    row(Target::Sparc32plus, "sparc32plus", b"\x7fELF\x01\x02\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x12", MASK_BE),
    // ELF64 MSB EM_SPARCV9 (43). Upstream.
    row(Target::Sparc64, "sparc64", b"\x7fELF\x02\x02\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x2b", MASK_BE),
    // ELF32 MSB EM_PPC (20). Upstream.
    row(Target::Ppc, "ppc", b"\x7fELF\x01\x02\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x14", MASK_BE),
    // ELF64 MSB EM_PPC64 (21); ELFv1 and ELFv2 alike. Upstream.
    row(Target::Ppc64, "ppc64", b"\x7fELF\x02\x02\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x15", MASK_BE),
    // ELF64 LSB EM_PPC64 (21). Upstream, including its quirk: the high byte of e_machine (byte
    // 19) is not compared. Harmless (no other ELF64 LSB row has low byte 0x15), and keeping it
    // lets entries registered by QEMU's script or Debian compare equal to ours.
    row(Target::Ppc64le, "ppc64le", b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x15\x00",
        b"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\x00"),
    // ELF32 MSB EM_68K (4); EI_VERSION 0 or 1. Upstream.
    row(Target::M68k, "m68k", b"\x7fELF\x01\x02\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x04", MASK_M68K),
    // ELF32 MSB EM_MIPS (8), e_version 1, EF_MIPS_ABI2 clear (o32); EI_ABIVERSION ignored (glibc's
    // ld.so has 5). Upstream (not Debian bookworm's, whose `fe` mask on EI_ABIVERSION rejects it).
    row(Target::Mips, "mips", b"\x7fELF\x01\x02\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x08\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", MASK_MIPS32_BE),
    // ELF32 LSB EM_MIPS (8), o32. Upstream.
    row(Target::Mipsel, "mipsel", b"\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x08\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", MASK_MIPS32_LE),
    // ELF32 MSB EM_MIPS (8), EF_MIPS_ABI2 set (n32). Upstream.
    row(Target::Mipsn32, "mipsn32", b"\x7fELF\x01\x02\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x08\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x20", MASK_MIPS32_BE),
    // ELF32 LSB EM_MIPS (8), n32. Upstream.
    row(Target::Mipsn32el, "mipsn32el", b"\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x08\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x20\x00\x00\x00", MASK_MIPS32_LE),
    // ELF64 MSB EM_MIPS (8), n64; EI_ABIVERSION ignored. Upstream.
    row(Target::Mips64, "mips64", b"\x7fELF\x02\x02\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x08", MASK_MIPS64_BE),
    // ELF64 LSB EM_MIPS (8), n64. Upstream.
    row(Target::Mips64el, "mips64el", b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x08\x00", MASK_MIPS64_LE),
    // ELF32 LSB EM_SH (42). Upstream.
    row(Target::Sh4, "sh4", b"\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x2a\x00", MASK_LE),
    // ELF32 MSB EM_SH (42). Upstream.
    row(Target::Sh4eb, "sh4eb", b"\x7fELF\x01\x02\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x2a", MASK_BE),
    // ELF64 MSB EM_S390 (22). Upstream.
    row(Target::S390x, "s390x", b"\x7fELF\x02\x02\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x16", MASK_BE),
    // ELF64 LSB EM_AARCH64 (183). Upstream.
    row(Target::Aarch64, "aarch64", b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00", MASK_LE),
    // ELF64 MSB EM_AARCH64 (183). Upstream.
    row(Target::Aarch64Be, "aarch64_be", b"\x7fELF\x02\x02\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7", MASK_BE),
    // ELF32 MSB EM_PARISC (15). Upstream.
    row(Target::Hppa, "hppa", b"\x7fELF\x01\x02\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x0f", MASK_BE),
    // ELF32 LSB EM_RISCV (243); riscv64 differs only in EI_CLASS. Upstream.
    row(Target::Riscv32, "riscv32", b"\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xf3\x00", MASK_LE),
    // ELF64 LSB EM_RISCV (243). Upstream.
    row(Target::Riscv64, "riscv64", b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xf3\x00", MASK_LE),
    // ELF32 LSB EM_XTENSA (94). Upstream.
    row(Target::Xtensa, "xtensa", b"\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x5e\x00", MASK_LE),
    // ELF32 MSB EM_XTENSA (94). Upstream.
    row(Target::Xtensaeb, "xtensaeb", b"\x7fELF\x01\x02\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x5e", MASK_BE),
    // ELF32 MSB EM_MICROBLAZE_OLD (0xbaab). FIXED: upstream writes e_type little-endian (`02 00`,
    // mask `fe ff`), which no big-endian file has, so its row never matches; this is Debian's fix.
    row(Target::Microblaze, "microblaze", b"\x7fELF\x01\x02\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\xba\xab", MASK_BE),
    // ELF32 MSB EM_MICROBLAZE (189). ADDED: current toolchains emit 189, which QEMU's loader
    // accepts (`EM_MICROBLAZE || EM_MICROBLAZE_OLD`) but no upstream row matches.
    row(Target::Microblaze, "microblaze-em189", b"\x7fELF\x01\x02\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xbd", MASK_BE),
    // ELF32 LSB EM_MICROBLAZE_OLD (0xbaab). Upstream.
    row(Target::Microblazeel, "microblazeel", b"\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xab\xba", MASK_LE),
    // ELF32 LSB EM_MICROBLAZE (189). ADDED, as microblaze-em189.
    row(Target::Microblazeel, "microblazeel-em189", b"\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xbd\x00", MASK_LE),
    // ELF32 MSB EM_OPENRISC (92). Upstream.
    row(Target::Or1k, "or1k", b"\x7fELF\x01\x02\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x5c", MASK_BE),
    // ELF64 LSB EM_X86_64 (62); x32 (ELF32 + EM_X86_64) matches nothing. Upstream.
    row(Target::X86_64, "x86_64", b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00", MASK_X86),
    // ELF32 LSB EM_QDSP6 (164). Upstream.
    row(Target::Hexagon, "hexagon", b"\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xa4\x00", MASK_LE),
    // ELF64 LSB EM_LOONGARCH (258 = 0x0102); OSABI 0-3 (mask fc), EI_ABIVERSION ignored. Upstream.
    row(Target::Loongarch64, "loongarch64", b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x02\x01",
        b"\xff\xff\xff\xff\xff\xff\xff\xfc\x00\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff"),
];

/// What the row `id` changes relative to [`UPSTREAM`]'s QEMU table; `None` for upstream rows.
pub(crate) fn deviation(id: &str) -> Option<&'static str> {
    match id {
        "microblaze" => Some(
            "e_type compared big-endian (00 02, mask ff fe) instead of upstream's little-endian \
             spelling, which no big-endian file matches (Debian's fix)",
        ),
        "microblaze-em189" | "microblazeel-em189" => Some(
            "not upstream: matches EM_MICROBLAZE 189, emitted by current toolchains and accepted \
             by QEMU's loader",
        ),
        _ => None,
    }
}
