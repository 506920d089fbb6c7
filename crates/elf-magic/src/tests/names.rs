//! Names: every name parses back to its target or, if shared, to the documented winner; the
//! accepted spellings; unknown names and their suggestions.

use std::collections::BTreeMap;
use std::str::FromStr;

use crate::parse::levenshtein;
use crate::{Target, UnknownTarget};

/// Every name, with the targets that list it.
fn claims() -> BTreeMap<&'static str, Vec<Target>> {
    let mut claims: BTreeMap<&'static str, Vec<Target>> = BTreeMap::new();
    for target in Target::ALL {
        for name in target.names() {
            claims.entry(name).or_default().push(target);
        }
    }
    claims
}

#[test]
fn every_name_parses_to_its_target_or_the_documented_winner() {
    for (name, targets) in claims() {
        let parsed = Target::from_str(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        if targets.len() == 1 {
            assert_eq!(parsed, targets[0], "{name}");
        } else {
            // The documented rule: a shared name is some target's QEMU name, and that one wins.
            assert!(
                targets.contains(&parsed),
                "{name}: parsed {parsed}, claimed by {targets:?}"
            );
            assert_eq!(
                parsed.name(),
                name,
                "{name} is shared by {targets:?} but no QEMU name"
            );
        }
    }
}

#[test]
fn the_briefs_ambiguous_names_resolve_to_the_common_target() {
    for (name, expected) in [
        ("arm", Target::Arm),
        ("mips64", Target::Mips64),
        ("ppc64", Target::Ppc64),
        ("mips", Target::Mips),
        ("sparc64", Target::Sparc64),
        ("i486", Target::I486),
        ("xtensa", Target::Xtensa),
    ] {
        assert_eq!(name.parse::<Target>(), Ok(expected), "{name}");
    }
    let shared: Vec<&str> = claims()
        .into_iter()
        .filter(|(_, t)| t.len() > 1)
        .map(|(n, _)| n)
        .collect();
    assert!(
        shared.contains(&"mips64") && shared.contains(&"mips"),
        "{shared:?}"
    );
}

#[test]
fn names_are_deduplicated_and_start_with_the_qemu_name() {
    for target in Target::ALL {
        let names = target.names();
        assert_eq!(names[0], target.name());
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{target}: {names:?}");
        assert!(
            names
                .iter()
                .all(|n| *n == n.to_ascii_lowercase() && !n.trim().is_empty())
        );
    }
}

#[test]
fn accepted_spellings() {
    let cases = [
        ("aarch64", Target::Aarch64),
        ("AArch64", Target::Aarch64),
        ("  arm64 ", Target::Aarch64),
        ("linux/arm64", Target::Aarch64),
        ("arm64/v8", Target::Aarch64),
        ("LINUX/ARM64/V8", Target::Aarch64),
        ("qemu-aarch64", Target::Aarch64),
        ("qemu-aarch64-static", Target::Aarch64),
        ("qemu-aarch64_be", Target::Aarch64Be),
        ("qemu-i386", Target::I386),
        ("qemu-i486", Target::I486),
        ("arm/v7", Target::Arm),
        ("linux/arm/v6", Target::Arm),
        ("armhf", Target::Arm),
        ("armel", Target::Arm),
        ("armv7l", Target::Arm),
        ("armv8l", Target::Arm),
        ("armv7b", Target::Armeb),
        ("386", Target::I386),
        ("linux/386", Target::I386),
        ("i686", Target::I386),
        ("amd64", Target::X86_64),
        ("amd64/v3", Target::X86_64),
        ("x86_64", Target::X86_64),
        ("ppc64el", Target::Ppc64le),
        ("powerpc", Target::Ppc),
        ("mips64el", Target::Mips64el),
        ("mips64le", Target::Mips64el),
        ("linux/mipsle", Target::Mipsel),
        ("mips64r6el", Target::Mips64el),
        ("mipsn32r6", Target::Mipsn32),
        ("loong64", Target::Loongarch64),
        ("loongarch64", Target::Loongarch64),
        ("parisc64", Target::Hppa),
        ("openrisc", Target::Or1k),
        ("riscv32", Target::Riscv32),
    ];
    for (name, expected) in cases {
        assert_eq!(name.parse::<Target>(), Ok(expected), "{name}");
    }
}

#[test]
fn rejected_spellings() {
    for name in [
        "",
        "linux/aarch64",
        "qemu-arm64",
        "qemu-",
        "x32",
        "arc",
        "cris",
        "nios2",
        "s390",
    ] {
        assert!(name.parse::<Target>().is_err(), "{name:?} must not parse");
    }
}

#[test]
fn unknown_names_suggest_the_closest_valid_ones() {
    let err = "armv9".parse::<Target>().unwrap_err();
    assert_eq!(err.name, "armv9");
    assert!(
        !err.suggestions.is_empty() && err.suggestions.len() <= 3,
        "{err:?}"
    );
    assert!(
        err.suggestions.iter().all(|s| s.starts_with("arm")),
        "{err:?}"
    );
    assert!(
        err.suggestions.iter().all(|s| levenshtein("armv9", s) <= 2),
        "{err:?}"
    );
    assert_eq!(
        err.suggestions[0], "armv7l",
        "ties go to the longest common prefix, then order"
    );

    let err = "Aarch46".parse::<Target>().unwrap_err();
    assert_eq!(err.name, "Aarch46", "the name is reported as given");
    assert_eq!(err.suggestions[0], "aarch64");

    let err = "qemu-riscv46-static".parse::<Target>().unwrap_err();
    assert!(err.suggestions.contains(&"riscv64"), "{err:?}");

    let err = "definitely-not-an-arch".parse::<Target>().unwrap_err();
    assert_eq!(err.suggestions, Vec::<&str>::new());
}

#[test]
fn unknown_target_message() {
    let err = UnknownTarget {
        name: "armv9".into(),
        suggestions: vec!["armv7l", "armv6l", "arm64"],
    };
    assert_eq!(
        err.to_string(),
        "unknown target `armv9`; did you mean armv7l, armv6l or arm64? (`binfmtd table` lists every name)"
    );
    let err = UnknownTarget {
        name: "x".into(),
        suggestions: vec!["a", "b"],
    };
    assert_eq!(
        err.to_string(),
        "unknown target `x`; did you mean a or b? (`binfmtd table` lists every name)"
    );
    let err = UnknownTarget {
        name: "x".into(),
        suggestions: vec!["a"],
    };
    assert_eq!(
        err.to_string(),
        "unknown target `x`; did you mean a? (`binfmtd table` lists every name)"
    );
    let err = UnknownTarget {
        name: "x".into(),
        suggestions: vec![],
    };
    assert_eq!(
        err.to_string(),
        "unknown target `x` (`binfmtd table` lists every name)"
    );
    let _: &dyn std::error::Error = &err;
}

#[test]
fn levenshtein_distance() {
    assert_eq!(levenshtein("", ""), 0);
    assert_eq!(levenshtein("abc", ""), 3);
    assert_eq!(levenshtein("", "abc"), 3);
    assert_eq!(levenshtein("kitten", "sitting"), 3);
    assert_eq!(levenshtein("aarch46", "aarch64"), 2);
    assert_eq!(levenshtein("arm", "arm"), 0);
    assert_eq!(levenshtein("armv9", "armv7l"), 2);
}

#[test]
fn display_and_qemu_binary() {
    for target in Target::ALL {
        assert_eq!(target.to_string(), target.name());
        assert_eq!(Target::from_qemu_name(target.name()), Some(target));
        let expected = if target == Target::I486 {
            "qemu-i386".to_string()
        } else {
            format!("qemu-{target}")
        };
        assert_eq!(target.qemu_binary(), expected);
        assert_eq!(
            target.debian_arch(),
            target.debian_arches().first().copied()
        );
    }
    assert_eq!(Target::Arm.debian_arch(), Some("armhf"));
    assert_eq!(Target::Aarch64.platforms()[0], "linux/arm64");
    assert_eq!(Target::Arm.platforms()[0], "linux/arm/v7");
}
