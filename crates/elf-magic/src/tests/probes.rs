//! The probe executables, byte for byte: every header field read back with goblin against the
//! layout the probe module documents, and the machine code against the assembler's output
//! (GNU as 2.40 of Debian bookworm's cross binutils; `llvm-mc` for hexagon; the ISA manuals for
//! loongarch64, microblaze and big-endian xtensa). Together the fields and the code cover every
//! byte of every probe. That the code really calls `exit(0)` is proven by running each probe
//! under QEMU (`tests/probes.rs`).

use goblin::elf::Elf;
use goblin::elf::header::{ET_EXEC, EV_CURRENT};
use goblin::elf::program_header::{PF_R, PF_X, PT_LOAD};

use super::machines;
use crate::{Target, detect, probe_elf};

/// Per target: `e_flags`, then the machine code in file order (one space-separated group per
/// instruction), as listed by the assembler.
#[rustfmt::skip]
const EXPECTED: [(Target, u32, &str); 34] = [
    (Target::I386, 0, "b801000000 31db cd80"),
    (Target::I486, 0, "b801000000 31db cd80"),
    (Target::Alpha, 0, "01001f20 1004ff47 83000000"),
    (Target::Arm, 0x0500_0000, "0170a0e3 0000a0e3 000000ef"),
    (Target::Armeb, 0x0500_0000, "e3a07001 e3a00000 ef000000"),
    (Target::Sparc, 0, "82102001 90102000 91d02010"),
    (Target::Sparc32plus, 0x100, "82102001 90102000 91d02010"),
    (Target::Sparc64, 0, "82102001 90102000 91d0206d"),
    (Target::Ppc, 0, "38000001 38600000 44000002"),
    (Target::Ppc64, 2, "38000001 38600000 44000002"),
    (Target::Ppc64le, 2, "01000038 00006038 02000044"),
    (Target::M68k, 0, "7001 7200 4e40"),
    (Target::Mips, 0x1000, "24020fa1 24040000 0000000c"),
    (Target::Mipsel, 0x1000, "a10f0224 00000424 0c000000"),
    (Target::Mipsn32, 0x2000_0020, "240217aa 24040000 0000000c"),
    (Target::Mipsn32el, 0x2000_0020, "aa170224 00000424 0c000000"),
    (Target::Mips64, 0x2000_0000, "240213c2 24040000 0000000c"),
    (Target::Mips64el, 0x2000_0000, "c2130224 00000424 0c000000"),
    (Target::Sh4, 0, "01e3 00e4 11c3"),
    (Target::Sh4eb, 0, "e301 e400 c311"),
    (Target::S390x, 0, "a7290000 0a01"),
    (Target::Aarch64, 0, "a80b80d2 000080d2 010000d4"),
    (Target::Aarch64Be, 0, "a80b80d2 000080d2 010000d4"),
    (Target::Hppa, 0x210, "34140002 e4008200 341a0000"),
    (Target::Riscv32, 0, "9308d005 13050000 73000000"),
    (Target::Riscv64, 0, "9308d005 13050000 73000000"),
    (Target::Xtensa, 0, "22a076 62a000 005000"),
    (Target::Xtensaeb, 0, "220a76 260a00 000500"),
    (Target::Microblaze, 0, "31800001 30a00000 b9cc0008"),
    (Target::Microblazeel, 0, "01008031 0000a030 0800ccb9"),
    (Target::Or1k, 0, "9d60005d 9c600000 20000001"),
    (Target::X86_64, 0, "b83c000000 31ff 0f05"),
    (Target::Hexagon, 0x67, "a6cb0078 00c00078 04c00054"),
    (Target::Loongarch64, 0x43, "0b748103 04008003 00002b00"),
];

/// Load address and segment alignment the probe module documents.
const BASE: u64 = 0x0040_0000;
const ALIGN: u64 = 0x1_0000;
/// Room for code after the headers.
const CODE: usize = 16;

fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|pair| {
            let pair = std::str::from_utf8(pair).expect("ASCII");
            u8::from_str_radix(pair, 16).unwrap_or_else(|e| panic!("{pair:?}: {e}"))
        })
        .collect()
}

#[test]
fn the_table_covers_every_target_once_in_qemu_order() {
    let listed: Vec<Target> = EXPECTED.iter().map(|(t, _, _)| *t).collect();
    assert_eq!(listed, Target::ALL);
}

#[test]
fn every_probe_is_exactly_its_documented_bytes() {
    for (target, flags, code) in EXPECTED {
        let bytes = probe_elf(target);
        let elf = Elf::parse(bytes).unwrap_or_else(|e| panic!("{target} probe: {e}"));
        let h = &elf.header;
        let (ehsize, phentsize) = if target.bits() == 64 {
            (64, 56)
        } else {
            (52, 32)
        };
        let code_at = usize::from(ehsize) + usize::from(phentsize);
        assert_eq!(bytes.len(), code_at + CODE, "{target}: length");

        // e_ident: magic, class, byte order, version, OSABI SYSV, ABI version 0, zero padding.
        let class = if target.bits() == 64 { 2 } else { 1 };
        let data = if target.is_big_endian() { 2 } else { 1 };
        let ident = [
            0x7f, b'E', b'L', b'F', class, data, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        assert_eq!(h.e_ident, ident, "{target}: e_ident");
        assert_eq!(h.e_type, ET_EXEC, "{target}");
        assert_eq!(h.e_machine, machines(target)[0], "{target}: e_machine");
        assert_eq!(h.e_version, u32::from(EV_CURRENT), "{target}");
        assert_eq!(
            h.e_entry,
            BASE + code_at as u64,
            "{target}: entry right after the headers"
        );
        assert_eq!(h.e_phoff, u64::from(ehsize), "{target}");
        assert_eq!(h.e_shoff, 0, "{target}");
        assert_eq!(h.e_flags, flags, "{target}: e_flags");
        assert_eq!(
            (h.e_ehsize, h.e_phentsize, h.e_phnum),
            (ehsize, phentsize, 1),
            "{target}"
        );
        assert_eq!(
            (h.e_shentsize, h.e_shnum, h.e_shstrndx),
            (0, 0, 0),
            "{target}"
        );

        // One PT_LOAD, read + execute, mapping the whole file at BASE.
        let [load] = elf.program_headers.as_slice() else {
            panic!("{target}: {} program headers", elf.program_headers.len());
        };
        assert_eq!(load.p_type, PT_LOAD, "{target}");
        assert_eq!(load.p_flags, PF_R | PF_X, "{target}");
        assert_eq!(load.p_offset, 0, "{target}");
        assert_eq!((load.p_vaddr, load.p_paddr), (BASE, BASE), "{target}");
        let len = bytes.len() as u64;
        assert_eq!((load.p_filesz, load.p_memsz), (len, len), "{target}");
        assert_eq!(load.p_align, ALIGN, "{target}");
        assert!(
            elf.interpreter.is_none() && elf.libraries.is_empty(),
            "{target}: static"
        );

        // The machine code, zero-padded.
        let mut expected = hex(code);
        assert!(
            expected.len() <= CODE,
            "{target}: code longer than the room for it"
        );
        expected.resize(CODE, 0);
        assert_eq!(bytes[code_at..], expected[..], "{target}: machine code");
    }
}

#[test]
fn every_probe_is_detected_as_exactly_its_own_target() {
    for target in Target::ALL {
        let bytes = probe_elf(target);
        assert_eq!(detect(bytes), Some(target), "{target}");
        let rows: Vec<&str> = crate::matching_rows(bytes).iter().map(|r| r.id).collect();
        assert_eq!(rows, [target.primary_row().id], "{target}: matched rows");
    }
}

#[test]
fn the_i486_probe_is_the_i386_probe_with_em_486() {
    let (i386, i486) = (probe_elf(Target::I386), probe_elf(Target::I486));
    let differing: Vec<usize> = (0..i386.len()).filter(|&i| i386[i] != i486[i]).collect();
    assert_eq!(differing, [18]);
}
