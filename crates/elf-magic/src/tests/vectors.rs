//! Data-driven header vectors: every target's own headers match its row and only it; headers of
//! other kinds match nothing; the table's own invariants.

use goblin::elf::header as gh;

use super::{Spec, machines};
use crate::{HEADER_LEN, Row, TABLE, Target, detect, matching_rows};

/// Asserts `header` matches exactly one row, of `target`.
fn assert_only(target: Target, header: &[u8], what: &str) {
    let rows: Vec<&str> = matching_rows(header).iter().map(|r| r.id).collect();
    assert_eq!(
        rows.len(),
        1,
        "{what}: expected one {target} row, matched {rows:?}"
    );
    assert_eq!(detect(header), Some(target), "{what}: {header:02x?}");
}

#[test]
fn every_target_matches_exec_and_dyn_with_osabi_sysv_and_gnu() {
    for target in Target::ALL {
        for machine in machines(target) {
            for e_type in [2, 3] {
                for osabi in [0, 3] {
                    let spec = Spec {
                        e_type,
                        machine,
                        osabi,
                        ..Spec::of(target)
                    };
                    assert_only(target, &spec.header(), &format!("{target} {spec:?}"));
                }
            }
        }
    }
}

#[test]
fn relocatable_and_core_files_match_nothing() {
    for target in Target::ALL {
        for e_type in [0, 1, 4] {
            let header = Spec {
                e_type,
                ..Spec::of(target)
            }
            .header();
            assert_eq!(
                matching_rows(&header),
                Vec::<&Row>::new(),
                "{target} e_type {e_type}"
            );
        }
    }
}

#[test]
fn abis_qemu_cannot_run_match_nothing() {
    let base = Spec::of(Target::I386);
    let vectors = [
        (
            "x32",
            Spec {
                machine: gh::EM_X86_64,
                ..base
            },
        ),
        (
            "arc hs (EM_ARC_COMPACT2 195)",
            Spec {
                machine: gh::EM_ARC_COMPACT2,
                ..base
            },
        ),
        (
            "arc (EM_ARC 45)",
            Spec {
                machine: gh::EM_ARC,
                ..base
            },
        ),
        (
            "arc700 (EM_ARC_COMPACT 93)",
            Spec {
                machine: gh::EM_ARC_COMPACT,
                ..base
            },
        ),
        (
            "aarch64 ilp32",
            Spec {
                machine: gh::EM_AARCH64,
                ..base
            },
        ),
        (
            "64-bit EM_386",
            Spec {
                class64: true,
                ..base
            },
        ),
        (
            "32-bit EM_AARCH64 big-endian",
            Spec {
                machine: gh::EM_AARCH64,
                big: true,
                ..base
            },
        ),
    ];
    for (what, spec) in vectors {
        for e_type in [2, 3] {
            let header = Spec { e_type, ..spec }.header();
            assert_eq!(detect(&header), None, "{what} must match no row");
        }
    }
    assert_eq!(detect(b"#!/bin/sh\n"), None);
    assert_eq!(detect(b""), None);
}

#[test]
fn mips_rows_ignore_glibc_abiversion_5() {
    let mips = [
        Target::Mips,
        Target::Mipsel,
        Target::Mipsn32,
        Target::Mipsn32el,
        Target::Mips64,
        Target::Mips64el,
    ];
    for target in mips {
        for e_type in [2, 3] {
            let spec = Spec {
                e_type,
                abiversion: 5,
                ..Spec::of(target)
            };
            assert_only(
                target,
                &spec.header(),
                &format!("{target} with EI_ABIVERSION 5"),
            );
        }
    }
    // Other rows compare EI_ABIVERSION exactly (upstream): 5 is not an aarch64 header.
    let aarch64 = Spec {
        abiversion: 5,
        ..Spec::of(Target::Aarch64)
    };
    assert_eq!(detect(&aarch64.header()), None);
}

#[test]
fn mips_and_mipsn32_differ_only_by_ef_mips_abi2() {
    const EF_MIPS_ABI2: u32 = 0x20;
    for (o32, n32) in [
        (Target::Mips, Target::Mipsn32),
        (Target::Mipsel, Target::Mipsn32el),
    ] {
        let spec = Spec::of(o32);
        assert_eq!(spec.flags & EF_MIPS_ABI2, 0);
        assert_only(o32, &spec.header(), "o32");
        let with_abi2 = Spec {
            flags: spec.flags | EF_MIPS_ABI2,
            ..spec
        };
        assert_only(n32, &with_abi2.header(), "o32 header plus EF_MIPS_ABI2");
    }
    // n64 files are ELF64 and their rows do not look at e_flags at all.
    for target in [Target::Mips64, Target::Mips64el] {
        for flags in [0, 0x20, 0xffff_ffff] {
            assert_only(
                target,
                &Spec {
                    flags,
                    ..Spec::of(target)
                }
                .header(),
                "n64",
            );
        }
    }
}

#[test]
fn mips32_rows_require_e_version_1() {
    let header = Spec::of(Target::Mips).header();
    let mut bad = header.clone();
    bad[23] = 0; // e_version 0 (big-endian: low byte last)
    assert_eq!(detect(&bad), None);
}

#[test]
fn microblaze_matches_big_endian_files_unlike_upstream_row() {
    let header = Spec::of(Target::Microblaze).header();
    assert_eq!(&header[16..20], b"\x00\x02\xba\xab");
    assert_only(Target::Microblaze, &header, "microblaze");
    // QEMU's own row, byte for byte: e_type spelled little-endian.
    let upstream = Row {
        target: Target::Microblaze,
        id: "upstream-microblaze",
        offset: 0,
        magic: b"\x7fELF\x01\x02\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xba\xab",
        mask: b"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff",
    };
    for e_type in [2, 3] {
        let header = Spec {
            e_type,
            ..Spec::of(Target::Microblaze)
        }
        .header();
        assert!(
            !upstream.matches(&header),
            "upstream's microblaze row now matches?"
        );
    }
}

#[test]
fn short_headers_are_zero_padded() {
    let aarch64 = Spec::of(Target::Aarch64).header();
    assert_eq!(detect(&aarch64[..20]), Some(Target::Aarch64));
    // The mips rows look up to byte 39; zero e_flags past the end is o32.
    let mips = Spec {
        flags: 0,
        ..Spec::of(Target::Mips)
    }
    .header();
    assert_eq!(detect(&mips[..24]), Some(Target::Mips));
    assert_eq!(
        detect(&mips[..20]),
        None,
        "e_version past the end reads as 0"
    );
    // Bytes past 256 are invisible to the kernel.
    let row = Row {
        target: Target::Arm,
        id: "t",
        offset: 255,
        magic: b"\x01",
        mask: b"\xff",
    };
    let mut long = vec![0u8; 300];
    long[255] = 1;
    assert!(row.matches(&long));
    long[255] = 0;
    long[256] = 1;
    assert!(!row.matches(&long));
}

#[test]
fn table_is_well_formed() {
    let mut ids: Vec<&str> = TABLE.iter().map(|r| r.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), TABLE.len(), "row ids must be unique");
    assert_eq!(TABLE.len(), 36, "34 targets plus the two em189 rows");
    for row in TABLE {
        assert_eq!(row.magic.len(), row.mask.len(), "{}", row.id);
        assert!(
            usize::from(row.offset) + row.magic.len() <= HEADER_LEN,
            "{}",
            row.id
        );
        assert!(row.magic.len() >= 20, "{} must cover e_machine", row.id);
        assert!(
            row.id == row.target.name() || row.id.starts_with(&format!("{}-", row.target)),
            "{}: ids are <target> or <target>-<what>",
            row.id
        );
    }
    for target in Target::ALL {
        assert_eq!(target.primary_row().id, target.name());
        let expected = if matches!(target, Target::Microblaze | Target::Microblazeel) {
            2
        } else {
            1
        };
        assert_eq!(target.rows().count(), expected, "{target}");
    }
}

#[test]
fn rows_agree_with_goblin_and_the_target_facts() {
    for row in TABLE {
        let target = row.target;
        let machine = row
            .e_machine()
            .unwrap_or_else(|| panic!("{} has no e_machine", row.id));
        assert!(
            machines(target).contains(&machine),
            "{}: e_machine {machine:#x}",
            row.id
        );
        assert_eq!(
            row.magic[4],
            if target.bits() == 64 { 2 } else { 1 },
            "{} class",
            row.id
        );
        assert_eq!(
            row.magic[5],
            if target.is_big_endian() { 2 } else { 1 },
            "{} data",
            row.id
        );
        assert_eq!(
            row.mask[4], 0xff,
            "{}: EI_CLASS must be compared exactly",
            row.id
        );
    }
    let em189: Vec<&str> = TABLE
        .iter()
        .filter(|r| r.e_machine() == Some(gh::EM_MICROBLAZE))
        .map(|r| r.id)
        .collect();
    assert_eq!(em189, ["microblaze-em189", "microblazeel-em189"]);
}

#[test]
fn hex_helpers_print_lowercase_without_separators() {
    let row = Target::Aarch64.primary_row();
    assert_eq!(row.magic_hex(), "7f454c460201010000000000000000000200b700");
    assert_eq!(row.mask_hex(), "ffffffffffffff00fffffffffffffffffeffffff");
}
