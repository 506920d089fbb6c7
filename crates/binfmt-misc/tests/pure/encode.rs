//! `encode`: exact bytes, escaping, delimiter choice, the 1920-byte limit.

use binfmt_misc::{DELIMITERS, MAX_REGISTER_LEN, Matcher, RuleError, encode, escape_line};

use crate::common::{
    AARCH64_MAGIC, ELF_MASK, decode_register_line, decoded_rule, fixtures, magic, rule,
};

#[test]
fn aarch64_line_is_exact() {
    let r = rule(
        "qemu-aarch64",
        magic(0, AARCH64_MAGIC, Some(ELF_MASK)),
        "/usr/bin/qemu-aarch64-static",
        "FOP",
    );
    let want = concat!(
        r":qemu-aarch64:M:0:\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00",
        r":\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff",
        ":/usr/bin/qemu-aarch64-static:POF"
    );
    assert_eq!(String::from_utf8(encode(&r).unwrap()).unwrap(), want);
}

#[test]
fn extension_line_is_exact_and_has_empty_offset_and_mask() {
    let r = rule(
        "jar",
        Matcher::Extension("jar".into()),
        "/usr/bin/jexec",
        "",
    );
    assert_eq!(encode(&r).unwrap(), b":jar:E::jar::/usr/bin/jexec:");
}

#[test]
fn escapes_backslash_delimiter_space_and_non_ascii() {
    let r = rule("e", magic(3, b"a:b\\ c\x80\x7e\x7f", None), "/i", "");
    assert_eq!(
        encode(&r).unwrap(),
        br":e:M:3:a\x3ab\x5c\x20c\x80~\x7f::/i:"
    );
}

#[test]
fn picks_a_delimiter_absent_from_raw_fields() {
    // ':' in the interpreter: '#' is next, and a '#' in the magic is then escaped.
    let r = rule("x", magic(0, b"#:", None), "/opt/a:b", "F");
    assert_eq!(encode(&r).unwrap(), br"#x#M#0#\x23:##/opt/a:b#F");
    // ':' and '#' in the name and extension: ','.
    let r = rule("a:b#c", Matcher::Extension("x".into()), "/i", "");
    assert_eq!(encode(&r).unwrap(), b",a:b#c,E,,x,,/i,");
}

#[test]
fn no_usable_delimiter_is_an_error() {
    let interp = format!("/{}", String::from_utf8(DELIMITERS.to_vec()).unwrap());
    let r = rule("x", magic(0, b"a", None), &interp, "");
    assert!(matches!(encode(&r), Err(RuleError::NoDelimiter { name, .. }) if name == "x"));
    // One delimiter left is enough.
    let interp = format!(
        "/{}",
        String::from_utf8(DELIMITERS[..DELIMITERS.len() - 1].to_vec()).unwrap()
    );
    let line = encode(&rule("x", magic(0, b"a", None), &interp, "")).unwrap();
    assert_eq!(line[0], *DELIMITERS.last().unwrap());
}

#[test]
fn delimiters_are_never_flag_letters_or_escape_characters() {
    for d in DELIMITERS {
        assert!(
            !b"POCFMEx\\+-\n\0 ".contains(d) && !d.is_ascii_alphanumeric(),
            "{}",
            *d as char
        );
    }
}

#[test]
fn line_length_limit_is_1920_bytes() {
    // ":n:M:0:a::" is 10 bytes, then the interpreter, then ":" (flags empty).
    let fixed = ":n:M:0:a::".len() + 1;
    let at_limit = format!("/{}", "i".repeat(MAX_REGISTER_LEN - fixed - 1));
    let line = encode(&rule("n", magic(0, b"a", None), &at_limit, "")).unwrap();
    assert_eq!(line.len(), MAX_REGISTER_LEN);
    let over = format!("{at_limit}j");
    assert_eq!(
        encode(&rule("n", magic(0, b"a", None), &over, "")),
        Err(RuleError::LineTooLong {
            name: "n".into(),
            len: MAX_REGISTER_LEN + 1
        })
    );
    // A full 256-byte escaped magic and mask do not fit (kernel notes §1).
    let full = rule("n", magic(0, &[0u8; 256], Some(&[0xffu8; 256])), "/i", "");
    assert!(matches!(encode(&full), Err(RuleError::LineTooLong { .. })));
}

#[test]
fn invalid_rules_are_not_encoded() {
    let r = rule("register", magic(0, b"a", None), "/i", "");
    assert_eq!(
        encode(&r),
        Err(RuleError::ReservedName {
            name: "register".into()
        })
    );
}

#[test]
fn every_fixture_rule_decodes_back_to_itself() {
    for f in fixtures() {
        let line = encode(&f.rule).unwrap();
        let decoded = decode_register_line(&line).unwrap_or_else(|| panic!("{}: {line:?}", f.file));
        let mut back = decoded_rule(&decoded);
        back.flags = back.flags.normalized();
        assert_eq!(
            back,
            binfmt_misc::Rule {
                flags: f.rule.flags.normalized(),
                ..f.rule.clone()
            }
        );
    }
}

#[test]
fn escape_line_is_one_printable_line() {
    assert_eq!(
        escape_line(b":a:M::\x7fELF\n:\xff:/b c:"),
        r":a:M::\x7fELF\x0a:\xff:/b c:"
    );
}
