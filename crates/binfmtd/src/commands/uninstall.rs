//! `binfmtd uninstall` and tonistiigi's `--uninstall`: remove entries.
//!
//! Native form: only entries binfmtd registered (their interpreter lives in the install
//! directory), unless `--force`. Each word is an entry name, a glob (`qemu-*`) or a target name
//! (its rows' entry names); no words, or `all`, means every entry of ours.
//! Compatibility form (`--uninstall LIST`): tonistiigi/binfmt's semantics, which ignore ownership:
//! an entry whose name equals the word or ends with `-<word>`, or matches the glob.

use anyhow::{Context as _, Result};
use binfmt_misc::{BinfmtMisc, EntryInfo};
use elf_magic::Target;

use super::Context;
use crate::interpreter::Store;
use crate::registrations::Registrations;
use crate::report::{Action, EntryReport, Report};
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

/// Runs the removal.
pub fn run(ctx: &Context, words: &[String], scope: Scope, matching: Matching) -> Result<Report> {
    let fs = BinfmtMisc::open(&ctx.mount)?;
    let store = Store::at(&ctx.settings.install_dir);
    let _lock = store
        .dir()
        .is_dir()
        .then(|| crate::lock::Lock::acquire(store.dir()))
        .transpose()?;
    let entries = fs.entries().context("reading binfmt_misc entries")?;
    let mut report = Report {
        mount: ctx.mount.clone(),
        ..Report::default()
    };
    let mut registrations = Registrations::load(store.dir());
    // tonistiigi's form has no special `all` (and an empty list removes nothing there).
    let all =
        matching == Matching::Native && (words.is_empty() || words.iter().any(|w| w == "all"));
    for info in &entries {
        let name = &info.entry.name;
        // As tonistiigi/binfmt: WSL's interop entry is never an emulator to remove.
        if matching == Matching::Compat && name.starts_with("WSLInterop") {
            continue;
        }
        if !all
            && !words
                .iter()
                .any(|w| selects(w, info, &ctx.settings.entry_prefix, matching))
        {
            continue;
        }
        let ours = store.owns(&info.entry.interpreter);
        if !ours && (scope == Scope::Ours || all && matching == Matching::Native) {
            if !all {
                report.entries.push(
                    EntryReport::new(name.clone(), None, Action::Skipped)
                        .because("registered by another tool; pass --force to remove it anyway"),
                );
            }
            continue;
        }
        let result = fs.remove(name);
        let entry = match result {
            Ok(()) => {
                registrations.entries.remove(name);
                tracing::info!(entry = %name, "removed");
                EntryReport::new(name.clone(), None, Action::Removed)
            }
            Err(e) => EntryReport::new(name.clone(), None, Action::Failed).because(e.to_string()),
        };
        report.entries.push(entry);
    }
    for word in words.iter().filter(|w| !(all && *w == "all")) {
        if !entries
            .iter()
            .any(|i| selects(word, i, &ctx.settings.entry_prefix, matching))
        {
            report.warnings.push(format!("{word}: no such entry"));
        }
    }
    if report.entries.iter().any(|e| e.action == Action::Removed) && store.dir().is_dir() {
        registrations
            .save(store.dir())
            .with_context(|| format!("recording registrations in {}", store.dir().display()))?;
    }
    Ok(report.finish())
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
        Matching::Native => word
            .parse::<Target>()
            .is_ok_and(|t| t.rows().any(|row| name == format!("{prefix}{}", row.id))),
    }
}
