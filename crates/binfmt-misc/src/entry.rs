//! The pure parser of entry files (`<mount>/<name>`) and the comparison of an entry with a rule.
//!
//! The kernel prints (kernel notes §2):
//! ```text
//! enabled|disabled
//! interpreter <path, raw bytes>
//! flags: <subset of POCF, possibly empty>
//! offset <decimal>        (type M)
//! magic <lowercase hex>   (type M)
//! mask <lowercase hex>    (type M, only when a mask was given)
//! extension .<ext>        (type E, instead of the three lines above)
//! ```

use std::ffi::OsStr;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::flags::Flags;
use crate::rule::{Matcher, Rule};

/// A parsed entry file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The entry (file) name.
    pub name: String,
    /// First line `enabled` (rather than `disabled`).
    pub enabled: bool,
    /// The interpreter path as the kernel prints it (stale after a rename for `F` entries).
    pub interpreter: PathBuf,
    /// The flags as read back (already normalized by the kernel: `C` implies `O`).
    pub flags: Flags,
    /// What the entry matches.
    pub matcher: Matcher,
}

/// Why an entry file could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The first line is neither `enabled` nor `disabled`.
    #[error("first line is {line:?}, expected \"enabled\" or \"disabled\"")]
    Status {
        /// The first line, lossily decoded.
        line: String,
    },
    /// A required line is missing.
    #[error("no {field:?} line")]
    Missing {
        /// The missing line's keyword.
        field: &'static str,
    },
    /// A line's value could not be decoded.
    #[error("bad {field:?} line {line:?}")]
    Bad {
        /// The keyword of the line.
        field: &'static str,
        /// The whole line, lossily decoded.
        line: String,
    },
}

/// One way in which an entry differs from the rule it should implement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Difference {
    /// The entry is disabled.
    Disabled,
    /// The interpreter path differs.
    Interpreter,
    /// The flags differ (compared normalized).
    Flags,
    /// The type, offset, magic, mask or extension differs.
    Matcher,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Difference::Disabled => "disabled",
            Difference::Interpreter => "interpreter differs",
            Difference::Flags => "flags differ",
            Difference::Matcher => "magic/mask differs",
        })
    }
}

/// Parses the content of `<mount>/<name>`.
///
/// Lenient as the kernel notes ask: `flags:` may have nothing after it, `mask` is optional, the
/// interpreter is the raw rest of its line, hex may be in either case, unknown lines are ignored
/// (future kernels may add some), and a missing `offset` means 0.
pub fn parse_entry(name: &str, content: &[u8]) -> Result<Entry, ParseError> {
    let mut lines = content.split(|&b| b == b'\n');
    let first = lines.next().unwrap_or_default();
    let enabled = match first {
        b"enabled" => true,
        b"disabled" => false,
        other => return Err(ParseError::Status { line: lossy(other) }),
    };
    let (mut interpreter, mut flags, mut offset) = (None, None, None);
    let (mut magic, mut mask, mut extension) = (None, None, None);
    for line in lines {
        let bad = |field| ParseError::Bad {
            field,
            line: lossy(line),
        };
        if let Some(rest) = line.strip_prefix(b"interpreter ") {
            interpreter = Some(PathBuf::from(OsStr::from_bytes(rest)));
        } else if let Some(rest) = line.strip_prefix(b"flags:") {
            let text = std::str::from_utf8(rest.trim_ascii()).map_err(|_| bad("flags"))?;
            flags = Some(text.parse::<Flags>().map_err(|_| bad("flags"))?);
        } else if let Some(rest) = line.strip_prefix(b"offset ") {
            let text = std::str::from_utf8(rest.trim_ascii()).map_err(|_| bad("offset"))?;
            offset = Some(text.parse::<usize>().map_err(|_| bad("offset"))?);
        } else if let Some(rest) = line.strip_prefix(b"magic ") {
            magic = Some(from_hex(rest.trim_ascii()).ok_or_else(|| bad("magic"))?);
        } else if let Some(rest) = line.strip_prefix(b"mask ") {
            mask = Some(from_hex(rest.trim_ascii()).ok_or_else(|| bad("mask"))?);
        } else if let Some(rest) = line.strip_prefix(b"extension ") {
            let rest = rest.strip_prefix(b".").unwrap_or(rest);
            let text = std::str::from_utf8(rest).map_err(|_| bad("extension"))?;
            extension = Some(text.to_string());
        }
    }
    let matcher = match (magic, extension) {
        (Some(magic), _) => Matcher::Magic {
            offset: offset.unwrap_or(0),
            magic,
            mask,
        },
        (None, Some(ext)) => Matcher::Extension(ext),
        (None, None) => return Err(ParseError::Missing { field: "magic" }),
    };
    Ok(Entry {
        name: name.to_string(),
        enabled,
        interpreter: interpreter.ok_or(ParseError::Missing {
            field: "interpreter",
        })?,
        flags: flags.ok_or(ParseError::Missing { field: "flags" })?,
        matcher,
    })
}

impl Entry {
    /// The entry the kernel shows right after `rule` was registered: enabled, flags normalized.
    pub fn from_rule(rule: &Rule) -> Entry {
        Entry {
            name: rule.name.clone(),
            enabled: true,
            interpreter: rule.interpreter.clone(),
            flags: rule.flags.normalized(),
            matcher: rule.matcher.clone(),
        }
    }

    /// The entry file as the kernel prints it (`bm_entry_read`).
    pub fn to_kernel_text(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        out.extend_from_slice(if self.enabled {
            b"enabled\n"
        } else {
            b"disabled\n"
        });
        out.extend_from_slice(b"interpreter ");
        out.extend_from_slice(self.interpreter.as_os_str().as_bytes());
        out.extend_from_slice(format!("\nflags: {}\n", self.flags.normalized()).as_bytes());
        match &self.matcher {
            Matcher::Magic {
                offset,
                magic,
                mask,
            } => {
                out.extend_from_slice(
                    format!("offset {offset}\nmagic {}\n", to_hex(magic)).as_bytes(),
                );
                if let Some(mask) = mask {
                    out.extend_from_slice(format!("mask {}\n", to_hex(mask)).as_bytes());
                }
            }
            Matcher::Extension(ext) => {
                out.extend_from_slice(format!("extension .{ext}\n").as_bytes())
            }
        }
        out
    }

    /// How this entry differs from what the kernel would show for `rule`; empty means the entry is
    /// exactly `rule` and enabled. The name is not compared.
    ///
    /// Flags are compared normalized. The matcher is compared exactly as the kernel reads it back:
    /// a mask of all `0xff` and no mask are different (the kernel prints a `mask` line only for the
    /// former), and so are bits of the magic that the mask ignores.
    pub fn differences(&self, rule: &Rule) -> Vec<Difference> {
        let mut out = Vec::new();
        if !self.enabled {
            out.push(Difference::Disabled);
        }
        if self.interpreter != rule.interpreter {
            out.push(Difference::Interpreter);
        }
        if self.flags.normalized() != rule.flags.normalized() {
            out.push(Difference::Flags);
        }
        if self.matcher != rule.matcher {
            out.push(Difference::Matcher);
        }
        out
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(text: &[u8]) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    text.chunks(2)
        .map(|pair| {
            let digits = std::str::from_utf8(pair).ok()?;
            u8::from_str_radix(digits, 16).ok()
        })
        .collect()
}
