//! Real foreign binaries from Debian's archive (busybox-static, glibc's `ld.so` from
//! `libc6-<arch>-cross`, downloaded by `tests/fixtures.sh`): `detect` must name exactly the right
//! target for each, and nothing for x32 and ARC.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use binfmtd_tests::fixtures::{Kind, foreign_binaries};
use elf_magic::{HEADER_LEN, Target, detect, matching_rows};
use goblin::elf::Elf;

/// The first 256 bytes of `path` (fewer if the file is shorter).
fn header(path: &Path) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER_LEN);
    File::open(path)
        .and_then(|f| f.take(HEADER_LEN as u64).read_to_end(&mut bytes))
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    bytes
}

#[test]
fn every_real_binary_is_detected_as_its_own_target() {
    let binaries = foreign_binaries();
    let mut covered = BTreeSet::new();
    let mut negatives = 0;
    for binary in &binaries {
        let header = header(&binary.path);
        let what = format!("{} ({})", binary.path.display(), binary.package);
        let rows: Vec<&str> = matching_rows(&header).iter().map(|r| r.id).collect();
        match &binary.target {
            Some(name) => {
                let expected: Target = name.parse().unwrap_or_else(|e| panic!("{what}: {e}"));
                assert_eq!(
                    detect(&header),
                    Some(expected),
                    "{what}: matched rows {rows:?}"
                );
                assert_eq!(rows.len(), 1, "{what}: matched {rows:?}");
                covered.insert(expected);
                // goblin reads the same class, byte order and machine the row demands.
                let whole = std::fs::read(&binary.path).unwrap();
                let elf = Elf::parse(&whole).unwrap_or_else(|e| panic!("{what}: {e}"));
                let row = matching_rows(&header)[0];
                assert_eq!(Some(elf.header.e_machine), row.e_machine(), "{what}");
                assert_eq!(elf.is_64, expected.bits() == 64, "{what}");
                assert_eq!(elf.little_endian, !expected.is_big_endian(), "{what}");
            }
            None => {
                assert_eq!(binary.kind, Kind::Negative);
                assert_eq!(rows, Vec::<&str>::new(), "{what} is an ABI QEMU cannot run");
                negatives += 1;
            }
        }
    }
    // The fixtures must cover what issue 2 promises: a shrunken manifest fails here.
    let required = [
        "aarch64",
        "arm",
        "i386",
        "ppc64le",
        "s390x",
        "mipsel",
        "mips64el",
        "riscv64",
        "loongarch64",
        "hppa",
        "m68k",
        "ppc",
        "ppc64",
        "sh4",
        "sparc64",
        "sparc32plus",
        "mips",
        "mipsn32",
        "mipsn32el",
        "mips64",
    ];
    for name in required {
        let target: Target = name.parse().unwrap();
        assert!(
            covered.contains(&target),
            "no real {name} binary in the fixtures manifest"
        );
    }
    assert!(
        negatives >= 2,
        "x32 and ARC negatives are missing from the manifest"
    );
}

#[test]
fn glibc_mips_loaders_carry_abiversion_5_and_still_match() {
    let mut seen = 0;
    for binary in foreign_binaries().iter().filter(|b| b.kind == Kind::LdSo) {
        let Some(target) = binary.target.as_deref() else {
            continue;
        };
        if !target.starts_with("mips") {
            continue;
        }
        let header = header(&binary.path);
        if header[8] == 5 {
            seen += 1;
            assert_eq!(
                detect(&header).map(|t| t.name()),
                Some(target),
                "{}",
                binary.path.display()
            );
        }
    }
    assert!(
        seen > 0,
        "expected glibc mips ld.so files with EI_ABIVERSION 5 (kernel.md §11)"
    );
}
