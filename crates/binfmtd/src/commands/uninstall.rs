//! `binfmtd uninstall` and tonistiigi's `--uninstall`: remove entries, through the engine's one
//! write path.
//!
//! Native form: each word is an entry name, a glob (`qemu-*`) or a target name (its rows' entry
//! names); no words, or `all`, means every entry of binfmtd's; only binfmtd's entries are
//! removed unless `--force`. A word that is none of these is a usage error (exit 2), as for
//! `install`.
//! Compatibility form (`--uninstall LIST`): tonistiigi/binfmt's semantics, which ignore
//! ownership: an entry whose name equals the word or ends with `-<word>`, or matches the glob;
//! WSL's interop entry is never touched.

use anyhow::Result;
use binfmt_misc::{BinfmtMisc, EntryInfo};
use elf_magic::Target;

use super::{Context, UsageError};
use crate::engine::{self, Mode, UninstallIntent, Use};
use crate::report::Report;
use crate::selection::{glob_matches, is_glob};

/// Whose entries may be removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// binfmtd's own entries only.
    Ours,
    /// Any matching entry (`--force`, or the tonistiigi compatibility form).
    Any,
}

/// Which words select which entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matching {
    /// binfmtd's rules: names, globs, target names.
    Native,
    /// tonistiigi/binfmt's rules: name, `-<word>` suffix, glob.
    Compat,
}

/// Checks the words before anything is opened: in the native form, each must be `all`, a glob,
/// a target name or a plausible entry name (no `/`, not empty).
pub fn check_words(words: &[String], matching: Matching) -> Result<(), UsageError> {
    if matching == Matching::Compat {
        return Ok(());
    }
    for word in words {
        if word.trim().is_empty() || word.contains('/') && word.parse::<Target>().is_err() {
            return Err(UsageError(format!(
                "uninstall: `{word}` is neither a target nor an entry name; `binfmtd status` \
                 lists the entries, `binfmtd table` the targets"
            )));
        }
    }
    Ok(())
}

/// Runs the removal.
pub fn run(
    ctx: &Context,
    fs: &BinfmtMisc,
    words: &[String],
    scope: Scope,
    matching: Matching,
) -> Result<Report> {
    let _writers = fs.lock_writers()?;
    let prepared = engine::prepare(
        &ctx.settings,
        &crate::config::Targets::List(Vec::new()),
        Use::Store,
    )?;
    let mut facts = engine::read_facts(&prepared, Some(fs), &ctx.mount)?;
    if matching == Matching::Native {
        // binfmtd's masks of the distribution's binfmt.d files go with the targets it stops
        // serving (all of them on `binfmtd uninstall`, the package's prerm).
        facts.masks = Some(engine::masks::read(
            &engine::masks::root(),
            &facts.store.pins.masks,
        ));
    }
    let mut selected = select(
        words,
        &facts.kernel.entries,
        &ctx.settings.entry_prefix,
        matching,
    );
    if matching == Matching::Native && (words.is_empty() || words.iter().any(|w| w == "all")) {
        // `all` means all of binfmtd's, even with --force: others' entries are not listed.
        selected.retain(|name| {
            facts
                .kernel
                .entry(name)
                .is_some_and(|i| facts.ownership.owner(&i.entry) == engine::Owner::Binfmtd)
        });
    }
    let mut warnings = Vec::new();
    for word in words
        .iter()
        .filter(|w| !(matching == Matching::Native && *w == "all"))
    {
        if !facts
            .kernel
            .entries
            .iter()
            .any(|i| selects(word, i, &ctx.settings.entry_prefix, matching))
        {
            if matching == Matching::Native && word.parse::<Target>().is_err() && !is_glob(word) {
                return Err(UsageError(format!(
                    "uninstall: no entry `{word}`, and it is no target name; `binfmtd status` \
                     lists the entries"
                ))
                .into());
            }
            warnings.push(format!("{word}: no such entry"));
        }
    }
    let intent = UninstallIntent {
        selected,
        any_owner: scope == Scope::Any,
    };
    let decision = engine::decide::uninstall(&facts, &intent);
    let outcome = decision.changes().then(|| {
        let store = engine::StoreIo {
            store: &prepared.store,
            fresh: &[],
        };
        engine::apply(&decision, Mode::BestEffort, fs, Some(store))
    });
    let mut report = engine::report::build(&decision, outcome.as_ref(), &ctx.mount, false);
    // An uninstall is about entries, not the instance: a disabled instance is no failure here.
    report.problems.clear();
    if report.changed && fs.has_manager() {
        warnings.push(
            "a binfmtd daemon manages this binfmt_misc instance and puts its configured entries \
             back: stop it (`systemctl stop binfmtd`) or remove the targets from /etc/binfmtd"
                .to_string(),
        );
    }
    report.warnings.extend(warnings);
    Ok(report.finish())
}

/// The names of the entries `words` select (no words, or `all` in the native form: every one,
/// ownership being checked by the engine).
pub fn select(
    words: &[String],
    entries: &[EntryInfo],
    prefix: &str,
    matching: Matching,
) -> Vec<String> {
    let all =
        matching == Matching::Native && (words.is_empty() || words.iter().any(|w| w == "all"));
    entries
        .iter()
        // As tonistiigi/binfmt: WSL's interop entry is never an emulator to remove.
        .filter(|i| !(matching == Matching::Compat && i.entry.name.starts_with("WSLInterop")))
        .filter(|i| all || words.iter().any(|w| selects(w, i, prefix, matching)))
        .map(|i| i.entry.name.clone())
        .collect()
}

fn selects(word: &str, info: &EntryInfo, prefix: &str, matching: Matching) -> bool {
    let name = info.entry.name.as_str();
    if name == word || (is_glob(word) && glob_matches(word, name)) {
        return true;
    }
    match matching {
        Matching::Compat => {
            // tonistiigi maps platforms to binary names (`arm64` → `aarch64`).
            let word = word.parse::<Target>().map(Target::name).unwrap_or(word);
            name.ends_with(&format!("-{word}"))
        }
        Matching::Native => word.parse::<Target>().is_ok_and(|t| {
            t.rows()
                .any(|row| name == crate::engine::naming::entry_name(prefix, row))
        }),
    }
}
