//! `binfmtd check [TARGET...]`: executes each target's probe through the live binfmt_misc entries
//! ([`crate::check`]) and prints one line per target (`--json`: an object with `all_execute`,
//! `scope` and `targets`). Exit status 0 only when every target works or is native; each failure
//! is also one `error: TARGET: why; fix: …` line on stderr.

use anyhow::Result;
use serde::Serialize;
use std::fmt::Write as _;

use super::Context;
use crate::check::{self, Scope, State, TargetCheck};
use crate::config::Targets;

/// What `--json` prints.
#[derive(Debug, Serialize)]
pub struct CheckReport {
    /// Whether every target works or is native (the exit status is 0 exactly then).
    pub all_execute: bool,
    /// `host`, or `namespace` when binfmtd runs outside the initial user namespace.
    pub scope: Scope,
    /// One result per target, in the order asked (default: the targets the configuration serves).
    pub targets: Vec<TargetCheck>,
}

/// Runs the check for `words` (default: what the configuration serves) and prints it; `Ok(true)`
/// when everything executes.
pub fn run(ctx: &Context, words: &[String]) -> Result<bool> {
    let targets = match crate::selection::parse_targets(words, &ctx.settings.targets)? {
        Targets::List(list) => list,
        Targets::All => servable(ctx),
    };
    let checks = check::check(&targets, &ctx.mount);
    let scope = if checks.iter().any(|c| c.scope == Scope::Namespace) {
        tracing::warn!(
            "binfmtd runs in a user namespace other than the host's: these results hold inside \
             it only (since Linux 6.7 it can have its own binfmt_misc instance) and are not \
             visible from the host; run `binfmtd check` on the host for the host's view"
        );
        Scope::Namespace
    } else {
        Scope::Host
    };
    let report = CheckReport {
        all_execute: check::all_execute(&checks),
        scope,
        targets: checks,
    };
    ctx.print(&report, || render(&report.targets))?;
    for c in report.targets.iter().filter(|c| !c.executes()) {
        eprintln!(
            "error: {}: {}; fix: {}",
            c.target,
            c.reason.as_deref().unwrap_or("does not execute"),
            c.fix.as_deref().unwrap_or("see `binfmtd status`")
        );
    }
    Ok(report.all_execute)
}

/// `targets = "all"`: every target binfmtd could serve here — the native ones, and those it
/// finds an interpreter file for (what `install all` registers). A readiness probe with no
/// arguments then fails only for what the configuration promises.
fn servable(ctx: &Context) -> Vec<elf_magic::Target> {
    let host = crate::host::HostFacts::gather();
    elf_magic::Target::ALL
        .iter()
        .copied()
        .filter(|&t| {
            host.nativity(t) == crate::host::Nativity::Native
                || !crate::interpreter::candidates(t, &ctx.settings.interpreter_dirs).is_empty()
        })
        .collect()
}

/// One line per target, then a summary.
fn render(checks: &[TargetCheck]) -> String {
    let mut out = String::new();
    for c in checks {
        let state = match c.state {
            State::Works => "works",
            State::Native => "native",
            State::Fails => "FAILS",
        };
        let _ = write!(out, "{:<13} {:<7}", c.target.name(), state);
        if let (Some(entry), Some(interp)) = (&c.entry, &c.interpreter) {
            let _ = write!(out, " {entry} ({})", interp.display());
        }
        if let Some(reason) = &c.reason {
            let _ = write!(out, " {reason}");
        }
        out.push('\n');
    }
    let count = |s: State| checks.iter().filter(|c| c.state == s).count();
    let _ = writeln!(
        out,
        "check: {} works, {} native, {} fails",
        count(State::Works),
        count(State::Native),
        count(State::Fails)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{Facts, InstanceStatus, InstanceView, Observation, Outcome, classify};
    use elf_magic::Target;

    #[test]
    fn text_has_one_line_per_target_and_a_summary() {
        let facts = Facts {
            instance: InstanceView {
                mount: "/m".into(),
                status: InstanceStatus::Enabled,
                entries: vec![],
            },
            scope: Scope::Host,
            host: Some(Target::X86_64),
        };
        let checks: Vec<TargetCheck> = [
            (Target::X86_64, Outcome::Exited(0)),
            (
                Target::Riscv64,
                Outcome::ExecFailed(nix::errno::Errno::ENOEXEC),
            ),
        ]
        .into_iter()
        .map(|(t, o)| classify(t, &Observation::of(o), &facts))
        .collect();
        let text = render(&checks);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("x86_64") && lines[0].contains("native"));
        assert!(lines[1].starts_with("riscv64") && lines[1].contains("FAILS"));
        assert!(lines[1].contains("no binfmt_misc entry at /m matches riscv64 binaries"));
        assert_eq!(lines[2], "check: 0 works, 1 native, 1 fails");
    }
}
