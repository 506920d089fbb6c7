//! The reverse of [`encode`](crate::encode()): a register line (as written to `register`, or a
//! line of a systemd `binfmt.d` file) back into a [`Rule`], decoded the way the kernel decodes it
//! (`bm_register_write`, kernel notes §1): the first byte is the delimiter, magic and mask use
//! `\xHH` escapes, an empty offset is 0, an empty mask means none.

use crate::flags::Flags;
use crate::matcher::Matcher;
use crate::rule::Rule;

/// Why a register line cannot be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a binfmt_misc register line ({reason}): {line}")]
pub struct DecodeError {
    /// The line, lossily.
    pub line: String,
    /// What is wrong.
    pub reason: &'static str,
}

/// Parses one register line (a trailing `\n` is allowed). The result is not validated beyond
/// what decoding needs: call [`Rule::validate`] for the kernel's rules.
pub fn decode(line: &[u8]) -> Result<Rule, DecodeError> {
    let err = |reason| DecodeError {
        line: String::from_utf8_lossy(line).into_owned(),
        reason,
    };
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let (&delim, rest) = line.split_first().ok_or_else(|| err("empty"))?;
    let fields: Vec<&[u8]> = rest.split(|b| *b == delim).collect();
    let [name, kind, offset, magic, mask, interpreter, flags] = fields.as_slice() else {
        return Err(err("it needs 7 fields"));
    };
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).map_err(|_| err("not UTF-8"));
    let matcher = match *kind {
        b"M" => {
            let offset = if offset.is_empty() {
                0
            } else {
                text(offset)?
                    .parse::<usize>()
                    .map_err(|_| err("bad offset"))?
            };
            let magic = unescape(magic).ok_or_else(|| err("bad \\x escape in the magic"))?;
            let mask = if mask.is_empty() {
                None
            } else {
                Some(unescape(mask).ok_or_else(|| err("bad \\x escape in the mask"))?)
            };
            Matcher::Magic {
                offset,
                magic,
                mask,
            }
        }
        b"E" => Matcher::Extension(text(magic)?),
        _ => return Err(err("the type is neither M nor E")),
    };
    Ok(Rule {
        name: text(name)?,
        matcher,
        interpreter: text(interpreter)?.into(),
        flags: text(flags)?
            .parse::<Flags>()
            .map_err(|_| err("unknown flag"))?,
    })
}

/// `\xHH` → the byte; everything else literal (`string_unescape_inplace(UNESCAPE_HEX)`).
fn unescape(field: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        if field[i] == b'\\' && field.get(i + 1) == Some(&b'x') {
            let hex = field.get(i + 2..i + 4)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 4;
        } else {
            out.push(field[i]);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_bookworm_line() {
        let line = br":qemu-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/libexec/qemu-binfmt/aarch64-binfmt-P:OPF";
        let rule = decode(line).unwrap();
        assert_eq!(rule.name, "qemu-aarch64");
        assert_eq!(
            rule.interpreter,
            std::path::PathBuf::from("/usr/libexec/qemu-binfmt/aarch64-binfmt-P")
        );
        assert_eq!(rule.flags.to_string(), "POF");
        let Matcher::Magic {
            offset,
            magic,
            mask,
        } = &rule.matcher
        else {
            panic!("magic expected")
        };
        assert_eq!(*offset, 0);
        assert_eq!(&magic[..4], b"\x7fELF");
        assert_eq!(magic.len(), 20);
        assert_eq!(mask.as_ref().map(Vec::len), Some(20));
        rule.validate().unwrap();
    }

    #[test]
    fn round_trips_encode() {
        let rule = Rule {
            name: "t".into(),
            matcher: Matcher::Magic {
                offset: 3,
                magic: b"a:\\\x00\xff".to_vec(),
                mask: Some(vec![0xff, 0, 0xff, 0xfe, 0x3a]),
            },
            interpreter: "/bin/x".into(),
            flags: "PF".parse().unwrap(),
        };
        let line = crate::encode(&rule).unwrap();
        assert_eq!(decode(&line).unwrap(), rule);
        let ext = Rule {
            name: "py".into(),
            matcher: Matcher::Extension("pyc".into()),
            interpreter: "/usr/bin/python3".into(),
            flags: Flags::NONE,
        };
        assert_eq!(decode(&crate::encode(&ext).unwrap()).unwrap(), ext);
    }

    #[test]
    fn rejects_what_is_not_a_line() {
        for bad in [
            &b""[..],
            b":a:M::\\x7f",
            b":a:X::ab::/bin/x:",
            b":a:M::\\xZZ::/bin/x:",
            b":a:M:z:ab::/bin/x:",
            b":a:M::ab::/bin/x:Q",
        ] {
            assert!(decode(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
