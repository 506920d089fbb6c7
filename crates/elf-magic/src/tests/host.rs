//! Host policy: native targets from `uname -m`, compat candidates and the guard against rows
//! that match the host's own executables (the probe executables are in `probes.rs`).

use super::Spec;
use crate::{
    TABLE, Target, compat_candidates, detect, header_variants, native_target,
    native_target_with_endianness,
};

#[test]
fn native_target_from_uname() {
    let cases = [
        ("x86_64", Some(Target::X86_64)),
        ("i686", Some(Target::I386)),
        ("i486", Some(Target::I386)),
        ("aarch64", Some(Target::Aarch64)),
        ("aarch64_be", Some(Target::Aarch64Be)),
        ("armv7l", Some(Target::Arm)),
        ("armv6l", Some(Target::Arm)),
        ("armv5tel", Some(Target::Arm)),
        ("armv7b", Some(Target::Armeb)),
        ("ppc64le", Some(Target::Ppc64le)),
        ("ppc64", Some(Target::Ppc64)),
        ("s390x", Some(Target::S390x)),
        ("riscv64", Some(Target::Riscv64)),
        ("loongarch64", Some(Target::Loongarch64)),
        ("sparc64", Some(Target::Sparc64)),
        ("parisc64", Some(Target::Hppa)),
        ("mips64", Some(Target::Mips64)),
        ("mips", Some(Target::Mips)),
        ("X86_64\n", Some(Target::X86_64)),
        ("x32", None),
        ("amd64", None),
        ("", None),
    ];
    for (uname, expected) in cases {
        assert_eq!(native_target(uname), expected, "{uname:?}");
    }
}

#[test]
fn native_target_with_endianness_resolves_byte_order() {
    assert_eq!(
        native_target_with_endianness("mips64", false),
        Some(Target::Mips64el)
    );
    assert_eq!(
        native_target_with_endianness("mips64", true),
        Some(Target::Mips64)
    );
    assert_eq!(
        native_target_with_endianness("mips", false),
        Some(Target::Mipsel)
    );
    assert_eq!(
        native_target_with_endianness("xtensa", true),
        Some(Target::Xtensaeb)
    );
    assert_eq!(
        native_target_with_endianness("microblaze", false),
        Some(Target::Microblazeel)
    );
    assert_eq!(
        native_target_with_endianness("x86_64", false),
        Some(Target::X86_64)
    );
    assert_eq!(native_target_with_endianness("x86_64", true), None);
    assert_eq!(native_target_with_endianness("armv7l", true), None);
}

#[test]
fn every_native_uname_resolves_to_a_target_printing_it() {
    for target in Target::ALL {
        for uname in target.uname_machines() {
            let native = native_target(uname).unwrap_or_else(|| panic!("{uname}"));
            assert!(native.uname_machines().contains(uname));
            let exact = native_target_with_endianness(uname, target.is_big_endian());
            let exact = exact.unwrap_or_else(|| panic!("{uname} {target}"));
            assert_eq!(exact.is_big_endian(), target.is_big_endian());
        }
    }
}

#[test]
fn compat_candidates_follow_the_documented_policy() {
    assert_eq!(
        compat_candidates(Target::X86_64),
        [Target::I386, Target::I486]
    );
    assert_eq!(compat_candidates(Target::Aarch64), [Target::Arm]);
    assert_eq!(compat_candidates(Target::Ppc64), [Target::Ppc]);
    assert_eq!(
        compat_candidates(Target::Sparc64),
        [Target::Sparc, Target::Sparc32plus]
    );
    assert_eq!(
        compat_candidates(Target::Mips64el),
        [Target::Mipsel, Target::Mipsn32el]
    );
    assert_eq!(
        compat_candidates(Target::Mips64),
        [Target::Mips, Target::Mipsn32]
    );
    for none in [
        Target::S390x,
        Target::Riscv64,
        Target::Loongarch64,
        Target::Ppc64le,
        Target::Arm,
    ] {
        assert!(compat_candidates(none).is_empty(), "{none}");
    }
    for native in Target::ALL {
        for &compat in compat_candidates(native) {
            assert_ne!(compat, native);
            assert_eq!(
                compat.is_big_endian(),
                native.is_big_endian(),
                "{native} -> {compat}"
            );
            assert!(compat.bits() <= native.bits());
        }
    }
}

/// The rows that match any of the host's header variants (what binfmtd's guard refuses).
fn unsafe_rows(host: &[u8]) -> Vec<&'static crate::Row> {
    let mut found: Vec<&'static crate::Row> = Vec::new();
    for header in header_variants(host) {
        for row in crate::matching_rows(&header) {
            if !found.iter().any(|known| std::ptr::eq(*known, row)) {
                found.push(row);
            }
        }
    }
    found
}

#[test]
fn header_variants_flag_the_hosts_own_format() {
    let host = Spec::of(Target::X86_64).header();
    let ids: Vec<&str> = unsafe_rows(&host).iter().map(|r| r.id).collect();
    assert_eq!(ids, ["x86_64"]);
    // A sample that is a REL file or carries an odd OSABI still flags the row that its EXEC and
    // DYN siblings would hit.
    let rel = Spec {
        e_type: 1,
        osabi: 9,
        ..Spec::of(Target::X86_64)
    }
    .header();
    assert_eq!(
        unsafe_rows(&rel).iter().map(|r| r.id).collect::<Vec<_>>(),
        ["x86_64"]
    );
    let loong = Spec {
        osabi: 9,
        ..Spec::of(Target::Loongarch64)
    }
    .header();
    assert_eq!(
        detect(&loong),
        None,
        "loongarch64's row rejects OSABI 9 itself"
    );
    assert_eq!(
        unsafe_rows(&loong).iter().map(|r| r.id).collect::<Vec<_>>(),
        ["loongarch64"]
    );
    // Nothing flags a format no row covers, nor a non-ELF file.
    let x32 = Spec {
        machine: 62,
        ..Spec::of(Target::I386)
    }
    .header();
    assert!(unsafe_rows(&x32).is_empty());
    assert!(unsafe_rows(b"#!/bin/sh").is_empty());
    assert!(unsafe_rows(b"\x7fELF").is_empty());
    // Every row is unsafe on its own host.
    for row in TABLE {
        let header = Spec::of(row.target).header();
        assert!(
            unsafe_rows(&header).iter().any(|r| r.target == row.target),
            "{}",
            row.id
        );
    }
}
