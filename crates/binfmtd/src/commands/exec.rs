//! `binfmtd exec [--target T…] [--keep-id] -- COMMAND [ARGS…]`: rootless emulation.
//!
//! Since Linux 6.7 every user namespace may mount its own binfmt_misc. `exec` uses that to run
//! foreign programs without root and without touching the host's registrations:
//! 1. before any namespace work: pick the targets (default: every non-native one), find each
//!    interpreter and verify it from its headers, accepting files the caller owns (there is no
//!    privilege to protect: the caller owns the namespace and the instance alike);
//! 2. unshare a user and mount namespace, map the caller's uid/gid to root there, and mount a
//!    private binfmt_misc over the `--mount` path (default `/proc/sys/fs/binfmt_misc`, so tools
//!    inside see the instance they actually use);
//! 3. register one entry per table row with `F` (the kernel opens the interpreter now, so it
//!    need not exist inside a chroot), straight from the source paths: no store, no lock, no
//!    manifest, because the instance dies with the namespace;
//! 4. with `--keep-id`, enter a nested user namespace mapping the caller's ids back;
//! 5. `execvp` COMMAND: same process, so its exit status and signals reach the caller unchanged.
//!
//! The decision is the engine's, against the empty private instance, so native targets and
//! rows that would hijack the host's own executables are refused exactly as `install` does; the
//! interpreters are used where they are (no store, no record: the instance dies with COMMAND).
//!
//! The process must still be single-threaded at step 2 (`unshare(CLONE_NEWUSER)` fails
//! otherwise): nothing here starts a thread or a runtime.

use std::collections::BTreeSet;
use std::os::unix::process::CommandExt;
use std::process::ExitCode;

use anyhow::{Context as _, Result, anyhow};
use binfmt_misc::BinfmtMisc;

use super::{Context, UsageError};
use crate::cli::ExecArgs;
use crate::config::Targets;
use crate::engine::{self, InstallIntent, Mode, Step, Use};
use crate::host::Nativity;

/// Exit status when binfmtd fails before COMMAND runs (as `env`, `chroot` and `podman run`).
pub const EXIT_FAILED: u8 = 125;
/// Exit status when COMMAND exists but cannot be executed (as shells).
pub const EXIT_CANNOT_EXECUTE: u8 = 126;
/// Exit status when COMMAND is not found (as shells).
pub const EXIT_NOT_FOUND: u8 = 127;

/// Runs `exec`. Returns only when something failed: on success the process *is* COMMAND.
/// Errors are printed here (`error: …`) and turned into the statuses above, so that binfmtd's
/// own failures cannot be mistaken for COMMAND's usual `1` or `2`.
pub fn run(ctx: &Context, args: &ExecArgs) -> ExitCode {
    let (program, rest) = match args.command.split_first() {
        Some(split) => split,
        None => return fail(&anyhow!(UsageError("exec needs a COMMAND".into()))),
    };
    if let Err(e) = prepare_namespace(ctx, args) {
        return fail(&e);
    }
    let err = std::process::Command::new(program).args(rest).exec();
    let code = match err.kind() {
        std::io::ErrorKind::NotFound => EXIT_NOT_FOUND,
        _ => EXIT_CANNOT_EXECUTE,
    };
    eprintln!("error: cannot run {}: {err}", program.to_string_lossy());
    ExitCode::from(code)
}

fn fail(e: &anyhow::Error) -> ExitCode {
    eprintln!("error: {e:#}");
    ExitCode::from(EXIT_FAILED)
}

/// Steps 1–4: on success this process is in the namespaces COMMAND is to run in.
fn prepare_namespace(ctx: &Context, args: &ExecArgs) -> Result<()> {
    let selection = if args.targets.is_empty() {
        Targets::All
    } else {
        crate::selection::parse_targets(&args.targets, &Targets::All)?
    };
    let mut prepared = engine::prepare(&ctx.settings, &selection, Use::Rootless)?;
    let native: Vec<String> = prepared
        .targets
        .iter()
        .filter(|t| t.explicit && t.nativity == Nativity::Native)
        .map(|t| t.target.to_string())
        .collect();
    if !args.targets.is_empty() && native.len() == prepared.targets.len() {
        // Nothing asked for needs emulation: a mistake in the command line, not a success.
        anyhow::bail!(UsageError(format!(
            "{} runs natively here, nothing to emulate: run COMMAND without binfmtd exec, or \
             name a foreign --target",
            native.join(", ")
        )));
    }
    for t in &mut prepared.targets {
        // The interpreter is opened now, from outside any chroot COMMAND enters.
        t.flags.fix_binary = true;
    }
    for n in &native {
        eprintln!("binfmtd: {n} is native here: its binaries run without emulation");
    }
    if ctx.mount.starts_with("/proc") && !ctx.mount.exists() {
        anyhow::bail!(
            "{} does not exist: binfmt_misc is not loaded (as root: `modprobe binfmt_misc`), or \
             pass --mount with a directory of yours",
            ctx.mount.display()
        );
    }
    let uid = nix::unistd::geteuid().as_raw();
    let gid = nix::unistd::getegid().as_raw();
    crate::isolate::enter_private_binfmt_misc(&ctx.mount)?;
    let fs = BinfmtMisc::open(&ctx.mount)
        .with_context(|| format!("opening the private binfmt_misc at {}", ctx.mount.display()))?;
    register(ctx, &fs, &prepared, !args.targets.is_empty())?;
    // The mount keeps the instance alive from here on; the handle's descriptor must not leak
    // into COMMAND.
    drop(fs);
    if args.keep_id {
        crate::isolate::enter_user_namespace_as(uid, gid)?;
    }
    Ok(())
}

/// Decides against the empty private instance and registers. A problem with an explicitly named
/// target fails the whole command (COMMAND would not work as asked); with the default `all`,
/// unavailable targets are skipped and logged.
fn register(
    ctx: &Context,
    fs: &BinfmtMisc,
    prepared: &engine::Prepared,
    explicit: bool,
) -> Result<()> {
    let facts = engine::read_facts(prepared, Some(fs), &ctx.mount)?;
    let mode = if explicit {
        Mode::AllOrNothing
    } else {
        Mode::BestEffort
    };
    let intent = InstallIntent {
        mode,
        held: BTreeSet::new(),
    };
    let decision = engine::decide::install(&facts, &intent);
    let failures: Vec<String> = decision
        .failures()
        .map(engine::EntryDecision::describe)
        .collect();
    if !failures.is_empty() {
        anyhow::bail!("cannot emulate {}", failures.join("; "));
    }
    for d in decision.entries.iter().filter(|d| d.step == Step::Skip) {
        let why = d.why.as_ref().map(ToString::to_string).unwrap_or_default();
        tracing::debug!(entry = %d.name, reason = %why, "skipped");
    }
    let outcome = engine::apply(&decision, mode, fs, None);
    let mut registered = 0;
    for (i, d) in decision.entries.iter().enumerate() {
        match outcome.result(i) {
            Some(Ok(())) => registered += 1,
            Some(Err(e)) if explicit => {
                return Err(anyhow!("registering {}: {e}", d.name));
            }
            Some(Err(e)) => tracing::warn!(entry = %d.name, "not registered: {e}"),
            None => {}
        }
    }
    if registered == 0 && !explicit {
        tracing::warn!(
            "no emulator registered: no usable interpreter found; install qemu-user-static"
        );
    }
    tracing::info!(entries = registered, mount = %fs.root().display(), "registered in a private binfmt_misc");
    Ok(())
}
