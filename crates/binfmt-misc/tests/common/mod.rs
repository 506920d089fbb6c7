//! Shared by the pure and the kernel tests: the rules behind the captured entry files in
//! `testdata/entries`, and a decoder of register lines that follows the kernel's parser.

#![allow(dead_code)] // Each test binary uses a different part.

use std::path::{Path, PathBuf};

use binfmt_misc::{Flags, Matcher, Rule};

/// The directory of captured entry files.
pub(crate) fn entries_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/entries")
}

/// A captured entry file and the rule that produces it.
pub(crate) struct Fixture {
    /// File name in `testdata/entries` (and entry name).
    pub(crate) file: &'static str,
    /// The equivalent rule.
    pub(crate) rule: Rule,
    /// Whether the entry is enabled in the capture.
    pub(crate) enabled: bool,
}

pub(crate) const AARCH64_MAGIC: &[u8] =
    b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00";
pub(crate) const RISCV64_MAGIC: &[u8] =
    b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xf3\x00";
pub(crate) const ELF_MASK: &[u8] =
    b"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff";

pub(crate) fn magic(offset: usize, magic: &[u8], mask: Option<&[u8]>) -> Matcher {
    Matcher::Magic {
        offset,
        magic: magic.to_vec(),
        mask: mask.map(<[u8]>::to_vec),
    }
}

pub(crate) fn rule(name: &str, matcher: Matcher, interpreter: &str, flags: &str) -> Rule {
    Rule {
        name: name.into(),
        matcher,
        interpreter: interpreter.into(),
        flags: flags.parse::<Flags>().unwrap(),
    }
}

/// The rules `testdata/entries/capture.sh` registers (with other spellings of the same thing).
pub(crate) fn fixtures() -> Vec<Fixture> {
    let f = |file, rule, enabled| Fixture {
        file,
        rule,
        enabled,
    };
    vec![
        f(
            "qemu-aarch64",
            rule(
                "qemu-aarch64",
                magic(0, AARCH64_MAGIC, Some(ELF_MASK)),
                "/usr/bin/qemu-aarch64-static",
                "POCF",
            ),
            true,
        ),
        f(
            "qemu-riscv64",
            rule(
                "qemu-riscv64",
                magic(0, RISCV64_MAGIC, Some(ELF_MASK)),
                "/usr/bin/qemu-riscv64-static",
                "POF",
            ),
            true,
        ),
        f(
            "nomask",
            rule("nomask", magic(0, b"ab", None), "/bin/true", ""),
            false,
        ),
        f(
            "offset",
            rule(
                "offset",
                magic(100, b"\x00\xff\x3a\x5c", Some(b"\x0f\xf0\xff\xff")),
                "/nonexistent/interp",
                "C",
            ),
            true,
        ),
        f(
            "ext-jar",
            rule(
                "ext-jar",
                Matcher::Extension("jar".into()),
                "/usr/bin/jexec",
                "",
            ),
            true,
        ),
        f(
            "ext-ignored",
            rule(
                "ext-ignored",
                Matcher::Extension("py".into()),
                "/usr/bin/python3",
                "P",
            ),
            true,
        ),
        f(
            "colon-in-magic",
            rule(
                "colon-in-magic",
                magic(2, b"::", None),
                "/tmp/path:with:colons",
                "",
            ),
            true,
        ),
        f(
            "spaces",
            rule("spaces", magic(0, b"x", None), "/tmp/a b c", "O"),
            true,
        ),
        f(
            "raw-high",
            rule("raw-high", magic(0, b"\xfe\xff", None), "/bin/true", ""),
            true,
        ),
        f(
            "full",
            rule("full", magic(255, b"\x7f", None), "/bin/true", ""),
            true,
        ),
    ]
}

/// A register line decoded the way `create_entry` in `fs/binfmt_misc.c` does it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decoded {
    pub(crate) name: Vec<u8>,
    pub(crate) kind: u8,
    pub(crate) offset: usize,
    pub(crate) magic: Vec<u8>,
    pub(crate) mask: Option<Vec<u8>>,
    pub(crate) interpreter: Vec<u8>,
    pub(crate) flags: Vec<u8>,
}

/// Splits on the first byte, then decodes `\xHH` in magic and mask (type M only). Returns `None`
/// where the kernel would answer EINVAL.
pub(crate) fn decode_register_line(line: &[u8]) -> Option<Decoded> {
    let (&delim, rest) = line.split_first()?;
    if b"POCF".contains(&delim) {
        return None;
    }
    let fields: Vec<&[u8]> = rest.split(|&b| b == delim).collect();
    let [name, kind, offset, magic, mask, interpreter, flags] = fields.as_slice() else {
        return None;
    };
    let kind = match kind {
        [k @ (b'M' | b'E')] => *k,
        _ => return None,
    };
    if name.is_empty() || *name == b"." || *name == b".." || name.contains(&b'/') {
        return None;
    }
    let (offset, magic, mask) = if kind == b'M' {
        let offset = if offset.is_empty() {
            0
        } else {
            std::str::from_utf8(offset).ok()?.parse().ok()?
        };
        let mask = if mask.is_empty() {
            None
        } else {
            Some(unescape(mask)?)
        };
        (offset, unescape(magic)?, mask)
    } else {
        (0, magic.to_vec(), None)
    };
    if magic.is_empty() || interpreter.is_empty() || flags.iter().any(|b| !b"POCF".contains(b)) {
        return None;
    }
    Some(Decoded {
        name: name.to_vec(),
        kind,
        offset,
        magic,
        mask,
        interpreter: interpreter.to_vec(),
        flags: flags.to_vec(),
    })
}

fn unescape(field: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < field.len() {
        if field[i] == b'\\' && field.get(i + 1) == Some(&b'x') {
            let digits = field.get(i + 2..i + 4)?;
            if !digits.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            let hex = std::str::from_utf8(digits).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 4;
        } else {
            out.push(field[i]);
            i += 1;
        }
    }
    Some(out)
}

/// The rule a decoded line describes (interpreter and name as UTF-8 / raw bytes).
pub(crate) fn decoded_rule(d: &Decoded) -> Rule {
    use std::os::unix::ffi::OsStrExt;
    let matcher = if d.kind == b'M' {
        Matcher::Magic {
            offset: d.offset,
            magic: d.magic.clone(),
            mask: d.mask.clone(),
        }
    } else {
        Matcher::Extension(String::from_utf8(d.magic.clone()).unwrap())
    };
    Rule {
        name: String::from_utf8(d.name.clone()).unwrap(),
        matcher,
        interpreter: std::ffi::OsStr::from_bytes(&d.interpreter).into(),
        flags: std::str::from_utf8(&d.flags).unwrap().parse().unwrap(),
    }
}
