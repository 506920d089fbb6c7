//! One file, parsed and checked: a `Layer` of typed values, each optional, with the positions
//! needed for later warnings. Layers merge key by key; the last one that sets a key wins.

use std::collections::BTreeMap;
use std::path::PathBuf;

use binfmt_misc::{Flags, Rule};
use elf_magic::Target;
use toml::Spanned;

use super::entry::entry_rule;
use super::error::{ConfigError, Loc, Source};
use super::schema::{FileFragment, TargetFragment, TargetsValue};
use super::settings::{Distribution, Others, Targets};

/// A value and where it was set.
#[derive(Debug, Clone)]
pub(super) struct At<T> {
    pub(super) value: T,
    pub(super) loc: Loc,
}

/// `[target.<name>]` of one or more layers.
#[derive(Debug, Clone, Default)]
pub(super) struct OverrideLayer {
    pub(super) flags: Option<At<Flags>>,
    pub(super) interpreter: Option<PathBuf>,
    pub(super) others: Option<Others>,
}

/// The typed content of one file (or of several, merged).
#[derive(Debug, Clone, Default)]
pub(super) struct Layer {
    pub(super) targets: Option<Targets>,
    pub(super) flags: Option<At<Flags>>,
    pub(super) interpreter_dirs: Option<Vec<PathBuf>>,
    pub(super) install_dir: Option<PathBuf>,
    pub(super) entry_prefix: Option<String>,
    pub(super) others: Option<Others>,
    pub(super) distribution: Option<Distribution>,
    pub(super) overrides: BTreeMap<Target, OverrideLayer>,
    pub(super) entries: Vec<At<Rule>>,
    pub(super) remove_on_stop: Option<bool>,
}

impl Layer {
    /// Parses and checks one file. Touches nothing but `src`.
    pub(super) fn parse(src: &Source) -> Result<Layer, ConfigError> {
        let frag: FileFragment = toml::from_str(&src.text).map_err(|e| src.toml_error(&e))?;
        let mut layer = Layer {
            targets: frag
                .targets
                .as_ref()
                .map(|t| parse_targets(src, t))
                .transpose()?,
            flags: frag.flags.as_ref().map(|f| at_flags(src, f)).transpose()?,
            interpreter_dirs: None,
            install_dir: frag
                .install_dir
                .as_ref()
                .map(|p| parse_path(src, p))
                .transpose()?,
            entry_prefix: frag
                .entry_prefix
                .as_ref()
                .map(|p| parse_prefix(src, p))
                .transpose()?,
            others: frag.others.map(Spanned::into_inner),
            distribution: frag.distribution.map(Spanned::into_inner),
            overrides: BTreeMap::new(),
            entries: Vec::new(),
            remove_on_stop: frag.daemon.and_then(|d| d.remove_on_stop),
        };
        if let Some(dirs) = &frag.interpreter_dirs {
            let dirs = dirs
                .iter()
                .map(|d| parse_path(src, d))
                .collect::<Result<_, _>>()?;
            layer.interpreter_dirs = Some(dirs);
        }
        if let Some(tables) = frag.target {
            layer.overrides = parse_overrides(src, tables)?;
        }
        for entry in frag.entry.iter().flatten() {
            let rule = entry_rule(src, entry)?;
            let loc = src.loc(&entry.get_ref().name.span());
            if let Some(first) = layer.entries.iter().find(|e| e.value.name == rule.name) {
                let what = format!(
                    "entry `{}` is defined twice in this file (first at line {}); remove one",
                    rule.name, first.loc.line
                );
                return Err(loc.error(what));
            }
            layer.entries.push(At { value: rule, loc });
        }
        Ok(layer)
    }

    /// Lays `later` over `self`: every key `later` sets wins; `[target.x]` merges per key;
    /// `[[entry]]` appends, and an entry with a name already present replaces it in place.
    pub(super) fn merge(&mut self, later: Layer) {
        fn over<T>(slot: &mut Option<T>, later: Option<T>) {
            if later.is_some() {
                *slot = later;
            }
        }
        over(&mut self.targets, later.targets);
        over(&mut self.flags, later.flags);
        over(&mut self.interpreter_dirs, later.interpreter_dirs);
        over(&mut self.install_dir, later.install_dir);
        over(&mut self.entry_prefix, later.entry_prefix);
        over(&mut self.others, later.others);
        over(&mut self.distribution, later.distribution);
        over(&mut self.remove_on_stop, later.remove_on_stop);
        for (target, o) in later.overrides {
            let mine = self.overrides.entry(target).or_default();
            over(&mut mine.flags, o.flags);
            over(&mut mine.interpreter, o.interpreter);
            over(&mut mine.others, o.others);
        }
        for entry in later.entries {
            match self
                .entries
                .iter_mut()
                .find(|e| e.value.name == entry.value.name)
            {
                Some(slot) => *slot = entry,
                None => self.entries.push(entry),
            }
        }
    }
}

/// `targets`: `"all"`, `["all"]`, or names (any alias), deduplicated in order.
fn parse_targets(src: &Source, value: &Spanned<TargetsValue>) -> Result<Targets, ConfigError> {
    let names: Vec<(&str, std::ops::Range<usize>)> = match value.get_ref() {
        TargetsValue::One(name) => vec![(name.as_str(), value.span())],
        TargetsValue::List(list) => list
            .iter()
            .map(|n| (n.get_ref().as_str(), n.span()))
            .collect(),
    };
    if let Some((_, span)) = names
        .iter()
        .find(|(n, _)| n.trim().eq_ignore_ascii_case("all"))
    {
        if names.len() == 1 {
            return Ok(Targets::All);
        }
        let what =
            "`all` cannot be combined with other targets; use either [\"all\"] or a list of names";
        return Err(src.error(span, what));
    }
    let mut targets = Vec::new();
    for (name, span) in names {
        let target = name
            .parse::<Target>()
            .map_err(|e| src.error(&span, e.to_string()))?;
        if !targets.contains(&target) {
            targets.push(target);
        }
    }
    Ok(Targets::List(targets))
}

/// `[target.<name>]` tables: keys resolved through every alias; two keys for one target is an
/// error (in one file; across files they merge).
fn parse_overrides(
    src: &Source,
    tables: BTreeMap<Spanned<String>, TargetFragment>,
) -> Result<BTreeMap<Target, OverrideLayer>, ConfigError> {
    let mut tables: Vec<_> = tables.into_iter().collect();
    tables.sort_by_key(|(key, _)| key.span().start);
    let mut seen: BTreeMap<Target, (String, Loc)> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for (key, table) in tables {
        let loc = src.loc(&key.span());
        let target = key
            .get_ref()
            .parse::<Target>()
            .map_err(|e| loc.error(e.to_string()))?;
        if let Some((first, first_loc)) = seen.get(&target) {
            let what = format!(
                "[target.\"{}\"] names target {target} again (already [target.\"{first}\"] at line {}); \
                 merge the two tables",
                key.get_ref(),
                first_loc.line
            );
            return Err(loc.error(what));
        }
        seen.insert(target, (key.get_ref().clone(), loc));
        let o = OverrideLayer {
            flags: table.flags.as_ref().map(|f| at_flags(src, f)).transpose()?,
            interpreter: table
                .interpreter
                .as_ref()
                .map(|p| parse_path(src, p))
                .transpose()?,
            others: table.others.map(Spanned::into_inner),
        };
        out.insert(target, o);
    }
    Ok(out)
}

/// A flags string (`"PF"`, `"OCF"`, `""`), positioned.
pub(super) fn parse_flags(src: &Source, value: &Spanned<String>) -> Result<Flags, ConfigError> {
    value.get_ref().parse::<Flags>().map_err(|e| {
        let what = format!(
            "unknown flag {:?} in flags \"{}\"; valid flags are P, O, C and F, and T, D, L on Linux >= 7.3 (e.g. \"PF\")",
            e.letter,
            value.get_ref().escape_debug()
        );
        src.error(&value.span(), what)
    })
}

fn at_flags(src: &Source, value: &Spanned<String>) -> Result<At<Flags>, ConfigError> {
    Ok(At {
        value: parse_flags(src, value)?,
        loc: src.loc(&value.span()),
    })
}

/// An absolute path without control characters (it ends up in register lines and logs).
fn parse_path(src: &Source, value: &Spanned<String>) -> Result<PathBuf, ConfigError> {
    let text = value.get_ref();
    let path = PathBuf::from(text);
    if !path.is_absolute() {
        let what = format!(
            "path \"{}\" is not absolute; give a path starting with /",
            text.escape_debug()
        );
        return Err(src.error(&value.span(), what));
    }
    if text.chars().any(char::is_control) {
        let what = format!(
            "path \"{}\" contains a control character; rename the file or use a symlink",
            text.escape_debug()
        );
        return Err(src.error(&value.span(), what));
    }
    Ok(path)
}

/// Longest accepted `entry_prefix`, in bytes.
pub(super) const MAX_PREFIX_LEN: usize = 64;

/// `entry_prefix`: part of every entry name, so non-empty, printable ASCII, no `/`, short.
fn parse_prefix(src: &Source, value: &Spanned<String>) -> Result<String, ConfigError> {
    let prefix = value.get_ref();
    let fail = |problem: String| {
        let what = format!("entry_prefix \"{}\" {problem}", prefix.escape_debug());
        Err(src.error(&value.span(), what))
    };
    if prefix.is_empty() {
        return fail("is empty; give a prefix such as \"qemu-\"".to_string());
    }
    if prefix.len() > MAX_PREFIX_LEN {
        return fail(format!(
            "is {} bytes long; use at most {MAX_PREFIX_LEN}",
            prefix.len()
        ));
    }
    if let Some(c) = prefix.chars().find(|c| !c.is_ascii_graphic() || *c == '/') {
        let fix = "entry names need printable ASCII without spaces or '/', e.g. \"qemu-\"";
        return fail(format!("contains {c:?}; {fix}"));
    }
    Ok(prefix.clone())
}
