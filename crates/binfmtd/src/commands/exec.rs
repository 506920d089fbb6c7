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
//! The decision reuses [`reconcile::decide`] against the empty instance, so native targets and
//! rows that would hijack the host's own executables are refused exactly as `install` does.
//!
//! The process must still be single-threaded at step 2 (`unshare(CLONE_NEWUSER)` fails
//! otherwise): nothing here starts a thread or a runtime.

use anyhow::{Context as _, Result, anyhow};
use binfmt_misc::BinfmtMisc;
use elf_magic::Target;
use std::os::unix::process::CommandExt;
use std::process::ExitCode;

use super::{Context, UsageError};
use crate::cli::ExecArgs;
use crate::config::{Others, Targets};
use crate::host::{HostFacts, Nativity};
use crate::interpreter::{self, HostMachine, VerifyPolicy};
use crate::reconcile::{self, Current, Interpreter, Wanted};
use crate::report::Action;

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
    let host = HostFacts::gather();
    let wanted = wanted(ctx, &selection, &host)?;
    let uid = nix::unistd::geteuid().as_raw();
    let gid = nix::unistd::getegid().as_raw();
    if ctx.mount.starts_with("/proc") && !ctx.mount.exists() {
        anyhow::bail!(
            "{} does not exist: binfmt_misc is not loaded (as root: `modprobe binfmt_misc`), or \
             pass --mount with a directory of yours",
            ctx.mount.display()
        );
    }

    crate::isolate::enter_private_binfmt_misc(&ctx.mount)?;
    let fs = BinfmtMisc::open(&ctx.mount)
        .with_context(|| format!("opening the private binfmt_misc at {}", ctx.mount.display()))?;
    register(&fs, &wanted, &ctx.settings.entry_prefix, &host)?;
    // The mount keeps the instance alive from here on; the handle's descriptor must not leak
    // into COMMAND.
    drop(fs);
    if args.keep_id {
        crate::isolate::enter_user_namespace_as(uid, gid)?;
    }
    Ok(())
}

/// One [`Wanted`] per selected target, with its interpreter verified for rootless use.
fn wanted(ctx: &Context, selection: &Targets, host: &HostFacts) -> Result<Vec<Wanted>> {
    let machine = host.machine().map_err(anyhow::Error::new)?;
    let (targets, explicit) = selection.expand();
    Ok(targets
        .into_iter()
        .map(|target| Wanted {
            target,
            explicit,
            interpreter: if host.nativity(target) == Nativity::Native {
                Err("native".to_string())
            } else {
                resolve(ctx, target, machine)
            },
            flags: exec_flags(ctx.settings.flags_for(target), host),
            others: Others::Leave,
        })
        .collect())
}

/// The configured flags, always with `F` (the interpreter is opened now, from outside any chroot
/// COMMAND enters), and without `P` where the kernel cannot pass it on (Linux < 5.12).
fn exec_flags(flags: binfmt_misc::Flags, host: &HostFacts) -> binfmt_misc::Flags {
    binfmt_misc::Flags {
        fix_binary: true,
        ..host.supported_flags(flags)
    }
}

/// The first interpreter for `target` (configured override, else discovery order) that verifies
/// under the rootless policy: the caller must be able to open and execute it; root ownership is
/// not required.
fn resolve(ctx: &Context, target: Target, machine: HostMachine) -> Result<Interpreter, String> {
    let policy = VerifyPolicy {
        require_root_owner: false,
    };
    let candidates = match ctx.settings.interpreter_override(target) {
        Some(path) => vec![path.to_path_buf()],
        None => interpreter::candidates(target, &ctx.settings.interpreter_dirs),
    };
    let mut last = None;
    for path in candidates {
        match interpreter::verify_with(&path, machine, policy) {
            Ok(v) if nix::unistd::access(&v.path, nix::unistd::AccessFlags::X_OK).is_ok() => {
                return Ok(Interpreter {
                    path: v.path,
                    sha256: None,
                    version: None,
                });
            }
            Ok(v) => last = Some(format!("{} is not executable by you", v.path.display())),
            Err(e) => last = Some(e.to_string()),
        }
    }
    Err(last.unwrap_or_else(|| super::no_interpreter(target)))
}

/// Decides against the empty private instance and registers. A problem with an explicitly named
/// target fails the whole command (COMMAND would not work as asked); with the default `all`,
/// unavailable targets are skipped and logged.
fn register(fs: &BinfmtMisc, wanted: &[Wanted], prefix: &str, host: &HostFacts) -> Result<()> {
    let current = fs.entries().context("reading the private binfmt_misc")?;
    let decision = reconcile::decide(
        wanted,
        &[],
        prefix,
        host,
        &Current {
            entries: &current,
            is_ours: &|_| true,
        },
    );
    let failures: Vec<String> = decision
        .reports
        .iter()
        .filter(|r| r.action == Action::Failed)
        .map(|r| format!("{}: {}", r.name, r.reason.as_deref().unwrap_or("failed")))
        .collect();
    if !failures.is_empty() {
        anyhow::bail!("cannot emulate {}", failures.join("; "));
    }
    for r in decision
        .reports
        .iter()
        .filter(|r| r.action == Action::Skipped)
    {
        tracing::debug!(entry = %r.name, reason = r.reason.as_deref().unwrap_or(""), "skipped");
    }
    let explicit = wanted.iter().any(|w| w.explicit);
    let mut registered = 0;
    for outcome in binfmt_misc::apply(&decision.plan, fs) {
        match outcome.result {
            Ok(()) => registered += 1,
            Err(e) if explicit => {
                return Err(anyhow!(e).context(format!("registering {}", outcome.name)));
            }
            Err(e) => tracing::warn!(entry = %outcome.name, "not registered: {e}"),
        }
    }
    if registered == 0 {
        tracing::warn!(
            "no emulator registered: no usable interpreter found; install qemu-user-static"
        );
    }
    tracing::info!(
        entries = registered,
        mount = %fs.root().display(),
        "registered in a private binfmt_misc"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(p_ok: bool) -> HostFacts {
        HostFacts {
            machine: String::new(),
            native: None,
            exe_header: Vec::new(),
            compat: Default::default(),
            initial_user_namespace: true,
            kernel_passes_preserve_argv0: p_ok,
        }
    }

    #[test]
    fn flags_always_fix_the_binary() {
        let pf: binfmt_misc::Flags = "P".parse().unwrap();
        assert_eq!(exec_flags(pf, &host(true)).to_string(), "PF");
        assert_eq!(exec_flags(pf, &host(false)).to_string(), "F");
        let oc: binfmt_misc::Flags = "OC".parse().unwrap();
        assert_eq!(exec_flags(oc, &host(true)).to_string(), "OCF");
    }
}
