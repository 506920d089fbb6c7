//! `binfmtd status` (and the no-argument JSON of tonistiigi/binfmt): what the kernel has now.
//!
//! Every entry, ours and others', with its owner, the target it serves, the entries it overlaps
//! and whether it is the one the kernel uses (the newest enabled one of an overlapping group);
//! per target whether it runs natively, is emulated (and by which entry), or is unavailable; and
//! tonistiigi's `supported` (platform strings that execute) and `emulators` (enabled entry names).

use anyhow::Result;
use binfmt_misc::{BinfmtMisc, EntryInfo, Matcher};
use elf_magic::Target;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::PathBuf;

use super::Context;
use crate::host::{HostFacts, Nativity};
use crate::interpreter::Store;
use crate::registrations::Registrations;

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
    /// Every entry.
    pub entries: Vec<EntryStatus>,
    /// Every target of the table.
    pub targets: Vec<TargetStatus>,
}

/// Which binfmt_misc instance binfmtd sees.
#[derive(Debug, Serialize)]
pub struct Instance {
    /// binfmtd runs in the initial user namespace, so this is the host's instance.
    pub host: bool,
    /// A human explanation.
    pub note: String,
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
    /// `binfmtd` or `other`.
    pub owner: &'static str,
    /// The table target whose row this entry is exactly, or that it overlaps.
    pub target: Option<&'static str>,
    /// Whether this is exactly a table row (false: a different magic/mask that overlaps one).
    pub exact: bool,
    /// Names of other entries that can match the same files.
    pub overlaps: Vec<String>,
    /// Whether the kernel uses this entry for its files (newest enabled of its overlap group).
    pub active: bool,
    /// For binfmtd's entries: digest and version of the interpreter the kernel pinned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pinned_sha256: Option<String>,
    /// Its QEMU version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pinned_version: Option<String>,
}

/// One target.
#[derive(Debug, Serialize)]
pub struct TargetStatus {
    /// QEMU's name.
    pub target: &'static str,
    /// `native`, `emulated` or `unavailable`.
    pub state: &'static str,
    /// The entry serving it, when emulated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry: Option<String>,
}

/// Prints the status; with `compat` (no arguments at all) always as JSON.
pub fn run(ctx: &Context, compat: bool) -> Result<()> {
    let fs = BinfmtMisc::open(&ctx.mount)?;
    let status = gather(ctx, &fs, &HostFacts::gather())?;
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
    let entries: Vec<EntryStatus> = infos
        .iter()
        .map(|info| entry_status(info, &infos, &store, &registrations))
        .collect();
    let targets: Vec<TargetStatus> = Target::ALL
        .iter()
        .map(|&t| target_status(t, host, &entries))
        .collect();
    let supported = targets
        .iter()
        .filter(|t| t.state != "unavailable")
        .filter_map(|t| t.target.parse::<Target>().ok())
        .filter_map(|t| t.platforms().first().copied())
        .collect();
    let emulators = entries
        .iter()
        .filter(|e| e.enabled)
        .map(|e| e.name.clone())
        .collect();
    let host_instance = host.initial_user_namespace;
    Ok(Status {
        supported,
        emulators,
        mount: ctx.mount.clone(),
        enabled: fs.is_enabled()?,
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
        entries,
        targets,
    })
}

fn entry_status(
    info: &EntryInfo,
    all: &[EntryInfo],
    store: &Store,
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
    let (target, exact) = serves(&e.matcher);
    let ours = store.owns(&e.interpreter);
    let pinned = ours.then(|| registrations.entries.get(&e.name)).flatten();
    EntryStatus {
        name: e.name.clone(),
        enabled: e.enabled,
        flags: e.flags.to_string(),
        interpreter: e.interpreter.clone(),
        owner: if ours { "binfmtd" } else { "other" },
        target: target.map(Target::name),
        exact,
        overlaps: overlapping.iter().map(|o| o.entry.name.clone()).collect(),
        active,
        pinned_sha256: pinned.and_then(|p| p.sha256.clone()),
        pinned_version: pinned.and_then(|p| p.version.clone()),
    }
}

/// Which table target an entry serves: the row it equals, else the first row it overlaps.
fn serves(matcher: &Matcher) -> (Option<Target>, bool) {
    let Matcher::Magic {
        offset,
        magic,
        mask,
    } = matcher
    else {
        return (None, false);
    };
    let exact = elf_magic::TABLE.iter().find(|row| {
        usize::from(row.offset) == *offset
            && row.magic == magic.as_slice()
            && mask.as_deref() == Some(row.mask)
    });
    if let Some(row) = exact {
        return (Some(row.target), true);
    }
    let overlapping = elf_magic::TABLE.iter().find(|row| {
        let as_matcher = Matcher::Magic {
            offset: usize::from(row.offset),
            magic: row.magic.to_vec(),
            mask: Some(row.mask.to_vec()),
        };
        as_matcher.overlaps(matcher)
    });
    (overlapping.map(|r| r.target), false)
}

fn target_status(target: Target, host: &HostFacts, entries: &[EntryStatus]) -> TargetStatus {
    if host.nativity(target) == Nativity::Native {
        return TargetStatus {
            target: target.name(),
            state: "native",
            entry: None,
        };
    }
    let serving = entries
        .iter()
        .find(|e| e.enabled && e.active && e.target == Some(target.name()));
    match serving {
        Some(e) => TargetStatus {
            target: target.name(),
            state: "emulated",
            entry: Some(e.name.clone()),
        },
        None => TargetStatus {
            target: target.name(),
            state: "unavailable",
            entry: None,
        },
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
            "DISABLED: nothing is emulated"
        },
        status.instance.note
    );
    let _ = writeln!(
        out,
        "\n{:<24} {:<8} {:<5} {:<8} {:<13} {:<7} INTERPRETER",
        "ENTRY", "STATE", "FLAGS", "OWNER", "TARGET", "ACTIVE"
    );
    for e in &status.entries {
        let _ = writeln!(
            out,
            "{:<24} {:<8} {:<5} {:<8} {:<13} {:<7} {}{}",
            e.name,
            if e.enabled { "enabled" } else { "disabled" },
            e.flags,
            e.owner,
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
    let _ = writeln!(out, "\nTARGETS");
    for t in &status.targets {
        let _ = writeln!(
            out,
            "{:<13} {:<12} {}",
            t.target,
            t.state,
            t.entry.as_deref().unwrap_or("")
        );
    }
    out
}
