//! `parse_entry` on the files captured from Linux 6.18, lenient cases, errors, and `differences`.

use binfmt_misc::{Difference, Entry, Flags, Matcher, ParseError, parse_entry};

use crate::common::{AARCH64_MAGIC, ELF_MASK, entries_dir, fixtures, magic, rule};

#[test]
fn captured_entries_parse_to_their_rules() {
    let fixtures = fixtures();
    let files = std::fs::read_dir(entries_dir()).unwrap().count();
    assert_eq!(
        files,
        fixtures.len() + 1,
        "every captured file has a fixture (plus capture.sh)"
    );
    for f in fixtures {
        let content = std::fs::read(entries_dir().join(f.file)).unwrap();
        let entry = parse_entry(f.file, &content).unwrap();
        let want = Entry {
            enabled: f.enabled,
            ..Entry::from_rule(&f.rule)
        };
        assert_eq!(entry, want, "{}", f.file);
        // And we print exactly what the kernel printed.
        assert_eq!(want.to_kernel_text(), content, "{}", f.file);
        let expected_diff = if f.enabled {
            vec![]
        } else {
            vec![Difference::Disabled]
        };
        assert_eq!(entry.differences(&f.rule), expected_diff, "{}", f.file);
    }
}

#[test]
fn lenient_parsing() {
    // No space after "flags:", no mask, an unknown line, uppercase hex, no trailing newline,
    // no offset line.
    let text = b"enabled\ninterpreter /usr/bin/x y\nflags:\nfuture stuff 1\nmagic 7F454C46";
    let e = parse_entry("n", text).unwrap();
    assert_eq!(e.flags, Flags::NONE);
    assert_eq!(e.interpreter.to_str(), Some("/usr/bin/x y"));
    assert_eq!(e.matcher, magic(0, b"\x7fELF", None));
    // Raw non-UTF-8 interpreter bytes survive.
    let e = parse_entry(
        "n",
        b"disabled\ninterpreter /a\xff\nflags: F\nextension .jar\n",
    )
    .unwrap();
    assert!(!e.enabled);
    assert_eq!(
        std::os::unix::ffi::OsStrExt::as_bytes(e.interpreter.as_os_str()),
        b"/a\xff"
    );
    assert_eq!(e.matcher, Matcher::Extension("jar".into()));
}

#[test]
fn parse_errors() {
    let cases: [(&[u8], ParseError); 6] = [
        (
            b"",
            ParseError::Status {
                line: String::new(),
            },
        ),
        (
            b"maybe\n",
            ParseError::Status {
                line: "maybe".into(),
            },
        ),
        (
            b"enabled\nflags: F\nmagic 00\n",
            ParseError::Missing {
                field: "interpreter",
            },
        ),
        (
            b"enabled\ninterpreter /a\nmagic 00\n",
            ParseError::Missing { field: "flags" },
        ),
        (
            b"enabled\ninterpreter /a\nflags: \n",
            ParseError::Missing { field: "magic" },
        ),
        (
            b"enabled\ninterpreter /a\nflags: X\n",
            ParseError::Bad {
                field: "flags",
                line: "flags: X".into(),
            },
        ),
    ];
    for (text, want) in cases {
        assert_eq!(
            parse_entry("n", text),
            Err(want),
            "{:?}",
            String::from_utf8_lossy(text)
        );
    }
    for bad in [&b"magic 7"[..], b"magic zz", b"magic +f", b"mask 0g"] {
        let mut text = b"enabled\ninterpreter /a\nflags: \n".to_vec();
        text.extend_from_slice(bad);
        assert!(
            matches!(parse_entry("n", &text), Err(ParseError::Bad { .. })),
            "{bad:?}"
        );
    }
    assert!(matches!(
        parse_entry(
            "n",
            b"enabled\ninterpreter /a\nflags: \noffset -1\nmagic 00\n"
        ),
        Err(ParseError::Bad {
            field: "offset",
            ..
        })
    ));
}

#[test]
fn differences_each_kind() {
    let r = rule(
        "a",
        magic(0, AARCH64_MAGIC, Some(ELF_MASK)),
        "/usr/bin/qemu-aarch64",
        "POF",
    );
    let base = Entry::from_rule(&r);
    assert!(base.differences(&r).is_empty());
    let disabled = Entry {
        enabled: false,
        ..base.clone()
    };
    assert_eq!(disabled.differences(&r), [Difference::Disabled]);
    let interp = Entry {
        interpreter: "/usr/bin/qemu-aarch64-static".into(),
        ..base.clone()
    };
    assert_eq!(interp.differences(&r), [Difference::Interpreter]);
    let flags = Entry {
        flags: "PF".parse().unwrap(),
        ..base.clone()
    };
    assert_eq!(flags.differences(&r), [Difference::Flags]);
    let no_mask = Entry {
        matcher: magic(0, AARCH64_MAGIC, None),
        ..base.clone()
    };
    assert_eq!(no_mask.differences(&r), [Difference::Matcher]);
    let ext = Entry {
        matcher: Matcher::Extension("x".into()),
        ..base.clone()
    };
    assert_eq!(ext.differences(&r), [Difference::Matcher]);
    let shifted = Entry {
        matcher: magic(1, AARCH64_MAGIC, Some(ELF_MASK)),
        ..base.clone()
    };
    assert_eq!(shifted.differences(&r), [Difference::Matcher]);
    let all = Entry {
        enabled: false,
        interpreter: "/x".into(),
        flags: Flags::NONE,
        matcher: magic(0, b"a", None),
        ..base
    };
    assert_eq!(
        all.differences(&r),
        [
            Difference::Disabled,
            Difference::Interpreter,
            Difference::Flags,
            Difference::Matcher
        ]
    );
}

#[test]
fn all_ff_mask_differs_from_no_mask_and_c_equals_oc() {
    let no_mask = rule("a", magic(0, b"ab", None), "/i", "C");
    let ff_mask = rule("a", magic(0, b"ab", Some(b"\xff\xff")), "/i", "OC");
    assert_eq!(
        Entry::from_rule(&ff_mask).differences(&no_mask),
        [Difference::Matcher]
    );
    // Rule "C" and an entry reading back "OC" are the same flags.
    let entry = parse_entry(
        "a",
        b"enabled\ninterpreter /i\nflags: OC\noffset 0\nmagic 6162\n",
    )
    .unwrap();
    assert!(entry.differences(&no_mask).is_empty());
}

#[test]
fn difference_display() {
    let shown: Vec<String> = [
        Difference::Disabled,
        Difference::Interpreter,
        Difference::Flags,
        Difference::Matcher,
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    assert_eq!(
        shown,
        [
            "disabled",
            "interpreter differs",
            "flags differ",
            "magic/mask differs"
        ]
    );
}
