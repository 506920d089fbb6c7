//! The `binfmtd` command: parse arguments, set up logging, dispatch, print `error: …` once, and
//! map the outcome to the exit status (0 everything asked for holds, 1 something failed, 2 usage
//! or configuration error).

use anyhow::Result;
use std::process::ExitCode;

use binfmtd::cli::{Cli, Command};
use binfmtd::commands::install::Mode;
use binfmtd::commands::uninstall::{Matching, Scope};
use binfmtd::commands::{self, Context, UsageError};
use binfmtd::report::{Action, Report};

fn main() -> ExitCode {
    let cli = match Cli::parse_args(std::env::args_os()) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    // The daemon logs each change at info level by default (journald keeps it).
    let daemon = matches!(cli.command, Some(Command::Daemon(_)));
    // `exec` passes COMMAND's status through, so its own failures must not look like one of
    // COMMAND's: 125, as env(1) and container runtimes do.
    let exec = matches!(cli.command, Some(Command::Exec(_)));
    binfmtd::logging::init(cli.global.verbose + u8::from(daemon), cli.global.quiet);
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            if exec {
                ExitCode::from(125)
            } else if e.is::<UsageError>() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    if let Some(Command::ProbeNative { target }) = &cli.command {
        return Ok(ExitCode::from(binfmtd::host::probe_native_command(target)));
    }
    if let Some(Command::Daemon(args)) = &cli.command {
        return binfmtd::daemon::run(&cli.global, args).map(|()| ExitCode::SUCCESS);
    }
    let ctx = Context::load(&cli.global)?;
    // Keeps binfmt_misc open (and, in a container, checks that entries outlive it).
    let _mount = binfmtd::visibility::guard(&ctx, binfmtd::visibility::Need::for_cli(&cli))?;
    if cli.install.is_some() || cli.uninstall.is_some() {
        return compat(&ctx, cli.install.as_deref(), cli.uninstall.as_deref());
    }
    match cli.command {
        None => commands::status::run(&ctx, true).map(|()| ExitCode::SUCCESS),
        Some(Command::Install(t)) => {
            let ctx = if t.force { ctx.forcing() } else { ctx };
            let report = commands::install::run(&ctx, &t.targets, Mode::Apply)?;
            if let Some(root) = &t.persist {
                for path in binfmtd::persist::run(root, &t.targets, &report)? {
                    eprintln!("persisted: {}", path.display());
                }
            }
            finish(&ctx, report)
        }
        Some(Command::Plan(t)) => {
            let ctx = if t.force { ctx.forcing() } else { ctx };
            let report = commands::install::run(&ctx, &t.targets, Mode::DryRun)?;
            let pending = t.check && report.changed;
            let code = finish(&ctx, report)?;
            Ok(if pending { ExitCode::FAILURE } else { code })
        }
        Some(Command::Uninstall(u)) => {
            let scope = if u.force { Scope::Any } else { Scope::Ours };
            finish(
                &ctx,
                commands::uninstall::run(&ctx, &u.targets, scope, Matching::Native)?,
            )
        }
        Some(Command::Status) => commands::status::run(&ctx, false).map(|()| ExitCode::SUCCESS),
        Some(Command::Check(c)) => commands::check::run(&ctx, &c.targets).map(|all| {
            if all {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }),
        Some(Command::Table) => commands::table::run(&ctx).map(|()| ExitCode::SUCCESS),
        Some(Command::Daemon(_)) => Ok(ExitCode::SUCCESS),
        Some(Command::Exec(e)) => Ok(commands::exec::run(&ctx, &e)),
        Some(Command::ProbeNative { .. }) => Ok(ExitCode::SUCCESS),
    }
}

/// tonistiigi/binfmt's form: uninstall first, then install, then always print the status JSON.
fn compat(
    ctx: &Context,
    install: Option<&[String]>,
    uninstall: Option<&[String]>,
) -> Result<ExitCode> {
    let mut failed = false;
    if let Some(words) = uninstall {
        let report = commands::uninstall::run(ctx, words, Scope::Any, Matching::Compat)?;
        log_compat(&report, "uninstalling");
        failed |= report.failed();
    }
    if let Some(words) = install {
        let report = commands::install::run(ctx, words, Mode::Apply)?;
        log_compat(&report, "installing");
        failed |= report.failed();
    }
    commands::status::run(ctx, true)?;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// tonistiigi-style progress lines on stderr (`installing: qemu-aarch64 OK`).
fn log_compat(report: &Report, verb: &str) {
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    for e in &report.entries {
        match &e.reason {
            None => eprintln!("{verb}: {} OK", e.name),
            Some(r) => eprintln!("{verb}: {} {:?}: {r}", e.name, e.action),
        }
    }
}

/// Prints a report and picks the exit status.
fn finish(ctx: &Context, report: Report) -> Result<ExitCode> {
    // Configuration warnings were logged when the configuration was loaded.
    for w in report
        .warnings
        .iter()
        .filter(|w| !ctx.settings.warnings.contains(w))
    {
        tracing::warn!("{w}");
    }
    ctx.print(&report, || report.render_text())?;
    // One line per failure on stderr, whatever the output format: `error: ENTRY: why and fix`.
    for e in report.entries.iter().filter(|e| e.action == Action::Failed) {
        eprintln!(
            "error: {}: {}",
            e.name,
            e.reason.as_deref().unwrap_or("failed")
        );
    }
    Ok(if report.failed() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
