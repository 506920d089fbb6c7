//! The `binfmtd` command: parse arguments, set up logging, validate every word, then open (or
//! mount) binfmt_misc and dispatch; print `error: …` once, and map the outcome to the exit
//! status (0 everything asked for holds, 1 something failed, 2 usage or configuration error;
//! `exec` 125 for its own errors).

use anyhow::Result;
use std::process::ExitCode;

use binfmtd::cli::{Cli, Command};
use binfmtd::commands::install::How;
use binfmtd::commands::uninstall::{Matching, Scope};
use binfmtd::commands::{self, Context, UsageError};
use binfmtd::report::{Action, Report};
use binfmtd::selection::parse_targets;
use binfmtd::visibility::{self, Need};

fn main() -> ExitCode {
    let exec = std::env::args_os().any(|a| a == "exec");
    let cli = match Cli::parse_args(std::env::args_os()) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match (e.use_stderr(), exec) {
                (false, _) => ExitCode::SUCCESS,
                (true, true) => ExitCode::from(commands::exec::EXIT_FAILED),
                (true, false) => ExitCode::from(2),
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
                ExitCode::from(commands::exec::EXIT_FAILED)
            } else if e.is::<UsageError>() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    if let Some(refusal) = cli.misplaced() {
        return Err(UsageError(refusal.to_string()).into());
    }
    if let Some(Command::ProbeNative { target }) = &cli.command {
        return Ok(ExitCode::from(binfmtd::host::probe_native_command(target)));
    }
    if let Some(Command::Daemon(args)) = &cli.command {
        return binfmtd::daemon::run(&cli.global, args).map(|()| ExitCode::SUCCESS);
    }
    if cli.version {
        return commands::version::run(&cli.global).map(|()| ExitCode::SUCCESS);
    }
    let ctx = Context::load(&cli.global)?;
    if let Some(Command::Exec(e)) = &cli.command {
        return Ok(commands::exec::run(&ctx, e));
    }
    if let Some(Command::Table) = &cli.command {
        return commands::table::run(&ctx).map(|()| ExitCode::SUCCESS);
    }
    // Every word is checked before binfmt_misc is opened or mounted: bad input changes nothing.
    ctx.check_mount()?;
    let configured = &ctx.settings.targets;
    let selection = match &cli.command {
        Some(Command::Install(t)) => Some(parse_targets(&t.targets, configured)?),
        Some(Command::Plan(t)) => Some(parse_targets(&t.targets, configured)?),
        _ => None,
    };
    if let Some(Command::Uninstall(u)) = &cli.command {
        commands::uninstall::check_words(&u.targets, Matching::Native)?;
    }
    if let (Some(Command::Install(t)), Some(root)) =
        (&cli.command, cli.command.as_ref().and_then(persist_root))
    {
        binfmtd::persist::check_root(&root, &t.targets)?;
    }
    // Keeps binfmt_misc open (and, in a container, checks that entries outlive it).
    let attached = visibility::guard(&ctx, Need::for_cli(&cli))?;
    let opened = attached.as_ref().map(|a| &a.fs);
    match (cli.command, selection) {
        (None, _) if cli.install.is_some() || cli.uninstall.is_some() => {
            let fs = need_fs(opened, &ctx)?;
            commands::compat::run(&ctx, fs, cli.install.as_deref(), cli.uninstall.as_deref())
        }
        (None, _) => {
            let fs = need_fs(opened, &ctx)?;
            commands::status::run(&ctx, fs, true).map(|()| ExitCode::SUCCESS)
        }
        (Some(Command::Install(t)), Some(selection)) => {
            let ctx = if t.force { ctx.forcing() } else { ctx };
            let fs = need_fs(opened, &ctx)?;
            let report = commands::install::run(&ctx, Some(fs), &selection, How::Install)?;
            let code = finish(&ctx, &report)?;
            if let Some(root) = &t.persist {
                for path in binfmtd::persist::run(root, &t.targets, &report)? {
                    eprintln!("persisted: {}", path.display());
                }
            }
            Ok(code)
        }
        (Some(Command::Plan(t)), Some(selection)) => {
            let ctx = if t.force { ctx.forcing() } else { ctx };
            let plan_fs = binfmtd::commands::open_existing(&ctx.mount)?;
            let report = commands::install::run(&ctx, plan_fs.as_ref(), &selection, How::Plan)?;
            let code = finish(&ctx, &report)?;
            Ok(if t.check && report.changed {
                ExitCode::FAILURE
            } else {
                code
            })
        }
        (Some(Command::Uninstall(u)), _) => {
            let scope = if u.force { Scope::Any } else { Scope::Ours };
            let fs = match opened {
                Some(fs) => fs,
                None => &binfmt_misc::BinfmtMisc::open(&ctx.mount)?,
            };
            let report = commands::uninstall::run(&ctx, fs, &u.targets, scope, Matching::Native)?;
            finish(&ctx, &report)
        }
        (Some(Command::Status), _) => {
            let fs = binfmt_misc::BinfmtMisc::open(&ctx.mount)?;
            commands::status::run(&ctx, &fs, false).map(|()| ExitCode::SUCCESS)
        }
        (Some(Command::Check(c)), _) => commands::check::run(&ctx, &c.targets).map(|all| {
            if all {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }),
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// The `--persist` root of an `install`.
fn persist_root(command: &Command) -> Option<std::path::PathBuf> {
    match command {
        Command::Install(t) => t.persist.clone(),
        _ => None,
    }
}

/// The mount the visibility guard opened (it does for every command that needs one).
fn need_fs<'a>(
    opened: Option<&'a binfmt_misc::BinfmtMisc>,
    ctx: &Context,
) -> Result<&'a binfmt_misc::BinfmtMisc> {
    opened.ok_or_else(|| anyhow::anyhow!("binfmt_misc is not available at {}", ctx.mount.display()))
}

/// Prints a report and picks the exit status.
fn finish(ctx: &Context, report: &Report) -> Result<ExitCode> {
    // Configuration warnings were logged when the configuration was loaded.
    for w in report
        .warnings
        .iter()
        .filter(|w| !ctx.settings.warnings.contains(w))
    {
        tracing::warn!("{w}");
    }
    ctx.print(report, || report.render_text())?;
    // One line per failure on stderr, whatever the output format: each problem of the run once,
    // then `error: ENTRY: why and fix`.
    for p in &report.problems {
        eprintln!("error: {p}");
    }
    // Entries failing for a reason said once above are not repeated.
    let said = |e: &binfmtd::report::EntryReport| {
        matches!(
            e.reason_code,
            Some("cannot-write" | "no-space" | "too-many-interpreters" | "store-unusable")
        )
    };
    for e in report
        .entries
        .iter()
        .filter(|e| e.action == Action::Failed && !said(e))
    {
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
