//! `binfmtd daemon`: register, tell systemd, then keep the entries registered.
//!
//! Lifecycle: load the configuration, prepare (probe the host, verify interpreters), open or
//! mount binfmt_misc and keep that descriptor for the whole run (it pins the instance: a stray
//! `umount` gets EBUSY and cannot wipe the table), converge, then `READY=1` with a `STATUS=`
//! line. A failure before that is an exit with a one-line error, never a hang.
//!
//! Afterwards the daemon sleeps in one `poll(2)` ([`events`]) and reacts:
//! - binfmt_misc changed (removed, disabled, replaced, flushed entries): converge, which restores
//!   binfmtd's own entries and leaves other tools' alone unless configured to replace them.
//!   binfmtd's own writes wake it once more; converging an already converged table writes
//!   nothing, so there is no self-loop. Another manager fighting over an entry trips the
//!   [`guard`], and the daemon backs off (logged and shown in `STATUS=`);
//! - the mount went away: mount again (the same instance, kept alive by the descriptor), restore;
//! - an interpreter source changed: prepare again and converge, which copies, verifies and
//!   re-registers the new build (the kernel keeps running a pinned `F` interpreter otherwise);
//! - `SIGHUP`: `RELOADING=1`, re-read the configuration; a bad one is logged and the running
//!   state kept; then `READY=1` again;
//! - `SIGTERM`/`SIGINT`: `STOPPING=1`, leave the entries registered (or remove them with
//!   `--remove-on-stop` / `[daemon] remove_on_stop`), exit 0.

mod events;
mod guard;
mod notify;
mod sources;

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use binfmt_misc::{BinfmtMisc, Change, Watcher};

use crate::cli::{DaemonArgs, GlobalArgs};
use crate::commands::Context;
use crate::commands::install::{self, Mode, Prepared};
use crate::commands::uninstall::{self, Matching, Scope};
use crate::report::{Action, Report};
use events::{Events, Waiter};
use guard::Guard;
use sources::SourceWatch;

/// How long interpreter source changes must settle before they are acted on (a package upgrade
/// touches many files in a burst).
const SETTLE: Duration = Duration::from_millis(300);
/// After a failed restoration, try again this much later.
const RETRY: Duration = Duration::from_secs(5);

/// Runs the daemon until `SIGTERM`/`SIGINT`.
pub fn run(global: &GlobalArgs, args: &DaemonArgs) -> Result<()> {
    let waiter = Waiter::new()?;
    let mut daemon = Daemon::start(global, args)?;
    loop {
        let events = waiter.wait(&daemon.watcher, daemon.sources.as_ref(), daemon.deadline())?;
        if events.stop {
            return daemon.stop();
        }
        daemon.handle(events);
    }
}

/// The running state.
struct Daemon {
    global: GlobalArgs,
    /// `--remove-on-stop` (the configuration's `[daemon] remove_on_stop` is read from `ctx`).
    remove_on_stop: bool,
    ctx: Context,
    prepared: Prepared,
    fs: BinfmtMisc,
    watcher: Watcher,
    sources: Option<SourceWatch>,
    guard: Guard,
    /// Interpreter sources changed: prepare again once this deadline passes.
    reprepare_at: Option<Instant>,
    /// A restoration was held back by the guard.
    pending: bool,
    /// A restoration failed: try again at this deadline (not only at the next event).
    retry_at: Option<Instant>,
    watchdog: Option<(Duration, Instant)>,
    status: String,
}

impl Daemon {
    fn start(global: &GlobalArgs, args: &DaemonArgs) -> Result<Daemon> {
        let ctx = Context::load(global)?;
        let prepared = install::prepare(&ctx, &[], Mode::Apply)?;
        let (fs, mounted) = BinfmtMisc::open_or_mount(&ctx.mount)
            .with_context(|| format!("opening binfmt_misc at {}", ctx.mount.display()))?;
        if mounted {
            tracing::info!(mount = %ctx.mount.display(), "mounted binfmt_misc");
        }
        let watcher = Watcher::new(&ctx.mount)?;
        let report = install::converge(&prepared, Some(&fs), &ctx.mount, Mode::Apply)?;
        if report.failed() {
            anyhow::bail!(
                "the first registration failed ({}); fix the configuration or the interpreters \
                 and start again",
                failures(&report)
            );
        }
        for w in &report.warnings {
            tracing::warn!("{w}");
        }
        log_changes(&report, "start");
        let sources = watch_sources(&ctx);
        let watchdog = sd_notify::watchdog_enabled().map(|d| (d / 2, Instant::now() + d / 2));
        let mut daemon = Daemon {
            global: global.clone(),
            remove_on_stop: args.remove_on_stop,
            ctx,
            prepared,
            fs,
            watcher,
            sources,
            guard: Guard::default(),
            reprepare_at: None,
            pending: false,
            retry_at: None,
            watchdog,
            status: String::new(),
        };
        daemon.status = daemon.status_line(&report);
        tracing::info!(status = %daemon.status, "ready");
        notify::ready(&daemon.status);
        Ok(daemon)
    }

    /// The nearest deadline the loop must wake up for, if any.
    fn deadline(&self) -> Option<Instant> {
        let backoff = self
            .pending
            .then(|| self.guard.active(Instant::now()).map(|b| b.until))
            .flatten();
        [
            backoff,
            self.reprepare_at,
            self.retry_at,
            self.watchdog.map(|(_, at)| at),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn handle(&mut self, events: Events) {
        let now = Instant::now();
        if let Some((period, at)) = self.watchdog
            && now >= at
        {
            notify::watchdog();
            self.watchdog = Some((period, now + period));
        }
        if events.reload {
            self.reload();
        }
        if !events.sources.is_empty() {
            tracing::info!(files = ?events.sources, "interpreter sources changed");
            self.reprepare_at = Some(now + SETTLE);
        }
        if self.reprepare_at.is_some_and(|at| now >= at) {
            self.reprepare_at = None;
            self.reprepare();
        }
        let mut changed = !events.mount.is_empty();
        if events.mount.contains(&Change::Unmounted) || events.mount_table && !self.still_mounted()
        {
            self.remount();
            changed = true;
        }
        let retry = self.retry_at.is_some_and(|at| now >= at);
        if changed || retry || self.pending && self.guard.active(now).is_none() {
            // A write to `status` is a flush (or the instance switched off and on): every entry
            // at once, which fights no one however often it happens.
            let flushed = events
                .mount
                .iter()
                .any(|c| matches!(c, Change::Modified(Some(n)) if n == "status"));
            self.heal(&trigger(&events.mount), flushed);
        }
    }

    /// Restores binfmtd's entries after a change made by someone else.
    fn heal(&mut self, trigger: &str, flushed: bool) {
        let now = Instant::now();
        if let Some(b) = self.guard.active(now) {
            tracing::debug!(entry = %b.entry, "backing off; restoring later");
            self.pending = true;
            return;
        }
        self.pending = false;
        self.retry_at = None;
        let report = match install::converge(
            &self.prepared,
            Some(&self.fs),
            &self.ctx.mount,
            Mode::Restore,
        ) {
            Ok(report) => report,
            Err(e) => {
                tracing::error!(
                    retry_secs = RETRY.as_secs(),
                    "restoring entries failed: {e:#}"
                );
                self.retry_at = Some(now + RETRY);
                return;
            }
        };
        log_changes(&report, trigger);
        // The guard counts entries taken or changed one by one, not flushes.
        for e in report
            .entries
            .iter()
            .filter(|e| e.action.is_change() && !flushed)
        {
            if let Some(b) = self.guard.record(&e.name, now) {
                tracing::warn!(
                    entry = %b.entry,
                    backoff_secs = b.period.as_secs(),
                    "entry restored more than {} times in {} s: another tool keeps changing it; \
                     backing off",
                    guard::LIMIT,
                    guard::WINDOW.as_secs()
                );
                self.pending = true;
            }
        }
        self.publish(&report);
    }

    /// Prepares again from the same configuration (interpreter sources changed), then converges:
    /// a changed interpreter is copied, verified and re-registered.
    fn reprepare(&mut self) {
        match install::prepare(&self.ctx, &[], Mode::Restore) {
            Ok(prepared) => self.prepared = prepared,
            Err(e) => {
                tracing::error!("re-checking interpreters failed, keeping the current ones: {e:#}");
                return;
            }
        }
        self.sources = watch_sources(&self.ctx);
        self.converge_now("interpreter upgrade");
    }

    /// `SIGHUP`: re-read the configuration; a bad one changes nothing.
    fn reload(&mut self) {
        notify::reloading();
        tracing::info!("reloading the configuration");
        let loaded = Context::load(&self.global)
            .and_then(|ctx| install::prepare(&ctx, &[], Mode::Apply).map(|p| (ctx, p)));
        match loaded {
            Err(e) => {
                tracing::error!("reload failed, keeping the running configuration: {e:#}");
            }
            Ok((ctx, prepared)) => {
                let keep = prepared.wanted_entries();
                let dropped: Vec<String> = self
                    .prepared
                    .wanted_entries()
                    .into_iter()
                    .filter(|n| !keep.contains(n))
                    .collect();
                if !dropped.is_empty() {
                    match uninstall::run(&self.ctx, &dropped, Scope::Ours, Matching::Native) {
                        Ok(report) => log_changes(&report, "reload"),
                        Err(e) => tracing::error!("removing entries no longer configured: {e:#}"),
                    }
                }
                self.ctx = ctx;
                self.prepared = prepared;
                self.sources = watch_sources(&self.ctx);
                self.converge_now("reload");
            }
        }
        notify::ready(&self.status);
    }

    /// Converges outside the loop guard (reload, upgrade) and publishes the status.
    fn converge_now(&mut self, trigger: &str) {
        match install::converge(
            &self.prepared,
            Some(&self.fs),
            &self.ctx.mount,
            Mode::Restore,
        ) {
            Ok(report) => {
                log_changes(&report, trigger);
                self.publish(&report);
            }
            Err(e) => tracing::error!("{trigger}: converging failed: {e:#}"),
        }
    }

    /// Whether the mount point still shows binfmt_misc.
    fn still_mounted(&self) -> bool {
        BinfmtMisc::open(&self.ctx.mount).is_ok()
    }

    /// The mount went away (`umount -l`, an automount expiring): mount it again. In the same user
    /// namespace that is the same instance, still alive through the old descriptor.
    fn remount(&mut self) {
        let mount = self.ctx.mount.clone();
        match BinfmtMisc::open_or_mount(&mount)
            .and_then(|(fs, mounted)| Watcher::new(&mount).map(|w| (fs, w, mounted)))
        {
            Ok((fs, watcher, mounted)) => {
                tracing::warn!(mount = %mount.display(), mounted, "binfmt_misc was unmounted; mounted it again");
                self.fs = fs;
                self.watcher = watcher;
            }
            Err(e) => tracing::error!(
                "binfmt_misc at {} went away and cannot be mounted again ({e}); the entries keep \
                 working while binfmtd runs",
                mount.display()
            ),
        }
    }

    fn stop(self) -> Result<()> {
        notify::stopping();
        tracing::info!("stopping");
        if self.remove_on_stop || self.ctx.settings.daemon.remove_on_stop {
            let report = uninstall::run(&self.ctx, &[], Scope::Ours, Matching::Native)?;
            log_changes(&report, "stop");
        }
        Ok(())
    }

    /// Updates `STATUS=` when it changed.
    fn publish(&mut self, report: &Report) {
        let status = self.status_line(report);
        if status != self.status {
            tracing::info!(status = %status, "status");
            notify::status(&status);
            self.status = status;
        }
    }

    /// `12 emulators registered: aarch64, arm, …`, plus any back-off in force.
    fn status_line(&self, report: &Report) -> String {
        let mut names: Vec<String> = Vec::new();
        for e in &report.entries {
            if matches!(e.action, Action::Added | Action::Replaced | Action::Kept) {
                let name = e.target.clone().unwrap_or_else(|| e.name.clone());
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        let mut line = format!("{} emulators registered: {}", names.len(), names.join(", "));
        if let Some(b) = self.guard.active(Instant::now()) {
            line.push_str(&format!(
                "; backing off: {} keeps being changed by another tool, retrying in {} s",
                b.entry,
                b.period.as_secs()
            ));
        }
        line
    }
}

/// The source watch, or `None` (logged) when inotify is unavailable: upgrades are then picked up
/// on reload only.
fn watch_sources(ctx: &Context) -> Option<SourceWatch> {
    SourceWatch::new(ctx)
        .inspect_err(|e| tracing::warn!("cannot watch interpreter sources: {e}"))
        .ok()
        .inspect(|s| tracing::debug!(dirs = s.dirs().len(), "watching interpreter sources"))
}

/// Describes what happened under the mount, for the log.
fn trigger(changes: &[Change]) -> String {
    let mut parts: Vec<String> = changes
        .iter()
        .map(|c| match c {
            Change::Modified(Some(n)) => format!("{n} written"),
            Change::Modified(None) => "binfmt_misc written".to_string(),
            Change::Deleted(n) => format!("{n} removed"),
            Change::Unmounted => "binfmt_misc unmounted".to_string(),
            Change::Overflow => "event queue overflow".to_string(),
        })
        .collect();
    parts.dedup();
    if parts.is_empty() {
        "mount table changed".to_string()
    } else {
        parts.join(", ")
    }
}

/// One summary line per convergence that changed something (each entry's own line, with its
/// action and reason, comes from `install`), and one line per failed entry.
fn log_changes(report: &Report, trigger: &str) {
    let changed: Vec<&str> = report
        .entries
        .iter()
        .filter(|e| e.action.is_change())
        .map(|e| e.name.as_str())
        .collect();
    if !changed.is_empty() {
        tracing::info!(trigger, entries = %changed.join(","), "converged");
    }
    for e in report.entries.iter().filter(|e| e.action == Action::Failed) {
        let reason = e.reason.as_deref().unwrap_or("");
        tracing::error!(entry = %e.name, reason, trigger, "failed");
    }
}

/// The failed entries, for the start-up error.
fn failures(report: &Report) -> String {
    report
        .entries
        .iter()
        .filter(|e| e.action == Action::Failed)
        .map(|e| format!("{}: {}", e.name, e.reason.as_deref().unwrap_or("failed")))
        .collect::<Vec<_>>()
        .join("; ")
}
