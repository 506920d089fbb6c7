//! The serde shape of one configuration file: every key optional, values kept as text with their
//! spans so that semantic checks (target names, flags, hex) can point at the exact position.
//!
//! `deny_unknown_fields` everywhere: a misspelt key is an error, never silently ignored.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, SeqAccess, Visitor};
use toml::Spanned;

use super::settings::{Distribution, Others};

/// One file: the top-level keys.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileFragment {
    pub(super) targets: Option<Spanned<TargetsValue>>,
    pub(super) flags: Option<Spanned<String>>,
    pub(super) interpreter_dirs: Option<Vec<Spanned<String>>>,
    pub(super) install_dir: Option<Spanned<String>>,
    pub(super) entry_prefix: Option<Spanned<String>>,
    pub(super) others: Option<Spanned<Others>>,
    pub(super) distribution: Option<Spanned<Distribution>>,
    pub(super) target: Option<BTreeMap<Spanned<String>, TargetFragment>>,
    pub(super) entry: Option<Vec<Spanned<EntryFragment>>>,
    pub(super) daemon: Option<DaemonFragment>,
}

/// `[target.<name>]`: per-target overrides.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TargetFragment {
    pub(super) flags: Option<Spanned<String>>,
    pub(super) interpreter: Option<Spanned<String>>,
    pub(super) others: Option<Spanned<Others>>,
}

/// `[[entry]]`: an extra, non-QEMU binfmt_misc entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EntryFragment {
    pub(super) name: Spanned<String>,
    pub(super) magic: Option<Spanned<String>>,
    pub(super) mask: Option<Spanned<String>>,
    pub(super) offset: Option<Spanned<usize>>,
    pub(super) extension: Option<Spanned<String>>,
    pub(super) interpreter: Spanned<String>,
    pub(super) flags: Option<Spanned<String>>,
}

/// `[daemon]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DaemonFragment {
    pub(super) remove_on_stop: Option<bool>,
}

/// `targets = "all"`, or `targets = ["all"]`, or `targets = ["arm64", "riscv64"]`.
#[derive(Debug)]
pub(super) enum TargetsValue {
    /// A single string (its position is the enclosing `Spanned`'s).
    One(String),
    /// A list of names, each with its own position.
    List(Vec<Spanned<String>>),
}

impl<'de> Deserialize<'de> for TargetsValue {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TargetsVisitor)
    }
}

struct TargetsVisitor;

impl<'de> Visitor<'de> for TargetsVisitor {
    type Value = TargetsValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"all\" or a list of target names")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(TargetsValue::One(v.to_string()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut names = Vec::new();
        while let Some(name) = seq.next_element::<Spanned<String>>()? {
            names.push(name);
        }
        Ok(TargetsValue::List(names))
    }
}
