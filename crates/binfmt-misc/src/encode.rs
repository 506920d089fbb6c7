//! The pure encoder: a [`Rule`] becomes the exact bytes written to `<mount>/register`.
//!
//! Grammar (kernel notes §1): `<d>name<d>type<d>offset<d>magic<d>mask<d>interpreter<d>flags`,
//! where `<d>` is the first byte. Magic and mask are decoded by the kernel with only `\xHH`
//! escapes; the name, the extension and the interpreter are taken raw, so the delimiter is chosen
//! among [`DELIMITERS`] so that it occurs in none of them.

use std::os::unix::ffi::OsStrExt;

use crate::rule::{MAX_REGISTER_LEN, Matcher, Rule, RuleError};

/// The delimiters tried, in order. None is a flag letter (the kernel rejects `P`, `O`, `C`, `F`),
/// a type letter, a digit, a sign, a hex digit, `x` or `\` (which appear in offsets and escapes).
pub const DELIMITERS: &[u8] = b":#,|;!@%~=^&";

/// Encodes `rule` as one register line (no trailing newline), after [`Rule::validate`].
///
/// Every magic and mask byte that is not a printable, non-space ASCII character, and every `\`
/// and delimiter byte, is written as `\xHH`. The offset is always written in decimal (`0` too);
/// an extension rule has empty offset and mask fields.
///
/// ```
/// use binfmt_misc::{encode, Flags, Matcher, Rule};
/// let rule = Rule {
///     name: "demo".into(),
///     matcher: Matcher::Magic { offset: 0, magic: b"\x7fELF".to_vec(), mask: None },
///     interpreter: "/usr/bin/demo".into(),
///     flags: "F".parse()?,
/// };
/// assert_eq!(encode(&rule)?, b":demo:M:0:\\x7fELF::/usr/bin/demo:F");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn encode(rule: &Rule) -> Result<Vec<u8>, RuleError> {
    rule.validate()?;
    let delim = choose_delimiter(rule)?;
    let mut line = Vec::with_capacity(128);
    line.push(delim);
    line.extend_from_slice(rule.name.as_bytes());
    line.push(delim);
    match &rule.matcher {
        Matcher::Magic {
            offset,
            magic,
            mask,
        } => {
            line.push(b'M');
            line.push(delim);
            line.extend_from_slice(offset.to_string().as_bytes());
            line.push(delim);
            escape_into(&mut line, magic, delim);
            line.push(delim);
            if let Some(mask) = mask {
                escape_into(&mut line, mask, delim);
            }
        }
        Matcher::Extension(ext) => {
            line.push(b'E');
            line.push(delim);
            line.push(delim);
            line.extend_from_slice(ext.as_bytes());
            line.push(delim);
        }
    }
    line.push(delim);
    line.extend_from_slice(rule.interpreter.as_os_str().as_bytes());
    line.push(delim);
    line.extend_from_slice(rule.flags.to_string().as_bytes());
    if line.len() > MAX_REGISTER_LEN {
        return Err(RuleError::LineTooLong {
            name: rule.name.clone(),
            len: line.len(),
        });
    }
    Ok(line)
}

/// Renders a register line for humans (logs, error messages): printable ASCII as is, every other
/// byte as `\xHH`, so the result is one line that can be pasted back into `printf '%s'`.
pub fn escape_line(line: &[u8]) -> String {
    let mut out = String::with_capacity(line.len());
    for &b in line {
        if b.is_ascii_graphic() || b == b' ' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

fn choose_delimiter(rule: &Rule) -> Result<u8, RuleError> {
    let ext = match &rule.matcher {
        Matcher::Extension(ext) => ext.as_bytes(),
        Matcher::Magic { .. } => b"",
    };
    let raw = [
        rule.name.as_bytes(),
        ext,
        rule.interpreter.as_os_str().as_bytes(),
    ];
    DELIMITERS
        .iter()
        .copied()
        .find(|d| raw.iter().all(|field| !field.contains(d)))
        .ok_or_else(|| RuleError::NoDelimiter {
            name: rule.name.clone(),
            tried: String::from_utf8_lossy(DELIMITERS).into_owned(),
        })
}

fn escape_into(out: &mut Vec<u8>, bytes: &[u8], delim: u8) {
    for &b in bytes {
        if b.is_ascii_graphic() && b != b'\\' && b != delim {
            out.push(b);
        } else {
            out.extend_from_slice(format!("\\x{b:02x}").as_bytes());
        }
    }
}
