//! `ConfigError` and the positions it carries: one line, `<file>:<line>:<col>: <what>; <fix>`.
//!
//! serde and toml report problems as free text with a byte span; [`Source`] turns the span into a
//! line and column and [`describe_toml`] rewrites the common serde phrasings (unknown field,
//! invalid type, unknown variant, missing field) into the `<what>; <fix>` shape, naming the key.

use std::fmt;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A configuration that cannot be used. Every message is a single line naming the file (with line
/// and column when the problem is inside it) and saying what to change.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file or directory could not be read (missing `--config` file, permissions…).
    #[error("{}: cannot read configuration: {source}; check the path and its permissions", path.display())]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// `--config` (or a drop-in) names a directory, FIFO, socket or device.
    #[error("{}: not a regular file ({kind}); point --config at a TOML file", path.display())]
    NotRegular {
        /// The path.
        path: PathBuf,
        /// What it is instead, in words (`a FIFO`).
        kind: &'static str,
    },
    /// The file is larger than any configuration (a wrong path, a log).
    #[error(
        "{}: too large for a configuration file ({size} bytes, at most {} accepted); check the path",
        path.display(),
        super::file::MAX_SIZE
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size in bytes.
        size: u64,
    },
    /// The file is not UTF-8 text.
    #[error(
        "{}:{line}:{column}: line {line} is not valid UTF-8; save the file as UTF-8",
        path.display()
    )]
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// 1-based line of the first invalid byte.
        line: usize,
        /// 1-based column (in characters) of the first invalid byte.
        column: usize,
    },
    /// The file was read but its content is wrong: syntax, unknown key, wrong type, bad value.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Invalid {
        /// The file (or `<embedded default>`).
        path: PathBuf,
        /// 1-based line of the offending text.
        line: usize,
        /// 1-based column (in characters) of the offending text.
        column: usize,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// After merging every layer a required key still has no value (only a broken embedded
    /// default can cause this).
    #[error("configuration key `{key}` has no value; set it in the configuration file")]
    Incomplete {
        /// The key, e.g. `install_dir`.
        key: &'static str,
    },
}

impl ConfigError {
    /// The file, line and column of an [`ConfigError::Invalid`] error.
    pub fn location(&self) -> Option<(&Path, usize, usize)> {
        match self {
            ConfigError::Invalid {
                path, line, column, ..
            }
            | ConfigError::NotUtf8 { path, line, column } => Some((path, *line, *column)),
            _ => None,
        }
    }
}

/// A position in a configuration file, kept next to merged values for later errors and warnings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Loc {
    pub(super) path: PathBuf,
    pub(super) line: usize,
    pub(super) column: usize,
}

impl Loc {
    /// An error at this position.
    pub(super) fn error(&self, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.clone(),
            line: self.line,
            column: self.column,
            message: message.into(),
        }
    }
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.path.display(), self.line, self.column)
    }
}

/// The text of one configuration file and the name it is reported under.
#[derive(Debug)]
pub(super) struct Source {
    pub(super) path: PathBuf,
    pub(super) text: String,
}

impl Source {
    /// The 1-based line and column (in characters) of a byte offset.
    pub(super) fn loc(&self, span: &Range<usize>) -> Loc {
        let before = prefix(&self.text, span.start);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        Loc {
            path: self.path.clone(),
            line,
            column,
        }
    }

    /// An error at a byte span of this file.
    pub(super) fn error(&self, span: &Range<usize>, message: impl Into<String>) -> ConfigError {
        self.loc(span).error(message)
    }

    /// A toml/serde deserialization error, positioned and reworded.
    pub(super) fn toml_error(&self, err: &toml::de::Error) -> ConfigError {
        let span = err.span().unwrap_or(0..0);
        let message = describe_toml(err.message(), &self.text, &span);
        self.error(&span, message)
    }
}

/// The longest prefix of `text` ending at or before byte `end` on a character boundary.
fn prefix(text: &str, end: usize) -> &str {
    let mut end = end.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Rewrites a serde/toml message into `<what>; <fix>`, naming the key where the source shows it.
pub(super) fn describe_toml(message: &str, text: &str, span: &Range<usize>) -> String {
    let key = key_before(text, span.start);
    let for_key = key
        .as_deref()
        .map(|k| format!(" for `{k}`"))
        .unwrap_or_default();
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (name, valid) = split_expected(rest);
        return unknown_name("key", name, "", &valid, "valid keys");
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        let (name, valid) = split_expected(rest);
        return unknown_name("value", name, &for_key, &valid, "valid values");
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or(rest);
        return format!("missing key `{name}`; add `{name} = ...` to this table");
    }
    for (lead, what) in [
        ("invalid type: ", "wrong type"),
        ("invalid value: ", "invalid value"),
    ] {
        if let Some(rest) = message.strip_prefix(lead)
            && let Some((found, expected)) = rest.rsplit_once(", expected ")
        {
            let (found, expected) = (toml_words(found), human_expected(expected));
            return format!("{what}{for_key}: found {found}; expected {expected}");
        }
    }
    if message == "duplicate key" {
        let name = text.get(span.clone()).unwrap_or("").trim();
        return format!("duplicate key `{name}`; keep only one of them");
    }
    format!("invalid TOML: {message}; fix the syntax at this position")
}

/// `X`, expected one of `a`, `b` → (X, [a, b]).
fn split_expected(rest: &str) -> (&str, Vec<&str>) {
    let (name, tail) = rest.split_once('`').unwrap_or((rest, ""));
    let valid = tail.split('`').skip(1).step_by(2).collect();
    (name, valid)
}

/// "unknown key `flgas`; did you mean `flags`? valid keys: targets, flags, …".
fn unknown_name(what: &str, name: &str, for_key: &str, valid: &[&str], label: &str) -> String {
    let suggestion = closest(name, valid)
        .map(|s| format!("did you mean `{s}`? "))
        .unwrap_or_default();
    if valid.is_empty() {
        return format!("unknown {what} `{name}`{for_key}; this table takes no keys, remove it");
    }
    format!(
        "unknown {what} `{name}`{for_key}; {suggestion}{label}: {}",
        valid.join(", ")
    )
}

/// The closest candidate by edit distance, if it is close enough to be a plausible typo.
fn closest<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(2);
    candidates
        .iter()
        .map(|c| (strsim::levenshtein(&name.to_ascii_lowercase(), c), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// serde's expectation text in TOML's words, without Rust type names.
fn human_expected(expected: &str) -> String {
    match expected {
        "usize" | "u64" | "u32" | "u16" | "u8" => "a non-negative integer".to_string(),
        e if e.starts_with("struct ") || e == "a map" => "a table".to_string(),
        "a sequence" => "an array".to_string(),
        e => e.to_string(),
    }
}

/// serde's data model names in TOML's words (`sequence` is an array, `map` a table).
fn toml_words(found: &str) -> String {
    match found {
        "sequence" => "an array".to_string(),
        "map" => "a table".to_string(),
        f => f.to_string(),
    }
}

/// The key of a `key = value` line when `offset` lies in the value part.
fn key_before(text: &str, offset: usize) -> Option<String> {
    let before = prefix(text, offset);
    let line = &before[before.rfind('\n').map_or(0, |i| i + 1)..];
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    let plausible = !key.is_empty() && !key.starts_with('[') && !key.contains(['"', '\'', '#']);
    plausible.then(|| key.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters() {
        let src = Source {
            path: "f.toml".into(),
            text: "a = 1\nbé = \"x\"\n".into(),
        };
        let loc = src.loc(&(13..14));
        assert_eq!((loc.line, loc.column), (2, 7), "{loc}");
        assert_eq!(src.loc(&(0..1)).to_string(), "f.toml:1:1");
        assert_eq!(src.loc(&(999..1000)).line, 3);
    }

    #[test]
    fn unknown_field_suggests_closest_key() {
        let msg = "unknown field `flgas`, expected one of `targets`, `flags`, `others`";
        let out = describe_toml(msg, "flgas = 1", &(0..5));
        assert_eq!(
            out,
            "unknown key `flgas`; did you mean `flags`? valid keys: targets, flags, others"
        );
        let far = describe_toml(
            "unknown field `zzzzzz`, expected `name` or `offset`",
            "",
            &(0..0),
        );
        assert_eq!(far, "unknown key `zzzzzz`; valid keys: name, offset");
    }

    #[test]
    fn type_errors_name_the_key() {
        let text = "flags = 3\n";
        let out = describe_toml(
            "invalid type: integer `3`, expected a string",
            text,
            &(8..9),
        );
        assert_eq!(
            out,
            "wrong type for `flags`: found integer `3`; expected a string"
        );
        let out = describe_toml(
            "invalid value: integer `-1`, expected usize",
            "offset = -1",
            &(9..11),
        );
        assert_eq!(
            out,
            "invalid value for `offset`: found integer `-1`; expected a non-negative integer"
        );
    }
}
