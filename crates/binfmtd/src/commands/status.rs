//! `binfmtd status` (and the no-argument JSON of tonistiigi/binfmt): what the kernel has now.
//!
//! The kernel (release, accepted flags, per-namespace instances, the interpreter limit); every
//! entry, ours and others', with its owner, the target it serves, the entries it overlaps and
//! whether it is the one the kernel uses (the newest enabled one of an overlapping group); per
//! target whether it executes, found by running its probe ([`crate::check`]): natively, emulated
//! (and by which entry), or not (and why); tonistiigi's `supported` (the platforms that execute,
//! with their variants) and `emulators` (enabled entries); and warnings (a slow aarch64 QEMU).

use anyhow::Result;
use binfmt_misc::{BinfmtMisc, EntryInfo};
use elf_magic::Target;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::PathBuf;

use super::Context;
use crate::engine::Owner;
use crate::engine::naming::served_target;
use crate::engine::owner::Ownership;
use crate::engine::pins::Registrations;
use crate::host::HostFacts;
use crate::interpreter::Store;

/// The status of the whole instance.
#[derive(Debug, Serialize)]
pub struct Status {
    /// tonistiigi/binfmt: OCI platforms this host executes (natively or through an entry).
    pub supported: Vec<&'static str>,
    /// tonistiigi/binfmt: names of every enabled entry.
    pub emulators: Vec<String>,
    /// The binfmt_misc mount.
    pub mount: PathBuf,
    /// Whether the instance is enabled (`status` reads `enabled`).
    pub enabled: bool,
    /// Which instance this is.
    pub instance: Instance,
    /// What the running kernel's binfmt_misc can do.
    pub kernel: KernelStatus,
    /// Every entry.
    pub entries: Vec<EntryStatus>,
    /// Every target of the table.
    pub targets: Vec<TargetStatus>,
    /// Advice worth acting on (e.g. an aarch64 QEMU older than 10.0).
    pub warnings: Vec<String>,
}

/// Which binfmt_misc instance binfmtd sees.
#[derive(Debug, Serialize)]
pub struct Instance {
    /// binfmtd runs in the initial user namespace, so this is the host's instance.
    pub host: bool,
    /// A human explanation.
    pub note: String,
}

/// The kernel's binfmt_misc features.
#[derive(Debug, Serialize)]
pub struct KernelStatus {
    /// `uname -r`.
    pub release: String,
    /// The flags it accepts (`POCF`, `POCFTDL` from 7.3).
    pub flags: &'static str,
    /// Whether `P` reaches the interpreter (Linux >= 5.12); binfmtd drops `P` otherwise.
    pub preserve_argv0: bool,
    /// Whether every user namespace has its own instance (Linux >= 6.7).
    pub userns_instances: bool,
    /// `/proc/sys/user/max_binfmt_misc_interpreters`, when the kernel has it.
    pub max_interpreters: Option<u64>,
}

/// One entry.
#[derive(Debug, Serialize)]
pub struct EntryStatus {
    /// Entry name.
    pub name: String,
    /// `enabled` in its file.
    pub enabled: bool,
    /// Flags.
    pub flags: String,
    /// Interpreter path as the entry shows it.
    pub interpreter: PathBuf,
    /// Who registered it.
    pub owner: Owner,
    /// The table target whose row this entry is exactly, or that it overlaps.
    pub target: Option<&'static str>,
    /// Whether this is exactly a table row (false: a different magic/mask that overlaps one).
    pub exact: bool,
    /// Names of other entries that can match the same files.
    pub overlaps: Vec<String>,
    /// Whether the kernel uses this entry for its files (newest enabled of its overlap group).
    pub active: bool,
    /// For binfmtd's entries: the inode number of the interpreter file the kernel opened at
    /// registration (`stat -c %i` of the interpreter path tells whether it is still that file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pinned_inode: Option<u64>,
    /// Its SHA-256, when binfmtd read it whole (a copy; a hard link or an in-place file is
    /// known by its inode and not read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pinned_sha256: Option<String>,
    /// Its QEMU version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pinned_version: Option<String>,
    /// Why binfmtd chose that interpreter when it registered the entry (an explicit
    /// `[target]` interpreter, the only candidate, or the newest of several, naming the others).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chosen: Option<String>,
}

/// How a target runs here, as its probe showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetState {
    /// The host runs it itself.
    Native,
    /// It executes through an entry.
    Emulated,
    /// It does not execute.
    Unavailable,
}

/// One target.
#[derive(Debug, Serialize)]
pub struct TargetStatus {
    /// QEMU's name.
    pub target: &'static str,
    /// Native, emulated or unavailable.
    pub state: TargetState,
    /// Whether its probe executed (native or emulated).
    pub executes: bool,
    /// The entry serving it, when emulated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry: Option<String>,
    /// Why it does not execute, and the fix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Prints the status; with `compat` (no arguments at all) always as JSON.
pub fn run(ctx: &Context, fs: &BinfmtMisc, compat: bool) -> Result<()> {
    let status = gather(ctx, fs, &HostFacts::gather())?;
    if compat {
        println!("{}", serde_json::to_string_pretty(&status)?);
        Ok(())
    } else {
        ctx.print(&status, || render(&status))
    }
}

/// Collects the status of `fs`.
pub fn gather(ctx: &Context, fs: &BinfmtMisc, host: &HostFacts) -> Result<Status> {
    let infos = fs.entries()?;
    let store = Store::at(&ctx.settings.install_dir);
    let registrations = Registrations::load(store.dir());
    let ownership = crate::engine::gather::ownership(&store, &registrations, &infos);
    let entries: Vec<EntryStatus> = infos
        .iter()
        .map(|info| entry_status(info, &infos, &ownership, &registrations))
        .collect();
    let enabled = fs.is_enabled()?;
    let checks = crate::check::check(&Target::ALL, &ctx.mount);
    let targets: Vec<TargetStatus> = checks.iter().map(target_status).collect();
    let flags = crate::check::platforms::cpu_flags();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let supported = crate::check::platforms::supported(&checks, &flags);
    let warnings = aarch64_version(&checks, &entries)
        .and_then(|v| crate::advice::slow_aarch64(&v))
        .into_iter()
        .collect();
    let emulators = entries
        .iter()
        .filter(|e| e.enabled)
        .map(|e| e.name.clone())
        .collect();
    let host_instance = host.initial_user_namespace;
    let k = &host.kernel;
    Ok(Status {
        supported,
        emulators,
        mount: ctx.mount.clone(),
        enabled,
        instance: Instance {
            host: host_instance,
            note: if host_instance {
                "the host's binfmt_misc instance".into()
            } else {
                "a private instance of this user namespace: its entries are invisible to the host \
                 and vanish with the namespace"
                    .into()
            },
        },
        kernel: KernelStatus {
            release: k.release.clone(),
            flags: k.accepted_flags(),
            preserve_argv0: k.preserve_argv0_reaches_interpreter(),
            userns_instances: k.userns_instances(),
            max_interpreters: k
                .flags_7_3()
                .then(binfmt_misc::kernel::max_interpreters)
                .flatten(),
        },
        entries,
        targets,
        warnings,
    })
}

/// The QEMU version of the interpreter that serves aarch64 now: what binfmtd pinned, or for
/// another tool's entry what its interpreter says.
fn aarch64_version(
    checks: &[crate::check::TargetCheck],
    entries: &[EntryStatus],
) -> Option<String> {
    let c = checks.iter().find(|c| c.target == Target::Aarch64)?;
    let name = c.entry.as_deref()?;
    let e = entries.iter().find(|e| e.name == name)?;
    e.pinned_version
        .clone()
        .or_else(|| crate::interpreter::qemu_version(&e.interpreter))
}

fn entry_status(
    info: &EntryInfo,
    all: &[EntryInfo],
    ownership: &Ownership,
    registrations: &Registrations,
) -> EntryStatus {
    let e = &info.entry;
    let overlapping: Vec<&EntryInfo> = all
        .iter()
        .filter(|o| o.entry.name != e.name && o.entry.matcher.overlaps(&e.matcher))
        .collect();
    let group: Vec<&EntryInfo> = overlapping
        .iter()
        .copied()
        .chain(std::iter::once(info))
        .collect();
    let active = binfmt_misc::order::active_among(&group).is_some_and(|a| a.entry.name == e.name);
    let served = served_target(&e.matcher);
    let owner = ownership.owner(e);
    let pinned = (owner == Owner::Binfmtd)
        .then(|| registrations.entries.get(&e.name))
        .flatten();
    EntryStatus {
        name: e.name.clone(),
        enabled: e.enabled,
        flags: e.flags.to_string(),
        interpreter: e.interpreter.clone(),
        owner,
        target: served.map(|(t, _)| t.name()),
        exact: served.is_some_and(|(_, exact)| exact),
        overlaps: overlapping.iter().map(|o| o.entry.name.clone()).collect(),
        active,
        pinned_inode: pinned.and_then(|p| p.file).map(|f| f.ino),
        pinned_sha256: pinned.and_then(|p| p.sha256.clone()),
        pinned_version: pinned.and_then(|p| p.version.clone()),
        chosen: pinned.and_then(|p| p.chosen.clone()),
    }
}

fn target_status(c: &crate::check::TargetCheck) -> TargetStatus {
    use crate::check::State;
    let state = match c.state {
        State::Native => TargetState::Native,
        State::Works => TargetState::Emulated,
        State::Fails => TargetState::Unavailable,
    };
    let reason = c
        .reason
        .as_ref()
        .filter(|_| c.state == State::Fails)
        .map(|r| match &c.fix {
            Some(fix) => format!("{r}; fix: {fix}"),
            None => r.clone(),
        });
    TargetStatus {
        target: c.target.name(),
        state,
        executes: c.executes(),
        entry: c.entry.clone().filter(|_| c.state == State::Works),
        reason,
    }
}

fn render(status: &Status) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "binfmt_misc at {} ({}), {}",
        status.mount.display(),
        if status.enabled {
            "enabled"
        } else {
            "DISABLED: nothing is emulated; enable it with `echo 1 > <mount>/status`"
        },
        status.instance.note
    );
    let k = &status.kernel;
    let _ = writeln!(
        out,
        "kernel {}: flags {}{}{}{}",
        k.release,
        k.flags,
        if k.preserve_argv0 {
            ""
        } else {
            "; P not passed to interpreters (< 5.12): binfmtd registers without P"
        },
        if k.userns_instances {
            "; one instance per user namespace"
        } else {
            "; one global instance"
        },
        k.max_interpreters
            .map(|m| format!("; at most {m} pinned interpreters"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        out,
        "\n{:<24} {:<8} {:<5} {:<8} {:<13} {:<7} INTERPRETER",
        "ENTRY", "STATE", "FLAGS", "OWNER", "TARGET", "ACTIVE"
    );
    for e in &status.entries {
        let owner = match e.owner {
            Owner::Binfmtd => "binfmtd",
            Owner::Distribution => "distro",
            Owner::Other => "other",
        };
        let _ = writeln!(
            out,
            "{:<24} {:<8} {:<5} {:<8} {:<13} {:<7} {}{}",
            e.name,
            if e.enabled { "enabled" } else { "disabled" },
            e.flags,
            owner,
            e.target.unwrap_or("-"),
            if e.active { "yes" } else { "no" },
            e.interpreter.display(),
            if e.overlaps.is_empty() {
                String::new()
            } else {
                format!("  (overlaps {})", e.overlaps.join(", "))
            }
        );
    }
    // Which QEMU each of binfmtd's entries runs, and why that one.
    let chosen: Vec<&EntryStatus> = status
        .entries
        .iter()
        .filter(|e| e.pinned_version.is_some() || e.chosen.is_some())
        .collect();
    if !chosen.is_empty() {
        let _ = writeln!(out, "\nINTERPRETERS");
        for e in chosen {
            let version = e.pinned_version.as_deref().unwrap_or("version unknown");
            let _ = write!(out, "{:<24} QEMU {version}", e.name);
            if let Some(why) = &e.chosen {
                let _ = write!(out, ": {why}");
            }
            out.push('\n');
        }
    }
    for w in &status.warnings {
        let _ = writeln!(out, "\nwarning: {w}");
    }
    let _ = writeln!(out, "\nTARGETS");
    for t in &status.targets {
        let state = match t.state {
            TargetState::Native => "native",
            TargetState::Emulated => "emulated",
            TargetState::Unavailable => "unavailable",
        };
        let _ = writeln!(
            out,
            "{:<13} {:<12} {}",
            t.target,
            state,
            t.entry.as_deref().unwrap_or("")
        );
    }
    out
}
