//! `Rule::validate`: every rule of kernel notes §1 and §12.1, plus binfmtd's stricter ones.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use binfmt_misc::{Matcher, Rule, RuleError, encode, validate_name};

use crate::common::{magic, rule};

fn ok_rule() -> Rule {
    rule("ok", magic(0, b"\x7fELF", None), "/usr/bin/qemu-x", "F")
}

fn with_name(name: &str) -> Rule {
    Rule {
        name: name.into(),
        ..ok_rule()
    }
}

fn with_matcher(m: Matcher) -> Rule {
    Rule {
        matcher: m,
        ..ok_rule()
    }
}

fn with_interp(bytes: &[u8]) -> Rule {
    Rule {
        interpreter: PathBuf::from(OsStr::from_bytes(bytes)),
        ..ok_rule()
    }
}

#[test]
fn a_valid_rule_passes() {
    assert_eq!(ok_rule().validate(), Ok(()));
}

#[test]
fn name_rules() {
    assert_eq!(with_name("").validate(), Err(RuleError::EmptyName));
    for dots in [".", ".."] {
        assert_eq!(
            with_name(dots).validate(),
            Err(RuleError::DotName { name: dots.into() })
        );
    }
    for reserved in ["status", "register"] {
        assert_eq!(
            with_name(reserved).validate(),
            Err(RuleError::ReservedName {
                name: reserved.into()
            })
        );
    }
    assert_eq!(
        with_name("a/b").validate(),
        Err(RuleError::NameHasSlash { name: "a/b".into() })
    );
    for (name, ch) in [
        ("a b", ' '),
        ("a\nb", '\n'),
        ("a\tb", '\t'),
        ("a\u{7f}", '\u{7f}'),
    ] {
        assert_eq!(
            with_name(name).validate(),
            Err(RuleError::NameHasBadChar {
                name: name.into(),
                ch
            })
        );
    }
    // The kernel accepts these, and so do we.
    for name in [".hidden", "qemu-aarch64", "x86_64", "Ünïcode", "a.b-c_d+e"] {
        assert_eq!(with_name(name).validate(), Ok(()), "{name}");
    }
}

#[test]
fn name_length_is_counted_in_bytes() {
    assert_eq!(with_name(&"a".repeat(255)).validate(), Ok(()));
    let long = "a".repeat(256);
    assert_eq!(
        with_name(&long).validate(),
        Err(RuleError::NameTooLong {
            name: long.clone(),
            len: 256
        })
    );
    // 128 two-byte characters: 128 chars but 256 bytes.
    let wide = "é".repeat(128);
    assert_eq!(
        with_name(&wide).validate(),
        Err(RuleError::NameTooLong {
            name: wide.clone(),
            len: 256
        })
    );
    assert_eq!(validate_name(&"é".repeat(127)), Ok(()));
}

#[test]
fn magic_and_mask_rules() {
    let name = || "ok".to_string();
    assert_eq!(
        with_matcher(magic(0, b"", None)).validate(),
        Err(RuleError::EmptyMagic { name: name() })
    );
    assert_eq!(
        with_matcher(magic(0, b"ab", Some(b"\xff"))).validate(),
        Err(RuleError::MaskLength {
            name: name(),
            magic_len: 2,
            mask_len: 1
        })
    );
    assert_eq!(
        with_matcher(magic(0, b"ab", Some(b""))).validate(),
        Err(RuleError::MaskLength {
            name: name(),
            magic_len: 2,
            mask_len: 0
        })
    );
}

#[test]
fn offset_plus_size_fits_the_256_byte_buffer() {
    for (offset, len) in [(0, 256), (255, 1), (128, 128), (0, 1)] {
        let r = with_matcher(magic(offset, &vec![b'a'; len], None));
        assert_eq!(r.validate(), Ok(()), "{len} bytes at {offset} fit");
    }
    for (offset, len) in [(0, 257), (1, 256), (256, 1), (129, 128), (usize::MAX, 1)] {
        let r = with_matcher(magic(offset, &vec![b'a'; len], None));
        assert!(
            matches!(r.validate(), Err(RuleError::MagicOutOfBuffer { offset: o, .. }) if o == offset),
            "{len} bytes at {offset} must be rejected: {:?}",
            r.validate()
        );
    }
}

#[test]
fn extension_rules() {
    let name = || "ok".to_string();
    assert_eq!(
        with_matcher(Matcher::Extension(String::new())).validate(),
        Err(RuleError::EmptyExtension { name: name() })
    );
    for (ext, ch) in [("a/b", '/'), ("tar.gz", '.'), ("a b", ' '), ("a\nb", '\n')] {
        assert_eq!(
            with_matcher(Matcher::Extension(ext.into())).validate(),
            Err(RuleError::BadExtension {
                name: name(),
                extension: ext.into(),
                ch
            })
        );
    }
    assert_eq!(
        with_matcher(Matcher::Extension("jar".into())).validate(),
        Ok(())
    );
}

#[test]
fn interpreter_rules() {
    let name = || "ok".to_string();
    assert_eq!(
        with_interp(b"").validate(),
        Err(RuleError::EmptyInterpreter { name: name() })
    );
    assert_eq!(
        with_interp(b"qemu-aarch64").validate(),
        Err(RuleError::RelativeInterpreter {
            name: name(),
            interpreter: "qemu-aarch64".into()
        })
    );
    for bad in [&b"/usr/bin/a\nb"[..], b"/usr/bin/a\0b"] {
        assert!(matches!(
            with_interp(bad).validate(),
            Err(RuleError::BadInterpreter { .. })
        ));
    }
    // Spaces, delimiters and non-UTF-8 bytes are fine (encode picks another delimiter).
    for good in [&b"/opt/my qemu/x"[..], b"/a:b#c", b"/opt/\xff\xfe"] {
        assert_eq!(with_interp(good).validate(), Ok(()));
    }
}

#[test]
fn messages_name_the_rule_and_the_fix() {
    let cases = [
        with_name("status").validate().unwrap_err(),
        with_matcher(magic(250, b"0123456789", None))
            .validate()
            .unwrap_err(),
        with_matcher(magic(0, b"ab", Some(b"\xff")))
            .validate()
            .unwrap_err(),
        with_interp(b"relative").validate().unwrap_err(),
        encode(&with_interp(format!("/{}", "a".repeat(1950)).as_bytes())).unwrap_err(),
    ];
    for err in cases {
        let msg = err.to_string();
        assert!(
            msg.contains("\"ok\"") || msg.contains("\"status\""),
            "names the rule: {msg}"
        );
        assert!(msg.contains(": "), "says the fix after a colon: {msg}");
        assert!(
            !msg.ends_with('.') && !msg.contains('\n'),
            "one line, no period: {msg}"
        );
        assert!(
            msg.starts_with(|c: char| c.is_lowercase()),
            "lowercase: {msg}"
        );
    }
}
