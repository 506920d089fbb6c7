//! `binfmtd install`, `binfmtd plan`, and tonistiigi's `--install`: thin callers of the
//! [`engine`](crate::engine) — prepare, read the facts, decide, and (unless planning) apply.
//!
//! The words were validated by the caller before binfmt_misc was opened or mounted, so an unknown
//! target changes nothing; the decision is made before the first write, so a failing entry
//! changes nothing either (except in the best-effort tonistiigi form).

use std::collections::BTreeSet;

use anyhow::Result;
use binfmt_misc::BinfmtMisc;

use super::Context;
use crate::config::Targets;
use crate::engine::{self, InstallIntent, Mode, Use};
use crate::report::Report;

/// How to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// `install`: all or nothing, applied.
    Install,
    /// `plan`: what `install` would do, applied never.
    Plan,
    /// tonistiigi's `--install`: every target that can be served is, each failure reported.
    BestEffort,
}

/// Runs an install (or plan) of `selection` on `fs` (`None`: not mounted, `plan` only).
pub fn run(
    ctx: &Context,
    fs: Option<&BinfmtMisc>,
    selection: &Targets,
    how: How,
) -> Result<Report> {
    let applying = how != How::Plan;
    let dir = &ctx.settings.install_dir;
    // Concurrent binfmtd runs on one instance serialize from before the facts are read.
    let _writers = match fs {
        Some(fs) if applying => Some(fs.lock_writers()?),
        _ => None,
    };
    let prepared = engine::prepare(&ctx.settings, selection, Use::Store)?;
    let facts = engine::read_facts(&prepared, fs, &ctx.mount)?;
    let mode = match how {
        How::BestEffort => Mode::BestEffort,
        How::Install | How::Plan => Mode::AllOrNothing,
    };
    let intent = InstallIntent {
        mode,
        held: BTreeSet::new(),
    };
    let decision = engine::decide::install(&facts, &intent);
    let remember = !prepared.fresh.is_empty() && dir.is_dir() && !decision.failed();
    let outcome = match fs {
        Some(fs) if applying && (decision.changes() || remember) => {
            let store = engine::StoreIo {
                store: &prepared.store,
                fresh: &prepared.fresh,
            };
            Some(engine::apply(&decision, mode, fs, Some(store)))
        }
        _ => None,
    };
    let mut report = engine::report::build(&decision, outcome.as_ref(), &ctx.mount, !applying);
    let mut warnings = prepared.warnings;
    if fs.is_none() {
        warnings.push(format!(
            "{} is not a mounted binfmt_misc: install would mount it",
            ctx.mount.display()
        ));
    }
    if applying
        && report.changed
        && let Some(fs) = fs
        && fs.has_manager()
    {
        warnings.push(
            "a binfmtd daemon manages this binfmt_misc instance: it puts its configured entries \
             back, so changes that differ from its configuration are reverted; change \
             /etc/binfmtd and `systemctl reload binfmtd` instead"
                .to_string(),
        );
    }
    warnings.append(&mut report.warnings);
    report.warnings = warnings;
    Ok(report)
}
