//! tonistiigi/binfmt's interface, as docker/setup-qemu-action drives it: `--uninstall LIST`,
//! then `--install LIST`, then always the status JSON on stdout; progress on stderr.
//!
//! Best effort per target, like tonistiigi: a target that cannot be registered is reported and
//! the others are registered; an unknown platform is logged and ignored. Unlike tonistiigi the exit status means something: 0 when every
//! requested target now executes (whoever serves it), otherwise 1 with an `error:` line as the
//! last line of stderr (setup-qemu-action shows stderr's last line when a step fails).
//! `QEMU_BINARY_PATH`, `QEMU_BINARY_PREFIX` and `QEMU_PRESERVE_ARGV0` are honoured.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use binfmt_misc::BinfmtMisc;
use elf_magic::Target;

use super::Context;
use super::install::{self, How};
use super::status;
use super::uninstall::{self, Matching, Scope};
use crate::config::Targets;
use crate::report::{Action, Report};

/// tonistiigi's environment variables, read once by `main`.
#[derive(Debug, Clone, Default)]
pub struct QemuEnv {
    /// `QEMU_BINARY_PATH`: where the interpreters are (searched first).
    pub binary_path: Option<PathBuf>,
    /// `QEMU_BINARY_PREFIX`: prefix of the interpreters' file names and of the entry names.
    pub binary_prefix: Option<String>,
    /// `QEMU_PRESERVE_ARGV0`: non-empty adds `P` (binfmtd's default flags have it already).
    pub preserve_argv0: bool,
}

impl QemuEnv {
    /// Reads the variables.
    pub fn from_env() -> QemuEnv {
        let var = |name| std::env::var(name).ok().filter(|v| !v.is_empty());
        QemuEnv {
            binary_path: var("QEMU_BINARY_PATH").map(PathBuf::from),
            binary_prefix: var("QEMU_BINARY_PREFIX"),
            preserve_argv0: var("QEMU_PRESERVE_ARGV0").is_some(),
        }
    }

    /// `ctx` with the variables applied.
    pub fn apply(&self, ctx: &Context) -> Context {
        let mut ctx = ctx.clone();
        let settings = &mut ctx.settings;
        if let Some(path) = &self.binary_path {
            // As tonistiigi: the entries run the interpreters there, where the user put them.
            settings.interpreter_dirs.insert(0, path.clone());
            settings.in_place_dirs.push(path.clone());
        }
        if let Some(prefix) = &self.binary_prefix {
            settings.binary_prefix = prefix.clone();
            settings.entry_prefix = format!("{prefix}{}", settings.entry_prefix);
        }
        if self.preserve_argv0 {
            let mut flags = settings.flags;
            flags.preserve_argv0 = true;
            settings.override_flags(flags, "QEMU_PRESERVE_ARGV0");
        }
        ctx
    }
}

/// Runs the compatibility form.
pub fn run(
    ctx: &Context,
    fs: &BinfmtMisc,
    install_words: Option<&[String]>,
    uninstall_words: Option<&[String]>,
) -> Result<ExitCode> {
    let ctx = QemuEnv::from_env().apply(ctx);
    let mut errors: Vec<String> = Vec::new();
    if let Some(words) = uninstall_words {
        let report = uninstall::run(&ctx, fs, words, Scope::Any, Matching::Compat)?;
        log(&report, "uninstalling");
        errors.extend(failures(&report));
    }
    let mut requested: Vec<Target> = Vec::new();
    if let Some(words) = install_words {
        let (selection, unknown) = crate::selection::parse_targets_leniently(words);
        // As tonistiigi: logged, and the rest installed (it is no target that could execute).
        for word in &unknown {
            eprintln!(
                "unsupported architecture: {word} (ignored; `binfmtd table` lists the names \
                 binfmtd knows)"
            );
        }
        let report = install::run(&ctx, Some(fs), &selection, How::BestEffort)?;
        log(&report, "installing");
        errors.extend(report.problems.iter().cloned());
        if let Targets::List(list) = &selection {
            requested = list.clone();
        }
    }
    let status = status::gather(&ctx, fs, &crate::host::HostFacts::gather())?;
    println!("{}", serde_json::to_string_pretty(&status)?);
    for target in requested {
        if let Some(t) = status
            .targets
            .iter()
            .find(|t| t.target == target.name() && !t.executes)
        {
            let why = t.reason.as_deref().unwrap_or("see above");
            errors.push(format!("{target} does not execute after --install: {why}"));
        }
    }
    if errors.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    for e in &errors {
        eprintln!("error: {e}");
    }
    Ok(ExitCode::FAILURE)
}

/// tonistiigi-style progress lines on stderr (`installing: qemu-aarch64 OK`).
fn log(report: &Report, verb: &str) {
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    for e in &report.entries {
        let word = match (e.action, e.reason_code) {
            (Action::Failed, Some("owned-by-other")) => "left to another tool",
            (Action::Added | Action::Replaced | Action::Removed | Action::Kept, _)
                if e.reason.is_none() =>
            {
                eprintln!("{verb}: {} OK", e.name);
                continue;
            }
            (Action::Added, _) => "added",
            (Action::Replaced, _) => "replaced",
            (Action::Kept, _) => "kept",
            (Action::Removed, _) => "removed",
            (Action::Skipped, _) => "skipped",
            (Action::Failed, _) => "failed",
        };
        match &e.reason {
            Some(r) => eprintln!("{verb}: {} {word}: {r}", e.name),
            None => eprintln!("{verb}: {} {word}", e.name),
        }
    }
}

fn failures(report: &Report) -> Vec<String> {
    let mut out: Vec<String> = report.problems.clone();
    out.extend(
        report
            .entries
            .iter()
            .filter(|e| e.action == Action::Failed)
            .map(|e| format!("{}: {}", e.name, e.reason.as_deref().unwrap_or("failed"))),
    );
    out
}
