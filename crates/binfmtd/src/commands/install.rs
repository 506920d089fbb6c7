//! `binfmtd install` and `binfmtd plan`: register emulators, or say what that would change.
//!
//! Order of work, so that bad input changes nothing:
//! 1. parse targets, open (or for `install` mount) binfmt_misc, take the lock;
//! 2. find and verify every interpreter (headers only), read the kernel's entries;
//! 3. decide (pure, [`crate::reconcile`]); any failure stops here, before the first write;
//! 4. copy changed interpreters into the store (temporary file + rename);
//! 5. apply the plan to the kernel, record what was registered, report.

use anyhow::{Context as _, Result};
use binfmt_misc::{BinfmtMisc, Rule};
use elf_magic::Target;
use std::collections::BTreeMap;
use std::path::Path;

use super::Context;
use crate::config::Targets;
use crate::host::{HostFacts, Nativity};
use crate::interpreter::{self, HostMachine, Installed, Store, Verified};
use crate::reconcile::{self, Current, Decision, Extra, Interpreter, Wanted};
use crate::registrations::{Registration, Registrations};
use crate::report::{Action, EntryReport, Report};

/// Whether to change anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `install`: apply.
    Apply,
    /// `plan`: change nothing (Ansible's check mode).
    DryRun,
}

/// A verified interpreter source, to be copied into the store as `name`.
#[derive(Debug, Clone)]
struct Source {
    name: &'static str,
    verified: Verified,
}

/// One requested target, with its interpreter found and verified (or why not).
#[derive(Debug, Clone)]
struct Request {
    target: Target,
    explicit: bool,
    source: Result<Source, String>,
    flags: binfmt_misc::Flags,
    others: crate::config::Others,
}

/// Everything `install` needs that does not depend on the kernel's entries: host facts and
/// verified interpreters. The daemon prepares once and [`converge`]s on every change.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Facts about the host (native targets, its own format, its namespace).
    pub host: HostFacts,
    /// The managed interpreter store.
    pub store: Store,
    requests: Vec<Request>,
    extras: Vec<Extra>,
    prefix: String,
    warnings: Vec<String>,
}

impl Prepared {
    /// Names of the entries binfmtd wants registered (for logs and `STATUS=`).
    pub fn wanted_entries(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .requests
            .iter()
            .filter(|r| r.source.is_ok() && self.host.nativity(r.target) != Nativity::Native)
            .flat_map(|r| {
                r.target
                    .rows()
                    .map(|row| reconcile::entry_name(&self.prefix, row))
            })
            .collect();
        names.extend(self.extras.iter().map(|e| e.rule.name.clone()));
        names
    }

    /// Whether `entry` is binfmtd's (its interpreter lives in the store).
    pub fn is_ours(&self, entry: &binfmt_misc::Entry) -> bool {
        self.store.contains_path(&entry.interpreter)
    }
}

/// Runs `install` (or `plan`) for the given target words.
pub fn run(ctx: &Context, words: &[String], mode: Mode) -> Result<Report> {
    let fs = open_mount(&ctx.mount, mode)?;
    let prepared = prepare(ctx, words, mode)?;
    converge(&prepared, fs.as_ref(), &ctx.mount, mode)
}

/// Parses the targets, probes the host and finds and verifies every interpreter (headers only).
/// Changes nothing except creating the install directory for [`Mode::Apply`].
pub fn prepare(ctx: &Context, words: &[String], mode: Mode) -> Result<Prepared> {
    let selection = crate::selection::parse_targets(words, &ctx.settings.targets)?;
    let explicit = matches!(selection, Targets::List(_));
    let store = match mode {
        Mode::Apply => Store::open(&ctx.settings.install_dir).map_err(anyhow::Error::new)?,
        Mode::DryRun => Store::at(&ctx.settings.install_dir),
    };
    let host = HostFacts::gather();
    let machine = HostMachine::current().map_err(anyhow::Error::new)?;
    let targets: Vec<Target> = match &selection {
        Targets::All => Target::ALL.to_vec(),
        Targets::List(list) => list.clone(),
    };
    let requests = targets
        .into_iter()
        .map(|target| Request {
            target,
            explicit,
            source: if host.nativity(target) == Nativity::Native {
                Err("native".to_string())
            } else {
                resolve(ctx, target, machine)
            },
            flags: effective_flags(ctx.settings.flags_for(target), &host),
            others: ctx.settings.others_for(target),
        })
        .collect();
    let extras = ctx
        .settings
        .entries
        .iter()
        .map(|rule| Extra {
            rule: rule.clone(),
            others: ctx.settings.others,
        })
        .collect();
    let mut warnings = ctx.settings.warnings.clone();
    if !host.initial_user_namespace {
        warnings.push(
            "binfmtd runs in a user namespace other than the host's: entries registered here \
             are visible only inside this namespace and vanish with it"
                .to_string(),
        );
    }
    Ok(Prepared {
        host,
        store,
        requests,
        extras,
        prefix: ctx.settings.entry_prefix.clone(),
        warnings,
    })
}

/// Brings the kernel's entries in line with `prepared`: reads the entries, decides (pure), and
/// unless [`Mode::DryRun`] or something failed, copies changed interpreters and applies the plan
/// under the lock. With nothing to change it writes nothing.
pub fn converge(
    prepared: &Prepared,
    fs: Option<&BinfmtMisc>,
    mount: &Path,
    mode: Mode,
) -> Result<Report> {
    let store = &prepared.store;
    let _lock = match mode {
        Mode::Apply => Some(crate::lock::Lock::acquire(store.dir())?),
        Mode::DryRun => None,
    };
    let current = match fs {
        Some(fs) => fs.entries().context("reading binfmt_misc entries")?,
        None => Vec::new(),
    };
    let registrations = Registrations::load(store.dir());
    let mut sources: BTreeMap<Target, (Source, bool)> = BTreeMap::new();
    let wanted: Vec<Wanted> = prepared
        .requests
        .iter()
        .map(|r| Wanted {
            target: r.target,
            explicit: r.explicit,
            interpreter: r.source.clone().map(|source| {
                let up_to_date = store.is_current(source.name, &source.verified);
                let interp = planned_interpreter(store, source.name, up_to_date);
                sources.insert(r.target, (source, up_to_date));
                interp
            }),
            flags: r.flags,
            others: r.others,
        })
        .collect();
    let is_ours = |e: &binfmt_misc::Entry| prepared.is_ours(e);
    let mut decision = reconcile::decide(
        &wanted,
        &prepared.extras,
        &prepared.prefix,
        &prepared.host,
        &Current {
            entries: &current,
            is_ours: &is_ours,
        },
    );
    refresh_stale(
        &mut decision,
        &sources,
        &registrations,
        store,
        &prepared.prefix,
    );

    let mut report = Report {
        dry_run: mode == Mode::DryRun,
        mount: mount.to_path_buf(),
        warnings: prepared.warnings.clone(),
        ..Report::default()
    };
    if fs.is_none() {
        report.warnings.push(format!(
            "{} is not a mounted binfmt_misc: install would mount it",
            mount.display()
        ));
    }
    if decision.failed() || mode == Mode::DryRun {
        report.entries = decision.reports;
        return Ok(report.finish());
    }
    let Some(fs) = fs else {
        anyhow::bail!("binfmt_misc is not available at {}", mount.display());
    };
    if decision.plan.is_empty() {
        report.entries = decision.reports;
        return Ok(report.finish());
    }
    let installed = match install_interpreters(store, &sources, &decision) {
        Ok(installed) => installed,
        Err(e) => {
            // Nothing reached the kernel: every planned change fails with the reason.
            report.entries = fail_changes(decision.reports, &format!("{e:#}"));
            return Ok(report.finish());
        }
    };
    attach_installed(&mut decision, &installed);
    report.entries = apply(fs, decision, store, registrations, &installed)?;
    Ok(report.finish())
}

/// Opens binfmt_misc; `install` mounts it when missing, `plan` never changes anything.
fn open_mount(mount: &Path, mode: Mode) -> Result<Option<BinfmtMisc>> {
    match mode {
        Mode::Apply => {
            let (fs, mounted) = BinfmtMisc::open_or_mount(mount).map_err(anyhow::Error::new)?;
            if mounted {
                tracing::info!(mount = %mount.display(), "mounted binfmt_misc");
            }
            Ok(Some(fs))
        }
        Mode::DryRun => match BinfmtMisc::open(mount) {
            Ok(fs) => Ok(Some(fs)),
            Err(e) if e.kind() == binfmt_misc::ErrorKind::NotMounted => Ok(None),
            Err(e) => Err(e.into()),
        },
    }
}

/// Finds and verifies the interpreter for `target`.
fn resolve(ctx: &Context, target: Target, machine: HostMachine) -> Result<Source, String> {
    let name = target.qemu_binary();
    let path = match ctx.settings.interpreter_override(target) {
        Some(path) => path.to_path_buf(),
        None => interpreter::discover(target, &ctx.settings.interpreter_dirs).ok_or_else(|| {
            format!(
                "no interpreter for {target}: looked for {name}-static and {name} in the \
                 configured interpreter_dirs and {}; install qemu-user-static or set \
                 [target.{target}] interpreter",
                interpreter::DEFAULT_DIRS.join(", ")
            )
        })?,
    };
    let verified = interpreter::verify(&path, machine).map_err(|e| e.to_string())?;
    Ok(Source { name, verified })
}

/// The interpreter entries will use: the managed copy, with its digest when it is up to date.
fn planned_interpreter(store: &Store, name: &str, up_to_date: bool) -> Interpreter {
    let installed = up_to_date.then(|| store.installed(name)).flatten();
    Interpreter {
        path: store.path_of(name),
        sha256: installed.as_ref().map(|i| i.sha256.clone()),
        version: installed.and_then(|i| i.version),
    }
}

/// Without kernel support for preserving argv[0] (Linux < 5.12 passes no AT_FLAGS), `P` would
/// shift QEMU's arguments: drop it there.
fn effective_flags(flags: binfmt_misc::Flags, host: &HostFacts) -> binfmt_misc::Flags {
    if flags.preserve_argv0 && !host.kernel_passes_preserve_argv0 {
        binfmt_misc::Flags {
            preserve_argv0: false,
            ..flags
        }
    } else {
        flags
    }
}

/// Entries whose interpreter file changed (or whose pinned file is unknown) are re-registered:
/// with `F` the kernel keeps running the file it opened at registration.
fn refresh_stale(
    decision: &mut Decision,
    sources: &BTreeMap<Target, (Source, bool)>,
    registrations: &Registrations,
    store: &Store,
    prefix: &str,
) {
    for (target, (source, up_to_date)) in sources {
        let sha = up_to_date
            .then(|| store.installed(source.name))
            .flatten()
            .map(|i| i.sha256);
        for row in target.rows() {
            let name = reconcile::entry_name(prefix, row);
            let why = match &sha {
                None => "interpreter updated on disk".to_string(),
                Some(sha) if !registrations.pins(&name, sha) => {
                    "the kernel pins an older or unknown interpreter file".to_string()
                }
                Some(_) => continue,
            };
            reconcile::force_refresh(decision, &name, &why);
        }
    }
}

/// Copies every interpreter a planned entry needs into the store, after a free-space check.
fn install_interpreters(
    store: &Store,
    sources: &BTreeMap<Target, (Source, bool)>,
    decision: &Decision,
) -> Result<BTreeMap<&'static str, Installed>> {
    let needed: Vec<&(Source, bool)> = sources
        .values()
        .filter(|(s, _)| {
            let path = store.path_of(s.name);
            decision
                .plan
                .steps
                .iter()
                .any(|step| step.rule.as_ref().is_some_and(|r| r.interpreter == path))
        })
        .collect();
    let to_copy: u64 = needed
        .iter()
        .filter(|(_, up_to_date)| !up_to_date)
        .map(|(s, _)| s.verified.size)
        .sum();
    if to_copy > 0 {
        let free = store.free_space().map_err(anyhow::Error::new)?;
        if free < to_copy {
            anyhow::bail!(
                "not enough space in {}: {to_copy} bytes of interpreters to copy, {free} free; \
                 free some space or set install_dir elsewhere",
                store.dir().display()
            );
        }
    }
    let mut installed = BTreeMap::new();
    for (source, _) in needed {
        if installed.contains_key(source.name) {
            continue;
        }
        let done = store
            .install(source.name, &source.verified)
            .map_err(anyhow::Error::new)?;
        if done.changed {
            tracing::info!(
                interpreter = source.name,
                old_version = done.previous_version.as_deref().unwrap_or("-"),
                new_version = done.version.as_deref().unwrap_or("-"),
                "installed interpreter"
            );
        }
        installed.insert(source.name, done);
    }
    Ok(installed)
}

/// Fills digests and versions into the report lines now that the copies exist.
fn attach_installed(decision: &mut Decision, installed: &BTreeMap<&'static str, Installed>) {
    for report in &mut decision.reports {
        let Some(path) = &report.interpreter else {
            continue;
        };
        if let Some(i) = installed.values().find(|i| &i.path == path) {
            report.sha256 = Some(i.sha256.clone());
            report.version = i.version.clone();
        }
    }
}

fn fail_changes(reports: Vec<EntryReport>, why: &str) -> Vec<EntryReport> {
    reports
        .into_iter()
        .map(|r| {
            if r.action.is_change() {
                EntryReport {
                    action: Action::Failed,
                    reason: Some(why.to_string()),
                    ..r
                }
            } else {
                r
            }
        })
        .collect()
}

/// Applies the plan and records what the kernel now pins.
fn apply(
    fs: &BinfmtMisc,
    decision: Decision,
    store: &Store,
    mut registrations: Registrations,
    installed: &BTreeMap<&'static str, Installed>,
) -> Result<Vec<EntryReport>> {
    let outcomes = binfmt_misc::apply(&decision.plan, fs);
    let mut reports = decision.reports;
    for outcome in &outcomes {
        let step_rule: Option<&Rule> = decision
            .plan
            .steps
            .iter()
            .find(|s| s.name == outcome.name)
            .and_then(|s| s.rule.as_ref());
        let Some(report) = reports.iter_mut().find(|r| r.name == outcome.name) else {
            continue;
        };
        match (&outcome.result, step_rule) {
            (Err(e), _) => {
                report.action = Action::Failed;
                report.reason = Some(e.to_string());
                tracing::error!(entry = %outcome.name, "{e}");
            }
            (Ok(()), Some(rule)) => {
                tracing::info!(entry = %outcome.name, action = ?report.action, reason = report.reason.as_deref().unwrap_or(""), "registered");
                let pinned = installed.values().find(|i| i.path == rule.interpreter);
                registrations.entries.insert(
                    outcome.name.clone(),
                    Registration {
                        interpreter: rule.interpreter.clone(),
                        sha256: pinned.map(|i| i.sha256.clone()),
                        version: pinned.and_then(|i| i.version.clone()),
                    },
                );
            }
            (Ok(()), None) => {
                registrations.entries.remove(&outcome.name);
                tracing::info!(entry = %outcome.name, "removed");
            }
        }
    }
    if !outcomes.is_empty() {
        registrations
            .save(store.dir())
            .with_context(|| format!("recording registrations in {}", store.dir().display()))?;
    }
    Ok(reports)
}
