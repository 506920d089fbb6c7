//! Tiny, complete, static ELF executables that only call `exit(0)`, one per target, built by
//! hand: ELF header, one `PT_LOAD` program header covering the whole file, and up to 16 bytes of
//! machine code.
//!
//! Layout (both classes): the header at 0, the program header right after it, the code right
//! after that; everything is loaded read+execute at [`BASE`], so the entry point is
//! `BASE + header + program header`. No sections, no interpreter, no stack use.

/// Load address of every probe: 4 MiB, above any `vm.mmap_min_addr` and 64 KiB aligned.
const BASE: u32 = 0x0040_0000;
/// Alignment of the `PT_LOAD` segment: 64 KiB covers every page size (4K, 8K, 16K, 64K).
const ALIGN: u32 = 0x1_0000;
/// Room for machine code; unused bytes stay zero and are never reached.
const CODE: usize = 16;
/// ELF32: 52-byte header + 32-byte program header + code.
const LEN32: usize = 52 + 32 + CODE;
/// ELF64: 64-byte header + 56-byte program header + code.
const LEN64: usize = 64 + 56 + CODE;

/// Writes `value` at `at` in `size` bytes of the chosen byte order.
const fn put(mut out: [u8; LEN64], at: usize, size: usize, value: u64, big: bool) -> [u8; LEN64] {
    let mut i = 0;
    while i < size {
        let shift = if big { 8 * (size - 1 - i) } else { 8 * i };
        out[at + i] = (value >> shift) as u8;
        i += 1;
    }
    out
}

/// The identification bytes `e_ident[0..16]` shared by both classes.
const fn ident(mut out: [u8; LEN64], class64: bool, big: bool) -> [u8; LEN64] {
    out[0] = 0x7f; // EI_MAG0..3: "\x7fELF"
    out[1] = b'E';
    out[2] = b'L';
    out[3] = b'F';
    out[4] = if class64 { 2 } else { 1 }; // EI_CLASS: ELFCLASS64 or ELFCLASS32
    out[5] = if big { 2 } else { 1 }; // EI_DATA: ELFDATA2MSB or ELFDATA2LSB
    out[6] = 1; // EI_VERSION: EV_CURRENT
    out[7] = 0; // EI_OSABI: ELFOSABI_SYSV
    out[8] = 0; // EI_ABIVERSION: 0; bytes 9..16 (EI_PAD) stay 0
    out
}

/// An ELF32 `ET_EXEC` for `machine` with `flags` in `e_flags`, running `code`.
const fn elf32(machine: u16, big: bool, flags: u32, code: [u8; CODE]) -> [u8; LEN32] {
    let mut o = ident([0; LEN64], false, big);
    o = put(o, 16, 2, 2, big); // e_type: ET_EXEC
    o = put(o, 18, 2, machine as u64, big); // e_machine
    o = put(o, 20, 4, 1, big); // e_version: EV_CURRENT
    o = put(o, 24, 4, (BASE + 52 + 32) as u64, big); // e_entry: the code, after both headers
    o = put(o, 28, 4, 52, big); // e_phoff: program headers right after this header
    o = put(o, 32, 4, 0, big); // e_shoff: no section headers
    o = put(o, 36, 4, flags as u64, big); // e_flags: ABI flags (ARM EABI, MIPS ABI, SPARC V8+)
    o = put(o, 40, 2, 52, big); // e_ehsize: 52
    o = put(o, 42, 2, 32, big); // e_phentsize: 32
    o = put(o, 44, 2, 1, big); // e_phnum: one program header
    o = put(o, 46, 2, 0, big); // e_shentsize: no sections (e_shnum and e_shstrndx stay 0)
    o = put(o, 52, 4, 1, big); // p_type: PT_LOAD
    o = put(o, 56, 4, 0, big); // p_offset: from the start of the file
    o = put(o, 60, 4, BASE as u64, big); // p_vaddr
    o = put(o, 64, 4, BASE as u64, big); // p_paddr (unused by Linux)
    o = put(o, 68, 4, LEN32 as u64, big); // p_filesz: the whole file
    o = put(o, 72, 4, LEN32 as u64, big); // p_memsz: the same, no bss
    o = put(o, 76, 4, 5, big); // p_flags: PF_R | PF_X
    o = put(o, 80, 4, ALIGN as u64, big); // p_align
    let mut out = [0u8; LEN32];
    let mut i = 0;
    while i < 84 {
        out[i] = o[i];
        i += 1;
    }
    while i < LEN32 {
        out[i] = code[i - 84]; // the machine code
        i += 1;
    }
    out
}

/// An ELF64 `ET_EXEC` for `machine` with `flags` in `e_flags`, running `code`.
const fn elf64(machine: u16, big: bool, flags: u32, code: [u8; CODE]) -> [u8; LEN64] {
    let mut o = ident([0; LEN64], true, big);
    o = put(o, 16, 2, 2, big); // e_type: ET_EXEC
    o = put(o, 18, 2, machine as u64, big); // e_machine
    o = put(o, 20, 4, 1, big); // e_version: EV_CURRENT
    o = put(o, 24, 8, (BASE + 64 + 56) as u64, big); // e_entry: the code, after both headers
    o = put(o, 32, 8, 64, big); // e_phoff: program headers right after this header
    o = put(o, 40, 8, 0, big); // e_shoff: no section headers
    o = put(o, 48, 4, flags as u64, big); // e_flags: ABI flags (MIPS ISA, PowerPC ELFv2)
    o = put(o, 52, 2, 64, big); // e_ehsize: 64
    o = put(o, 54, 2, 56, big); // e_phentsize: 56
    o = put(o, 56, 2, 1, big); // e_phnum: one program header
    o = put(o, 58, 2, 0, big); // e_shentsize: no sections (e_shnum and e_shstrndx stay 0)
    o = put(o, 64, 4, 1, big); // p_type: PT_LOAD
    o = put(o, 68, 4, 5, big); // p_flags: PF_R | PF_X
    o = put(o, 72, 8, 0, big); // p_offset: from the start of the file
    o = put(o, 80, 8, BASE as u64, big); // p_vaddr
    o = put(o, 88, 8, BASE as u64, big); // p_paddr (unused by Linux)
    o = put(o, 96, 8, LEN64 as u64, big); // p_filesz: the whole file
    o = put(o, 104, 8, LEN64 as u64, big); // p_memsz: the same, no bss
    o = put(o, 112, 8, ALIGN as u64, big); // p_align
    let mut i = 120;
    while i < LEN64 {
        o[i] = code[i - 120]; // the machine code
        i += 1;
    }
    o
}

/// Pads machine code to [`CODE`] bytes.
const fn code(bytes: &[u8]) -> [u8; CODE] {
    let mut out = [0u8; CODE];
    let mut i = 0;
    while i < bytes.len() {
        out[i] = bytes[i];
        i += 1;
    }
    out
}

/// 32-bit instruction words, stored in the given byte order and padded to [`CODE`] bytes.
const fn words(words: &[u32], big: bool) -> [u8; CODE] {
    let mut out = [0u8; CODE];
    let mut i = 0;
    while i < words.len() {
        let b = if big {
            words[i].to_be_bytes()
        } else {
            words[i].to_le_bytes()
        };
        out[4 * i] = b[0];
        out[4 * i + 1] = b[1];
        out[4 * i + 2] = b[2];
        out[4 * i + 3] = b[3];
        i += 1;
    }
    out
}

/// 16-bit instruction words (SuperH), stored in the given byte order and padded to [`CODE`] bytes.
const fn halves(halves: &[u16], big: bool) -> [u8; CODE] {
    let mut out = [0u8; CODE];
    let mut i = 0;
    while i < halves.len() {
        let b = if big {
            halves[i].to_be_bytes()
        } else {
            halves[i].to_le_bytes()
        };
        out[2 * i] = b[0];
        out[2 * i + 1] = b[1];
        i += 1;
    }
    out
}

// Machine code, one constant per ISA and syscall convention. Each calls `exit(0)` (`SYS_exit`; the
// process has one thread, so `exit_group` would do the same). Encodings come from GNU as 2.40 of
// Debian bookworm's `binutils-<arch>-linux-gnu` (LLVM 14's `llvm-mc` for hexagon; by hand, from
// the ISA manuals, for loongarch64, microblaze and big-endian xtensa, which neither assembles);
// every probe is run under its QEMU by the tests.

/// x86 (32-bit): `mov eax, 1` (SYS_exit); `xor ebx, ebx` (status 0); `int 0x80`.
const X86_EXIT: [u8; CODE] = code(b"\xb8\x01\x00\x00\x00\x31\xdb\xcd\x80");
/// x86-64: `mov eax, 60` (SYS_exit); `xor edi, edi`; `syscall`.
const X86_64_EXIT: [u8; CODE] = code(b"\xb8\x3c\x00\x00\x00\x31\xff\x0f\x05");
/// ARM (A32): `mov r7, #1` (SYS_exit); `mov r0, #0`; `svc 0`.
const ARM_EXIT: [u32; 3] = [0xe3a0_7001, 0xe3a0_0000, 0xef00_0000];
/// AArch64 (always little-endian code): `mov x8, #93` (SYS_exit); `mov x0, #0`; `svc #0`.
const AARCH64_EXIT: [u32; 3] = [0xd280_0ba8, 0xd280_0000, 0xd400_0001];
/// PowerPC: `li r0, 1` (SYS_exit); `li r3, 0`; `sc`.
const PPC_EXIT: [u32; 3] = [0x3800_0001, 0x3860_0000, 0x4400_0002];
/// SPARC (32-bit ABI, also V8+): `mov 1, %g1` (SYS_exit); `mov 0, %o0`; `ta 0x10`.
const SPARC_EXIT: [u32; 3] = [0x8210_2001, 0x9010_2000, 0x91d0_2010];
/// SPARC64: `mov 1, %g1` (SYS_exit); `mov 0, %o0`; `ta 0x6d` (the 64-bit syscall trap).
const SPARC64_EXIT: [u32; 3] = [0x8210_2001, 0x9010_2000, 0x91d0_206d];
/// MIPS n64: `li v0, 5058` (SYS_exit); `li a0, 0`; `syscall`.
const MIPS_N64_EXIT: [u32; 3] = [0x2402_13c2, 0x2404_0000, 0x0000_000c];
/// MIPS o32: `li v0, 4001` (SYS_exit); `li a0, 0`; `syscall`.
const MIPS_O32_EXIT: [u32; 3] = [0x2402_0fa1, 0x2404_0000, 0x0000_000c];
/// MIPS n32: `li v0, 6058` (SYS_exit); `li a0, 0`; `syscall`.
const MIPS_N32_EXIT: [u32; 3] = [0x2402_17aa, 0x2404_0000, 0x0000_000c];
/// Alpha: `lda $0, 1($31)` (v0 = SYS_exit); `bis $31, $31, $16` (`clr a0`); `callsys`
/// (`call_pal 0x83`).
const ALPHA_EXIT: [u32; 3] = [0x201f_0001, 0x47ff_0410, 0x0000_0083];
/// PA-RISC: `ldi 1, %r20` (SYS_exit); `ble 0x100(%sr2, %r0)` (into the kernel's gateway page);
/// `ldi 0, %r26` (status 0, in the branch's delay slot, so it runs before the call).
const HPPA_EXIT: [u32; 3] = [0x3414_0002, 0xe400_8200, 0x341a_0000];
/// m68k: `moveq #1, %d0` (SYS_exit); `moveq #0, %d1`; `trap #0`.
const M68K_EXIT: [u8; CODE] = code(b"\x70\x01\x72\x00\x4e\x40");
/// SuperH (16-bit instructions): `mov #1, r3` (SYS_exit); `mov #0, r4`; `trapa #0x11` (0x10 plus
/// the argument count, as glibc writes it; Linux and QEMU treat every `trapa #0x1N` as a syscall).
const SH4_EXIT: [u16; 3] = [0xe301, 0xe400, 0xc311];
/// s390x: `lghi %r2, 0` (status 0); `svc 1` (SYS_exit, the number in the instruction).
const S390X_EXIT: [u8; CODE] = code(b"\xa7\x29\x00\x00\x0a\x01");
/// RISC-V (RV32I and RV64I alike): `li a7, 93` (SYS_exit, asm-generic); `li a0, 0`; `ecall`.
const RISCV_EXIT: [u32; 3] = [0x05d0_0893, 0x0000_0513, 0x0000_0073];
/// Xtensa, little-endian (24-bit instructions): `movi a2, 118` (SYS_exit); `movi a6, 0` (the
/// first argument's register); `syscall`. No window rotation, so the windowed and call0 ABIs
/// read these registers alike.
const XTENSA_LE_EXIT: [u8; CODE] = code(b"\x22\xa0\x76\x62\xa0\x00\x00\x50\x00");
/// Xtensa, big-endian: the same instructions. A big-endian core mirrors the 4-bit fields of each
/// instruction (`op0 t | s r | imm8` instead of `t op0 | r s | imm8`), so each byte that holds two
/// fields has its nibbles swapped.
const XTENSA_BE_EXIT: [u8; CODE] = code(b"\x22\x0a\x76\x26\x0a\x00\x00\x05\x00");
/// MicroBlaze: `addik r12, r0, 1` (SYS_exit); `addik r5, r0, 0`; `brki r14, 0x8` (the syscall
/// vector).
const MICROBLAZE_EXIT: [u32; 3] = [0x3180_0001, 0x30a0_0000, 0xb9cc_0008];
/// OpenRISC: `l.addi r11, r0, 93` (SYS_exit, asm-generic); `l.addi r3, r0, 0`; `l.sys 1`.
const OR1K_EXIT: [u32; 3] = [0x9d60_005d, 0x9c60_0000, 0x2000_0001];
/// Hexagon, one instruction per packet (parse bits 11): `r6 = #93` (SYS_exit, asm-generic);
/// `r0 = #0`; `trap0(#1)`.
const HEXAGON_EXIT: [u32; 3] = [0x7800_cba6, 0x7800_c000, 0x5400_c004];
/// LoongArch: `ori $a7, $zero, 93` (SYS_exit, asm-generic); `ori $a0, $zero, 0`; `syscall 0`.
const LOONGARCH_EXIT: [u32; 3] = [0x0381_740b, 0x0380_0004, 0x002b_0000];

/// `EF_ARM_EABI_VER5`: Linux (and arm64's AArch32 compat) refuses ARM files without an EABI
/// version unless built with OABI compatibility.
const EF_ARM_EABI5: u32 = 0x0500_0000;
/// `EF_SPARC_32PLUS`: marks a V8+ file.
const EF_SPARC_32PLUS: u32 = 0x0000_0100;
/// `EF_MIPS_ABI_O32`, MIPS I instruction set (runs on every MIPS CPU).
const EF_MIPS_O32: u32 = 0x0000_1000;
/// `EF_MIPS_ABI2` (n32) with `EF_MIPS_ARCH_3` (n32 needs a 64-bit ISA).
const EF_MIPS_N32: u32 = 0x2000_0020;
/// `EF_MIPS_ARCH_3`: the oldest 64-bit MIPS ISA, for n64.
const EF_MIPS_N64: u32 = 0x2000_0000;
/// PowerPC64 ELFv2 ABI: `e_entry` is code, not an ELFv1 function descriptor. Linux and QEMU
/// accept ELFv2 in both byte orders.
const EF_PPC64_ELFV2: u32 = 2;
/// `EFA_PARISC_1_1`: PA-RISC 1.1 code, what Debian's toolchain marks its files with.
const EF_PARISC_1_1: u32 = 0x0210;
/// Hexagon V67 (`EF_HEXAGON_MACH_V67`): QEMU refuses files without a Hexagon version it knows.
const EF_HEXAGON_V67: u32 = 0x67;
/// LoongArch LP64D (`EF_LOONGARCH_ABI_DOUBLE_FLOAT`) with `EF_LOONGARCH_OBJABI_V1`, as every
/// Linux loongarch64 binary.
const EF_LOONGARCH_LP64D_V1: u32 = 0x43;

pub(crate) static I386: [u8; LEN32] = elf32(3, false, 0, X86_EXIT);
pub(crate) static I486: [u8; LEN32] = elf32(6, false, 0, X86_EXIT);
pub(crate) static X86_64: [u8; LEN64] = elf64(62, false, 0, X86_64_EXIT);
pub(crate) static ALPHA: [u8; LEN64] = elf64(0x9026, false, 0, words(&ALPHA_EXIT, false));
pub(crate) static ARM: [u8; LEN32] = elf32(40, false, EF_ARM_EABI5, words(&ARM_EXIT, false));
// BE32 (no EF_ARM_BE8 flag): instructions stored big-endian, as the header.
pub(crate) static ARMEB: [u8; LEN32] = elf32(40, true, EF_ARM_EABI5, words(&ARM_EXIT, true));
pub(crate) static SPARC: [u8; LEN32] = elf32(2, true, 0, words(&SPARC_EXIT, true));
pub(crate) static SPARC32PLUS: [u8; LEN32] =
    elf32(18, true, EF_SPARC_32PLUS, words(&SPARC_EXIT, true));
pub(crate) static SPARC64: [u8; LEN64] = elf64(43, true, 0, words(&SPARC64_EXIT, true));
pub(crate) static PPC: [u8; LEN32] = elf32(20, true, 0, words(&PPC_EXIT, true));
pub(crate) static PPC64: [u8; LEN64] = elf64(21, true, EF_PPC64_ELFV2, words(&PPC_EXIT, true));
pub(crate) static PPC64LE: [u8; LEN64] = elf64(21, false, EF_PPC64_ELFV2, words(&PPC_EXIT, false));
pub(crate) static M68K: [u8; LEN32] = elf32(4, true, 0, M68K_EXIT);
pub(crate) static MIPS: [u8; LEN32] = elf32(8, true, EF_MIPS_O32, words(&MIPS_O32_EXIT, true));
pub(crate) static MIPSEL: [u8; LEN32] = elf32(8, false, EF_MIPS_O32, words(&MIPS_O32_EXIT, false));
pub(crate) static MIPSN32: [u8; LEN32] = elf32(8, true, EF_MIPS_N32, words(&MIPS_N32_EXIT, true));
pub(crate) static MIPSN32EL: [u8; LEN32] =
    elf32(8, false, EF_MIPS_N32, words(&MIPS_N32_EXIT, false));
pub(crate) static MIPS64: [u8; LEN64] = elf64(8, true, EF_MIPS_N64, words(&MIPS_N64_EXIT, true));
pub(crate) static MIPS64EL: [u8; LEN64] =
    elf64(8, false, EF_MIPS_N64, words(&MIPS_N64_EXIT, false));
pub(crate) static SH4: [u8; LEN32] = elf32(42, false, 0, halves(&SH4_EXIT, false));
pub(crate) static SH4EB: [u8; LEN32] = elf32(42, true, 0, halves(&SH4_EXIT, true));
pub(crate) static S390X: [u8; LEN64] = elf64(22, true, 0, S390X_EXIT);
pub(crate) static AARCH64: [u8; LEN64] = elf64(183, false, 0, words(&AARCH64_EXIT, false));
pub(crate) static AARCH64_BE: [u8; LEN64] = elf64(183, true, 0, words(&AARCH64_EXIT, false));
pub(crate) static HPPA: [u8; LEN32] = elf32(15, true, EF_PARISC_1_1, words(&HPPA_EXIT, true));
// Soft-float ABI (e_flags 0): the code uses no floating point, and neither Linux nor QEMU looks
// at the float ABI of a static executable.
pub(crate) static RISCV32: [u8; LEN32] = elf32(243, false, 0, words(&RISCV_EXIT, false));
pub(crate) static RISCV64: [u8; LEN64] = elf64(243, false, 0, words(&RISCV_EXIT, false));
pub(crate) static XTENSA: [u8; LEN32] = elf32(94, false, 0, XTENSA_LE_EXIT);
pub(crate) static XTENSAEB: [u8; LEN32] = elf32(94, true, 0, XTENSA_BE_EXIT);
// EM_MICROBLAZE_OLD (0xbaab), as QEMU's own table rows match (binfmtd's primary microblaze rows
// too); QEMU's loader takes it as well as EM_MICROBLAZE (189).
pub(crate) static MICROBLAZE: [u8; LEN32] = elf32(0xbaab, true, 0, words(&MICROBLAZE_EXIT, true));
pub(crate) static MICROBLAZEEL: [u8; LEN32] =
    elf32(0xbaab, false, 0, words(&MICROBLAZE_EXIT, false));
pub(crate) static OR1K: [u8; LEN32] = elf32(92, true, 0, words(&OR1K_EXIT, true));
pub(crate) static HEXAGON: [u8; LEN32] =
    elf32(164, false, EF_HEXAGON_V67, words(&HEXAGON_EXIT, false));
pub(crate) static LOONGARCH64: [u8; LEN64] = elf64(
    258,
    false,
    EF_LOONGARCH_LP64D_V1,
    words(&LOONGARCH_EXIT, false),
);
