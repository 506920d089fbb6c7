//! `binfmtd daemon`: register, tell systemd, then keep the entries registered.
//!
//! Lifecycle: load the configuration, prepare (probe the host, verify interpreters), open or
//! mount binfmt_misc and keep that descriptor for the whole run (it pins the instance: a stray
//! `umount` gets EBUSY and cannot wipe the table), take the instance's manager lock (a second
//! daemon refuses to start instead of fighting the first), converge, then `READY=1` with a
//! `STATUS=` line that says what is really registered (the probes follow and update it). A
//! configuration error or an unwritable binfmt_misc is an exit with a one-line error; entries that
//! cannot be served (a missing interpreter, no space for a copy) are reported once and the others
//! served.
//!
//! Afterwards the daemon sleeps in one `poll(2)` ([`events`]) and reacts:
//! - binfmt_misc changed (removed, disabled, replaced, flushed entries): converge (the engine's
//!   prepare once, then facts → decide → apply, best effort), which restores binfmtd's own
//!   entries and leaves other tools' alone unless configured to replace them. binfmtd's own
//!   writes wake it once more; converging an already converged table writes nothing, so there
//!   is no self-loop. Another manager that keeps changing one entry trips the [`guard`] for that
//!   entry only: it is left alone for a while (logged and shown in `STATUS=`), the others are
//!   still restored. Flushes never count ([`flush`]): removals read before their `status` write
//!   wait [`flush::SETTLE`] for it, and only entries whose own change the batch saw can count;
//! - the mount went away: mount again (the same instance, kept alive by the descriptor), restore;
//! - an interpreter source changed: prepare again and converge, which copies, verifies and
//!   re-registers the new build (the kernel keeps running a pinned `F` interpreter otherwise);
//! - the slow work (preparing again, the probes behind `STATUS=`) runs on a worker thread
//!   ([`background`]), so a flush that arrives meanwhile is still restored within milliseconds;
//! - `SIGHUP`: `RELOADING=1`, re-read the configuration; a bad one is logged and the running
//!   state kept; then `READY=1` again;
//! - `SIGTERM`/`SIGINT`: `STOPPING=1`, leave the entries registered (or remove them with
//!   `--remove-on-stop` / `[daemon] remove_on_stop`), exit 0.

mod background;
mod events;
mod flush;
mod guard;
mod notify;
mod sources;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use binfmt_misc::{BinfmtMisc, Change, InstanceLock, Watcher};

use crate::cli::{DaemonArgs, GlobalArgs};
use crate::commands::Context;
use crate::commands::uninstall::{self, Matching, Scope};
use crate::engine::{self, InstallIntent, Mode, Prepared, Step, Use, Why};
use crate::report::{Action, Report};
use background::{Background, Done, Work};
use events::{Events, Waiter};
use flush::FlushState;
use guard::Guard;
use sources::SourceWatch;

/// How long interpreter source changes must settle before they are acted on (a package upgrade
/// touches many files in a burst).
const SETTLE: Duration = Duration::from_millis(300);
/// After a failed restoration, try again this much later.
const RETRY: Duration = Duration::from_secs(5);
/// A first convergence slower than this converges once more before the probes run.
const SLOW_START: Duration = Duration::from_millis(200);
/// After the entries changed, run the probes this much later (a burst of changes runs them once).
const CHECK_DELAY: Duration = Duration::from_millis(500);

/// Runs the daemon until `SIGTERM`/`SIGINT`.
pub fn run(global: &GlobalArgs, args: &DaemonArgs) -> Result<()> {
    let waiter = Waiter::new()?;
    let mut daemon = Daemon::start(global, args)?;
    loop {
        let mut events = waiter.wait(
            &daemon.watcher,
            daemon.sources.as_ref(),
            daemon.background.fd(),
            daemon.deadline(),
        )?;
        // Removals without a `status` write may be the first half of a flush: wait a moment
        // for the rest, so that it is not mistaken for a fight.
        let settle = Instant::now() + flush::SETTLE;
        while flush::needs_settle(&events.mount) && !events.stop && Instant::now() < settle {
            let more = waiter.wait(
                &daemon.watcher,
                daemon.sources.as_ref(),
                daemon.background.fd(),
                Some(settle),
            )?;
            events.merge(more);
        }
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
    /// Held for the daemon's life: no second daemon manages this instance.
    _manager: InstanceLock,
    watcher: Watcher,
    sources: Option<SourceWatch>,
    guard: Guard,
    /// Whether a flush is still being restored (its removals are never a fight).
    flush: FlushState,
    /// Interpreter sources changed: prepare again once this deadline passes (and no other slow
    /// work runs).
    reprepare_at: Option<Instant>,
    /// The slow work (re-preparing, probes) running off the loop, so flushes are still healed.
    background: Background,
    /// Changes seen under the mount so far, and their count when the running probes started:
    /// probes that overlapped a change (a flush) saw a table in motion and are run again.
    mount_changes: u64,
    checked_at_change: u64,
    /// A restoration failed: try again at this deadline (not only at the next event).
    retry_at: Option<Instant>,
    /// The last convergence left entries alone (backing off): converge when that ends.
    holding: bool,
    /// The entries changed: run the probes (`binfmtd check`) at this deadline and update
    /// `STATUS=` with what really executes (debounced: a burst of changes runs them once).
    check_at: Option<Instant>,
    /// The last convergence's report, and what the last check found not to execute.
    last: Report,
    not_executing: Vec<String>,
    watchdog: Option<(Duration, Instant)>,
    status: String,
}

impl Daemon {
    fn start(global: &GlobalArgs, args: &DaemonArgs) -> Result<Daemon> {
        let ctx = Context::load(global)?;
        ctx.check_mount()?;
        let prepared = engine::prepare(&ctx.settings, &ctx.settings.targets, Use::Store)?;
        let (fs, mounted) = BinfmtMisc::open_or_mount(&ctx.mount)
            .with_context(|| format!("opening binfmt_misc at {}", ctx.mount.display()))?;
        if mounted {
            tracing::info!(mount = %ctx.mount.display(), "mounted binfmt_misc");
            share_with_pid1(&fs);
        }
        let manager = fs.lock_manager()?.with_context(|| {
            format!(
                "another binfmtd daemon already manages binfmt_misc at {}: stop it first \
                 (`systemctl stop binfmtd`), two would fight over the entries",
                ctx.mount.display()
            )
        })?;
        let watcher = Watcher::new(&ctx.mount)?;
        let sources = watch_sources(&ctx.settings, &prepared);
        let mut daemon = Daemon {
            global: global.clone(),
            remove_on_stop: args.remove_on_stop,
            ctx,
            prepared,
            fs,
            _manager: manager,
            watcher,
            sources,
            guard: Guard::default(),
            flush: FlushState::default(),
            reprepare_at: None,
            background: Background::default(),
            mount_changes: 0,
            checked_at_change: 0,
            retry_at: None,
            holding: false,
            check_at: None,
            last: Report::default(),
            not_executing: Vec::new(),
            watchdog: None,
            status: String::new(),
        };
        let started = Instant::now();
        let report = daemon.converge("start", Start::Refuse, &BTreeSet::new())?;
        if let Some(problem) = cannot_write(&report) {
            anyhow::bail!("{problem}");
        }
        daemon.last = report;
        // The first convergence can take seconds (the store's first fill copies or digests every
        // interpreter); a flush meanwhile (a `systemctl restart systemd-binfmt`, a QEMU upgrade's
        // trigger) is restored now, before the probes run, not after READY=1. Converged, this
        // writes nothing.
        if started.elapsed() > SLOW_START {
            match daemon.converge("start (again)", Start::Running, &BTreeSet::new()) {
                Ok(report) => daemon.last = report,
                Err(e) => tracing::warn!("converging again after a slow start: {e:#}"),
            }
        }
        // READY=1 as soon as the entries are there (units ordered after binfmtd need no more);
        // the probes run right after, off the loop, and STATUS= then says what executes.
        daemon.status = daemon.status_line();
        tracing::info!(status = %daemon.status, "ready");
        notify::ready(&daemon.status);
        daemon.check_at = Some(Instant::now());
        // The watchdog's period counts from READY=1.
        daemon.watchdog = sd_notify::watchdog_enabled().map(|d| (d / 2, Instant::now() + d / 2));
        Ok(daemon)
    }

    /// The nearest deadline the loop must wake up for, if any. Slow work waits for the running
    /// job (its end wakes the loop anyway).
    fn deadline(&self) -> Option<Instant> {
        let idle = !self.background.busy();
        [
            self.guard.next_deadline(Instant::now()),
            self.reprepare_at.filter(|_| idle),
            self.retry_at,
            self.watchdog.map(|(_, at)| at),
            self.check_at.filter(|_| idle),
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
            if self.reprepare_at.is_none() {
                tracing::info!(files = ?events.sources, "interpreter sources changed");
            }
            self.reprepare_at = Some(now + SETTLE);
        }
        let mut changed = !events.mount.is_empty();
        if changed || events.mount_table {
            self.mount_changes += 1;
        }
        if events.mount.contains(&Change::Unmounted) || events.mount_table && !self.still_mounted()
        {
            self.remount();
            changed = true;
        }
        let due = self.retry_at.is_some_and(|at| now >= at);
        // A back-off that just ended: restore what was held.
        let resumed = self.holding && self.guard.held(now).is_empty();
        if changed || due || resumed {
            // A write to `status` (or lost events), and removals after it until the table is
            // complete again: a flush, never a fight.
            // Only entries this batch saw changed can have been undone against another tool.
            let flushed = self.flush.observe(&events.mount);
            let changed_by_others = if flushed {
                BTreeSet::new()
            } else {
                flush::touched(&events.mount)
            };
            self.heal(&trigger(&events.mount), &changed_by_others);
        }
        if events.worker_done
            && let Some(done) = self.background.finish()
        {
            self.collect(done);
        }
        // The slow work comes after healing and runs off the loop: a flush that arrives with an
        // interpreter upgrade (Debian's QEMU postinst restarts systemd-binfmt) is restored from
        // the store's current copies at once, while the new builds are verified and probed.
        self.start_slow_work(Instant::now());
    }

    /// Starts the slow work that is due, one job at a time: re-preparing first (the probes
    /// follow its convergence anyway).
    fn start_slow_work(&mut self, now: Instant) {
        if self.background.busy() {
            return;
        }
        let work = if self.reprepare_at.is_some_and(|at| now >= at) {
            self.reprepare_at = None;
            Work::Prepare(Box::new(self.ctx.settings.clone()))
        } else if self.check_at.is_some_and(|at| now >= at) {
            self.check_at = None;
            self.checked_at_change = self.mount_changes;
            Work::Check(self.served_targets(), self.ctx.mount.clone())
        } else {
            return;
        };
        let again = match work {
            Work::Prepare(_) => &mut self.reprepare_at,
            Work::Check(..) => &mut self.check_at,
        };
        if let Err(e) = self.background.start(work) {
            tracing::error!("{e:#}; trying again in {} s", RETRY.as_secs());
            *again = Some(now + RETRY);
        }
    }

    /// A finished job: adopt the interpreters prepared again, or the probes' results.
    fn collect(&mut self, done: Result<Done>) {
        match done {
            Err(e) => tracing::error!("{e:#}"),
            // The table changed while the probes ran: what they saw may be gone already.
            Ok(Done::Checked(_)) if self.checked_at_change != self.mount_changes => {
                self.check_at.get_or_insert(Instant::now() + CHECK_DELAY);
            }
            Ok(Done::Checked(checks)) => {
                self.not_executing = checks
                    .into_iter()
                    .filter(|c| !c.executes())
                    .map(|c| match &c.reason {
                        Some(r) => format!("{} ({r})", c.target),
                        None => c.target.name().to_string(),
                    })
                    .collect();
                for n in &self.not_executing {
                    tracing::warn!("does not execute: {n}");
                }
                self.publish_status();
            }
            // Prepared for a configuration replaced meanwhile (`systemctl reload`): again.
            Ok(Done::Prepared(settings, _)) if *settings != self.ctx.settings => {
                self.reprepare_at = Some(Instant::now());
            }
            Ok(Done::Prepared(_, prepared)) => match *prepared {
                Err(e) => {
                    tracing::error!(
                        "re-checking interpreters failed, keeping the current ones: {e:#}"
                    );
                }
                // A changed interpreter is linked or copied, verified and re-registered.
                Ok(prepared) => {
                    self.prepared = prepared;
                    self.sources = watch_sources(&self.ctx.settings, &self.prepared);
                    self.heal("interpreter upgrade", &BTreeSet::new());
                }
            },
        }
    }

    /// Restores binfmtd's entries after a change made by someone else (`changed_by_others`: the
    /// entries whose restoration counts for the loop guard; never those of a flush).
    fn heal(&mut self, trigger: &str, changed_by_others: &BTreeSet<String>) {
        self.retry_at = None;
        match self.converge(trigger, Start::Running, changed_by_others) {
            Ok(report) => {
                if report.changed {
                    self.check_at = Some(Instant::now() + CHECK_DELAY);
                }
                self.last = report;
                self.publish_status();
            }
            Err(e) => {
                tracing::error!(
                    retry_secs = RETRY.as_secs(),
                    "restoring entries failed: {e:#}"
                );
                self.retry_at = Some(Instant::now() + RETRY);
            }
        }
    }

    /// One convergence: facts, decide (best effort, held entries left alone), apply, and the
    /// guard's bookkeeping of undone changes.
    fn converge(
        &mut self,
        trigger: &str,
        start: Start,
        changed_by_others: &BTreeSet<String>,
    ) -> Result<Report> {
        let _writers = self.fs.lock_writers()?;
        let mut facts = engine::read_facts(&self.prepared, Some(&self.fs), &self.ctx.mount)?;
        // The daemon is the host's manager: it masks the distribution's binfmt.d files of the
        // targets it serves, so systemd-binfmt's next start does not fight it.
        facts.masks = Some(engine::masks::read(
            &engine::masks::root(),
            &facts.store.pins.masks,
        ));
        let now = Instant::now();
        let held = self.guard.held(now);
        self.holding = !held.is_empty();
        let intent = InstallIntent {
            mode: Mode::BestEffort,
            held,
        };
        let decision = engine::decide::install(&facts, &intent);
        if start == Start::Refuse {
            let problems: Vec<String> = decision
                .failures()
                .filter(|d| d.why.as_ref().is_some_and(Why::is_configuration_problem))
                .map(engine::EntryDecision::describe)
                .collect();
            if !problems.is_empty() {
                anyhow::bail!(
                    "the first registration failed ({}); fix the configuration or the \
                     interpreters and start again",
                    problems.join("; ")
                );
            }
        }
        let remember = !self.prepared.fresh.is_empty();
        let outcome = (decision.changes() || remember).then(|| {
            let store = engine::StoreIo {
                store: &self.prepared.store,
                fresh: &self.prepared.fresh,
            };
            engine::apply(&decision, Mode::BestEffort, &self.fs, Some(store))
        });
        if let Some(o) = &outcome {
            if o.store_error.is_none() {
                self.prepared.fresh.clear();
            }
            let failed_io = o.entries.iter().flatten().any(Result::is_err);
            if failed_io {
                self.retry_at = Some(now + RETRY);
            }
            for (i, d) in decision.entries.iter().enumerate() {
                if matches!(o.result(i), Some(Ok(())))
                    && changed_by_others.contains(&d.name)
                    && undoes_another_tool(d)
                    && let Some(b) = self.guard.record(&d.name, now)
                {
                    tracing::warn!(
                        entry = %d.name,
                        backoff_secs = b.period.as_secs(),
                        "entry restored more than {} times in {} s: another tool keeps changing \
                         it; leaving it alone for a while",
                        guard::LIMIT,
                        guard::WINDOW.as_secs()
                    );
                }
            }
        }
        // Everything written was written: the table is complete again (up to what cannot be
        // served), so a flush being restored is over.
        if outcome
            .as_ref()
            .is_none_or(|o| o.entries.iter().flatten().all(Result::is_ok))
        {
            self.flush.complete();
        }
        let report = engine::report::build(&decision, outcome.as_ref(), &self.ctx.mount, false);
        // At start, an instance binfmtd cannot write at all ends the daemon with that one line
        // (see `start`), not with a failure per entry pointing at it.
        if start != Start::Refuse || cannot_write(&report).is_none() {
            log_changes(&report, trigger);
        }
        Ok(report)
    }

    /// `SIGHUP`: re-read the configuration; a bad one changes nothing.
    fn reload(&mut self) {
        notify::reloading();
        tracing::info!("reloading the configuration");
        let loaded = Context::load(&self.global).and_then(|ctx| {
            engine::prepare(&ctx.settings, &ctx.settings.targets, Use::Store).map(|p| (ctx, p))
        });
        match loaded {
            Err(e) => {
                tracing::error!("reload failed, keeping the running configuration: {e:#}");
            }
            Ok((ctx, prepared)) => {
                let keep: BTreeSet<String> = prepared.wanted_entries().into_iter().collect();
                let dropped: Vec<String> = self
                    .prepared
                    .wanted_entries()
                    .into_iter()
                    .filter(|n| !keep.contains(n))
                    .collect();
                if !dropped.is_empty() {
                    match uninstall::run(
                        &self.ctx,
                        &self.fs,
                        &dropped,
                        Scope::Ours,
                        Matching::Native,
                    ) {
                        Ok(report) => log_changes(&report, "reload"),
                        Err(e) => tracing::error!("removing entries no longer configured: {e:#}"),
                    }
                }
                self.ctx = ctx;
                self.prepared = prepared;
                self.sources = watch_sources(&self.ctx.settings, &self.prepared);
                self.heal("reload", &BTreeSet::new());
            }
        }
        notify::ready(&self.status);
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
                if mounted {
                    share_with_pid1(&fs);
                }
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
            let report = uninstall::run(&self.ctx, &self.fs, &[], Scope::Ours, Matching::Native)?;
            log_changes(&report, "stop");
        }
        Ok(())
    }

    /// The targets this daemon serves with an emulator (what its probes check).
    fn served_targets(&self) -> Vec<elf_magic::Target> {
        self.prepared
            .targets
            .iter()
            .filter(|t| t.nativity != crate::host::Nativity::Native && t.interpreter.is_ok())
            .map(|t| t.target)
            .collect()
    }

    /// Updates `STATUS=` when it changed.
    fn publish_status(&mut self) {
        let status = self.status_line();
        if status != self.status {
            tracing::info!(status = %status, "status");
            notify::status(&status);
            self.status = status;
        }
    }

    /// What is really registered after the last convergence: `12 emulators registered: aarch64,
    /// …`, then what is not (failures, back-offs, a disabled instance, targets whose probe does
    /// not execute).
    fn status_line(&self) -> String {
        let report = &self.last;
        let mut served: Vec<String> = Vec::new();
        let mut failed: Vec<String> = Vec::new();
        for e in &report.entries {
            let name = e.target.clone().unwrap_or_else(|| e.name.clone());
            match e.action {
                Action::Added | Action::Replaced | Action::Kept if !served.contains(&name) => {
                    served.push(name)
                }
                Action::Failed if !failed.contains(&name) => failed.push(name),
                _ => {}
            }
        }
        let mut line = format!(
            "{} emulators registered: {}",
            served.len(),
            served.join(", ")
        );
        if !failed.is_empty() {
            line.push_str(&format!("; {} failed: {}", failed.len(), failed.join(", ")));
        }
        let now = Instant::now();
        let held: Vec<String> = self
            .guard
            .active(now)
            .map(|(name, b)| {
                format!(
                    "{name} (retrying in {} s)",
                    b.until.saturating_duration_since(now).as_secs().max(1)
                )
            })
            .collect();
        if !held.is_empty() {
            line.push_str(&format!(
                "; backing off: {} (another tool keeps changing it)",
                held.join(", ")
            ));
        }
        if report.problems.iter().any(|p| p.contains("is disabled")) {
            line.push_str("; binfmt_misc is DISABLED: nothing executes");
        } else if !self.not_executing.is_empty() {
            line.push_str(&format!(
                "; {} do not execute: {}",
                self.not_executing.len(),
                self.not_executing.join(", ")
            ));
        }
        line
    }
}

/// Whether the first convergence refuses configuration problems (at start) or serves what it
/// can (later: the configuration was accepted once; a target may lose its interpreter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    Refuse,
    Running,
}

/// The problem that says binfmt_misc cannot be written at all (read-only, permission denied).
fn cannot_write(report: &Report) -> Option<&String> {
    report
        .problems
        .iter()
        .find(|p| p.contains("read-only") || p.contains("permission denied"))
}

/// Whether applying `d` undid another tool's change to binfmtd's entry: put back an entry
/// someone removed, replaced or disabled. The guard counts these (a flush, which removes every
/// entry at once, is excluded by the caller).
fn undoes_another_tool(d: &engine::EntryDecision) -> bool {
    match (d.step, &d.why) {
        (Step::Enable, _) => true,
        (Step::Add, _) => true,
        (Step::Replace, Some(Why::Differs(diffs))) => !diffs.is_empty(),
        (Step::Replace, Some(Why::TakeOver { entry: None, .. })) => true,
        _ => false,
    }
}

/// The source watch, or `None` (logged) when inotify is unavailable: upgrades are then picked up
/// on reload only.
fn watch_sources(settings: &crate::config::Settings, prepared: &Prepared) -> Option<SourceWatch> {
    SourceWatch::new(&settings.interpreter_dirs, &prepared.source_files())
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

/// After mounting binfmt_misc in the service's own mount namespace, mount it in PID 1's too (see
/// [`crate::visibility::share_with_pid1`]); a failure is logged: the entries keep working while
/// binfmtd runs, but vanish when it stops unless the host mounts binfmt_misc.
fn share_with_pid1(fs: &BinfmtMisc) {
    match crate::visibility::share_with_pid1(fs) {
        None => {}
        Some(Ok(path)) => tracing::warn!(
            "binfmtd runs in its own mount namespace: mounted binfmt_misc at {} in PID 1's too, \
             so the entries outlive the service",
            path.display()
        ),
        Some(Err(e)) => tracing::error!(
            "binfmtd runs in its own mount namespace and could not mount binfmt_misc in PID 1's \
             ({e:#}): the entries vanish when binfmtd stops; mount it on the host \
             (`ls /proc/sys/fs/binfmt_misc` triggers systemd's automount)"
        ),
    }
}
