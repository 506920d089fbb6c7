//! `binfmtd install` and `binfmtd plan`: register emulators, or say what that would change.
//!
//! Order of work, so that bad input changes nothing:
//! 1. parse targets, open (or for `install` mount, only on an empty directory) binfmt_misc, check
//!    that `register` is writable (non-root, read-only mount);
//! 2. find and verify every interpreter (headers only), read the kernel's entries;
//! 3. decide (pure, [`crate::reconcile`]); any failure, or nothing to change, stops here, before
//!    the first write (not even the install directory is created);
//! 4. create the install directory, take the lock, read and decide again (a concurrent binfmtd
//!    may have done the work meanwhile);
//! 5. check free space and copy changed interpreters into the store (temporary file + rename);
//! 6. apply the plan to the kernel, record what was registered, report ([`write`]).

mod write;

use anyhow::{Context as _, Result};
use binfmt_misc::BinfmtMisc;
use elf_magic::Target;
use std::collections::BTreeMap;
use std::path::Path;

use super::Context;
use crate::host::{HostFacts, Nativity};
use crate::interpreter::{self, HostMachine, Installed, Store, Verified};
use crate::reconcile::{self, Current, Decision, Extra, Interpreter, Wanted};
use crate::registrations::Registrations;
use crate::report::{Action, EntryReport, Report};
use write::{apply, attach_installed, fail_changes, install_interpreters};

/// Whether to change anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `install`: apply.
    Apply,
    /// `plan`: change nothing (Ansible's check mode).
    DryRun,
    /// The daemon: apply every change that can be made even when some entry fails (the table
    /// changes under it; one blocked entry must not keep the others unrestored).
    Restore,
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
        self.store.owns(&entry.interpreter)
    }
}

/// Runs `install` (or `plan`) for the given target words.
pub fn run(ctx: &Context, words: &[String], mode: Mode) -> Result<Report> {
    let fs = open_mount(&ctx.mount, mode)?;
    if let (Mode::Apply, Some(fs)) = (mode, &fs) {
        // Before anything else: a non-root user or an unprivileged container gets the
        // permission error (with its --privileged hint), not a complaint about install_dir.
        check_writable(fs)?;
    }
    let prepared = prepare(ctx, words, mode)?;
    converge(&prepared, fs.as_ref(), &ctx.mount, mode)
}

/// Parses the targets, probes the host and finds and verifies every interpreter (headers only).
/// Changes nothing: for [`Mode::Apply`] an existing install directory is checked to be writable
/// (a missing one is created by [`converge`] only when there is something to install).
pub fn prepare(ctx: &Context, words: &[String], mode: Mode) -> Result<Prepared> {
    let selection = crate::selection::parse_targets(words, &ctx.settings.targets)?;
    let (targets, explicit) = selection.expand();
    let dir = &ctx.settings.install_dir;
    let store = match mode {
        Mode::Apply | Mode::Restore if dir.is_dir() => Store::open(dir).map_err(flat)?,
        Mode::Apply | Mode::Restore | Mode::DryRun => Store::at(dir),
    };
    let cache = (mode != Mode::DryRun && dir.is_dir()).then_some(dir.as_path());
    let host = HostFacts::gather_for(&targets, cache);
    let machine = host.machine().map_err(flat)?;
    let requests = targets
        .into_iter()
        .map(|target| Request {
            target,
            explicit,
            source: if host.nativity(target) == Nativity::Native {
                Err("native".to_string())
            } else {
                resolve(ctx, target, machine, &store)
            },
            flags: host.supported_flags(ctx.settings.flags_for(target)),
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
/// under the lock. With nothing to change it writes nothing (not even the install directory).
pub fn converge(
    prepared: &Prepared,
    fs: Option<&BinfmtMisc>,
    mount: &Path,
    mode: Mode,
) -> Result<Report> {
    let store = &prepared.store;
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
    let first = assess(prepared, fs)?;
    if mode == Mode::DryRun {
        report.entries = first.decision.reports;
        return Ok(report.finish());
    }
    if settled(&first.decision, mode) {
        report.entries = held(first.decision.reports);
        return Ok(report.finish());
    }
    let Some(fs) = fs else {
        anyhow::bail!("binfmt_misc is not available at {}", mount.display());
    };
    // Validate before the first write: the instance must accept registrations and the install
    // directory must exist (created now) and be writable.
    let ready = check_writable(fs).and_then(|()| Store::open(store.dir()).map_err(flat));
    if let Err(e) = ready {
        report.entries = fail_changes(first.decision.reports, &format!("{e:#}"));
        return Ok(report.finish());
    }
    let _lock = crate::lock::Lock::acquire(store.dir())?;
    // Another binfmtd may have changed the kernel or the store while this one waited: decide
    // again under the lock.
    let Assessment {
        mut decision,
        sources,
        registrations,
    } = assess(prepared, Some(fs))?;
    if settled(&decision, mode) {
        report.entries = held(decision.reports);
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
    keep_unchanged(&mut decision, &installed, &registrations);
    attach_installed(&mut decision, &installed);
    report.entries = apply(fs, decision, store, registrations, &installed)?;
    Ok(report.finish())
}

/// One reading of the kernel and the store, and the decision it leads to.
struct Assessment {
    decision: Decision,
    sources: BTreeMap<Target, (Source, bool)>,
    registrations: Registrations,
}

/// Reads the entries and the registrations record and decides (pure), marking entries whose
/// pinned interpreter is stale for replacement.
fn assess(prepared: &Prepared, fs: Option<&BinfmtMisc>) -> Result<Assessment> {
    let store = &prepared.store;
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
    Ok(Assessment {
        decision,
        sources,
        registrations,
    })
}

/// Nothing to apply: a planning failure (nothing may be written) or no change needed.
fn settled(decision: &Decision, mode: Mode) -> bool {
    decision.plan.is_empty() || (mode == Mode::Apply && decision.failed())
}

/// The report of a run that stopped before its first write because an entry failed: the changes
/// planned for the other entries did not happen, and the report must not say they did.
fn held(reports: Vec<EntryReport>) -> Vec<EntryReport> {
    let failed = reports.iter().any(|r| r.action == Action::Failed);
    reports
        .into_iter()
        .map(|r| {
            if failed && r.action.is_change() {
                let why = "not applied: nothing is changed while another entry fails".to_string();
                EntryReport {
                    action: Action::Skipped,
                    reason: Some(why),
                    ..r
                }
            } else {
                r
            }
        })
        .collect()
}

/// Checks, without writing, that this process may register entries in `fs`: a read-only mount
/// (a container without --privileged) or a non-root user fails here, before any change.
fn check_writable(fs: &BinfmtMisc) -> Result<()> {
    let register = fs.root().join("register");
    match nix::unistd::access(&register, nix::unistd::AccessFlags::W_OK) {
        Err(nix::errno::Errno::EROFS) => {
            Err(binfmt_misc::Error::ReadOnly { path: register }.into())
        }
        Err(nix::errno::Errno::EACCES | nix::errno::Errno::EPERM) => {
            Err(binfmt_misc::Error::PermissionDenied {
                path: register,
                op: "write registrations to",
            }
            .into())
        }
        // Anything else surfaces, with its own message, at the first real write.
        Ok(()) | Err(_) => Ok(()),
    }
}

/// An error whose message already names its cause (binfmtd's error types print their source
/// inline), as one line without the cause repeated.
fn flat(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// Opens binfmt_misc; `install` mounts it when missing (only on an empty directory: see
/// `check_mount_path` in `commands`), `plan` never changes anything.
fn open_mount(mount: &Path, mode: Mode) -> Result<Option<BinfmtMisc>> {
    match mode {
        Mode::Apply | Mode::Restore => {
            let (fs, mounted) = BinfmtMisc::open_or_mount(mount).map_err(flat)?;
            if mounted {
                tracing::info!(mount = %mount.display(), "mounted binfmt_misc");
            }
            Ok(Some(fs))
        }
        Mode::DryRun => match BinfmtMisc::open(mount) {
            Ok(fs) => Ok(Some(fs)),
            Err(e) if e.kind() == binfmt_misc::ErrorKind::NotMounted => Ok(None),
            Err(e) => Err(flat(e)),
        },
    }
}

/// Finds and verifies the interpreter for `target`.
///
/// A source whose stat identity the store already recorded passed verification before and has
/// not changed since (its ctime would have): it is not read again, so an unchanged re-run reads
/// no interpreter at all.
fn resolve(
    ctx: &Context,
    target: Target,
    machine: HostMachine,
    store: &Store,
) -> Result<Source, String> {
    let name = target.qemu_binary();
    let path = match ctx.settings.interpreter_override(target) {
        Some(path) => path.to_path_buf(),
        None => interpreter::discover(target, &ctx.settings.interpreter_dirs)
            .ok_or_else(|| super::no_interpreter(target))?,
    };
    if let Ok(known) = interpreter::identity(&path)
        && store.is_current(name, &known)
    {
        return Ok(Source {
            name,
            verified: known,
        });
    }
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

/// After the copies: an entry refreshed only because its source's stat identity changed keeps
/// its registration when the copy turned out byte-identical and already pinned.
fn keep_unchanged(
    decision: &mut Decision,
    installed: &BTreeMap<&'static str, Installed>,
    registrations: &Registrations,
) {
    let unchanged: Vec<String> = decision
        .refreshed
        .iter()
        .filter(|name| {
            let step = decision.plan.steps.iter().find(|s| &s.name == *name);
            let copy = step
                .and_then(|s| s.rule.as_ref())
                .and_then(|rule| installed.values().find(|i| i.path == rule.interpreter));
            copy.is_some_and(|i| !i.changed && registrations.pins(name, &i.sha256))
        })
        .cloned()
        .collect();
    for name in unchanged {
        reconcile::unforce(decision, &name);
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
