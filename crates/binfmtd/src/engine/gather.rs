//! The I/O half of deciding: read every fact [`decide`](super::decide) needs. Nothing here
//! writes anything.
//!
//! Two parts, because the daemon repeats only the second:
//! - [`prepare`] (slow, once per configuration or interpreter upgrade): probe the host, find
//!   every interpreter candidate, verify it from its headers, choose one per target, and learn
//!   its digest and version (from the store's cache when its stat identity is unchanged);
//! - [`facts`] (fast, every convergence): the kernel's entries and state, the store's files,
//!   and who owns which entry.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, Result};
use binfmt_misc::BinfmtMisc;
use elf_magic::Target;

use super::facts::{
    Choice, ExtraFacts, Facts, KernelFacts, Placement, Problem, Source, StoreFacts, TargetFacts,
};
use super::owner::Ownership;
use super::parallel::map_parallel;
use super::pins::Registrations;
use crate::config::{Settings, Targets};
use crate::host::{HostFacts, Nativity};
use crate::interpreter::{
    self, Digest, HostMachine, InterpreterError, Mounts, Store, Verified, VerifyPolicy,
};

/// How interpreters are accepted and placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// `install` and the daemon: root-owned interpreters, placed in the store.
    Store,
    /// `binfmtd exec`: the caller's own files are fine too, used where they are (the private
    /// instance dies with the namespace).
    Rootless,
}

/// The slow facts: host and interpreters.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Host facts.
    pub host: HostFacts,
    /// Per wanted target.
    pub targets: Vec<TargetFacts>,
    /// Configured `[[entry]]`s.
    pub extras: Vec<super::facts::ExtraFacts>,
    /// The entry name prefix.
    pub prefix: String,
    /// The store.
    pub store: Store,
    /// Digests learnt now (not yet in the store's cache).
    pub fresh: Vec<Digest>,
    /// Warnings for the report.
    pub warnings: Vec<String>,
}

impl Prepared {
    /// The names of every entry this configuration serves (for logs and `STATUS=`).
    pub fn wanted_entries(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .targets
            .iter()
            .filter(|t| t.nativity != Nativity::Native && t.interpreter.is_ok())
            .flat_map(|t| {
                t.target
                    .rows()
                    .map(|row| super::naming::entry_name(&self.prefix, row))
            })
            .collect();
        names.extend(self.extras.iter().map(|e| e.rule.name.clone()));
        names
    }

    /// The interpreter source files this preparation used (the daemon watches them).
    pub fn source_files(&self) -> Vec<PathBuf> {
        self.targets
            .iter()
            .filter_map(|t| t.interpreter.as_ref().ok())
            .map(|s| s.file.path.clone())
            .collect()
    }
}

/// Probes the host for `targets` and resolves every interpreter (headers read; a source is read
/// whole only the first time binfmtd sees it under its current stat identity).
pub fn prepare(settings: &Settings, selection: &Targets, usage: Use) -> Result<Prepared> {
    let (targets, explicit) = selection.expand();
    let store = Store::at(&settings.install_dir);
    let cache = (usage == Use::Store && store.dir().is_dir()).then_some(store.dir());
    let host = HostFacts::gather_for(&targets, cache);
    let machine = host.machine().map_err(anyhow::Error::new)?;
    let digests = match usage {
        Use::Store => store.snapshot(&[]).digests,
        Use::Rootless => BTreeMap::new(),
    };
    let mounts = Mounts::read();
    let resolver = Resolver {
        settings,
        machine,
        usage,
        store: &store,
        digests: &digests,
        device: store.device(),
        mounts: mounts.clone(),
        store_mount: mounts.as_ref().and_then(|m| store.mount(m)),
    };
    let chosen: Vec<(Target, Result<Candidate, Problem>)> = targets
        .iter()
        .map(|&t| {
            let found = match host.nativity(t) {
                Nativity::Native => Err(Problem::NotNeeded),
                Nativity::Foreign | Nativity::Unknown => resolver.choose(t),
            };
            (t, found)
        })
        .collect();
    let (sources, fresh) = resolver.learn(chosen);
    let targets = sources
        .into_iter()
        .map(|(target, interpreter)| TargetFacts {
            target,
            explicit,
            nativity: host.nativity(target),
            flags: settings.flags_for(target),
            others: settings.others_for(target),
            distribution: settings.distribution,
            interpreter,
        })
        .collect();
    let extras = settings
        .entries
        .iter()
        .map(|rule| ExtraFacts {
            rule: rule.clone(),
            others: settings.others,
            interpreter_header: header_of(&rule.interpreter),
        })
        .collect();
    let mut warnings = settings.warnings.clone();
    if !host.initial_user_namespace && usage == Use::Store {
        warnings.push(
            "binfmtd runs in a user namespace other than the host's: entries registered here \
             are visible only inside this namespace and vanish with it"
                .to_string(),
        );
    }
    Ok(Prepared {
        host,
        targets,
        extras,
        prefix: settings.entry_prefix.clone(),
        store,
        fresh,
        warnings,
    })
}

/// The fast facts: the kernel (through `fs`; `None` when binfmt_misc is not mounted, for
/// `plan`), the store's files, and ownership.
pub fn facts(prepared: &Prepared, fs: Option<&BinfmtMisc>, mount: &Path) -> Result<Facts> {
    let kernel = match fs {
        Some(fs) => KernelFacts {
            mount: mount.to_path_buf(),
            mounted: true,
            enabled: fs.is_enabled().context("reading binfmt_misc's status")?,
            entries: fs.entries().context("reading binfmt_misc entries")?,
            max_interpreters: prepared
                .host
                .kernel
                .flags_7_3()
                .then(binfmt_misc::kernel::max_interpreters)
                .flatten(),
            not_writable: writable(fs).err().map(Arc::new),
        },
        None => KernelFacts {
            mount: mount.to_path_buf(),
            enabled: true,
            ..KernelFacts::default()
        },
    };
    let store = &prepared.store;
    let binaries: BTreeSet<&str> = prepared
        .targets
        .iter()
        .filter_map(|t| t.interpreter.as_ref().ok())
        .filter(|s| matches!(s.placement, Placement::Store { .. }))
        .map(|s| s.binary)
        .collect();
    let binaries: Vec<&str> = binaries.into_iter().collect();
    let snapshot = store.snapshot(&binaries);
    let pins = Registrations::load(store.dir());
    let ownership = ownership(store, &pins, &kernel.entries);
    Ok(Facts {
        host: prepared.host.clone(),
        kernel,
        store: StoreFacts {
            dir: store.dir().to_path_buf(),
            exists: store.dir().is_dir(),
            dev: store.device(),
            free: store.free_space().ok(),
            managed: snapshot.managed,
            leftovers: snapshot.leftovers,
            pins,
        },
        ownership,
        prefix: prepared.prefix.clone(),
        targets: prepared.targets.clone(),
        extras: prepared.extras.clone(),
        masks: None,
    })
}

/// Whether this process may write registrations (checked without writing): a read-only mount
/// or a non-root user fails here, once, instead of at every entry.
fn writable(fs: &BinfmtMisc) -> Result<(), binfmt_misc::Error> {
    let register = fs.root().join("register");
    match nix::unistd::access(&register, nix::unistd::AccessFlags::W_OK) {
        Err(nix::errno::Errno::EROFS) => Err(binfmt_misc::Error::ReadOnly { path: register }),
        Err(nix::errno::Errno::EACCES | nix::errno::Errno::EPERM) => {
            Err(binfmt_misc::Error::PermissionDenied {
                path: register,
                op: "write registrations to",
            })
        }
        // Anything else surfaces, with its own message, at the first real write.
        Ok(()) | Err(_) => Ok(()),
    }
}

/// Who owns what: binfmtd's directories (this store, the known ones, and the directory of any
/// entry's interpreter that holds a binfmtd manifest, such as an earlier `install_dir`), and the
/// entries binfmtd recorded registering.
pub fn ownership(
    store: &Store,
    pins: &Registrations,
    entries: &[binfmt_misc::EntryInfo],
) -> Ownership {
    let mut dirs = store.binfmtd_dirs();
    for info in entries {
        if let Some(dir) = info.entry.interpreter.parent()
            && !dirs.iter().any(|d| d == dir)
            && interpreter::is_store(dir)
        {
            dirs.push(dir.to_path_buf());
        }
    }
    Ownership {
        binfmtd_dirs: dirs,
        registered: pins
            .entries
            .iter()
            .map(|(name, r)| (name.clone(), r.interpreter.clone()))
            .collect(),
    }
}

/// The first 256 bytes of `path` (empty when unreadable).
fn header_of(path: &Path) -> Vec<u8> {
    let mut buf = Vec::with_capacity(256);
    if let Ok(file) = std::fs::File::open(path) {
        let _ = file.take(256).read_to_end(&mut buf);
    }
    buf
}

/// A target and its interpreter (or why none).
type Resolved = (Target, Result<Source, Problem>);

/// A verified candidate, before its digest is known.
#[derive(Debug, Clone)]
struct Candidate {
    binary: &'static str,
    file: Verified,
    choice: Choice,
    /// What is known about it (from the cache, or learnt while ranking).
    known: Option<Digest>,
    /// What was learnt about the candidates passed over.
    passed_over: Vec<Digest>,
}

/// Finds, verifies and chooses interpreters.
struct Resolver<'a> {
    settings: &'a Settings,
    machine: HostMachine,
    usage: Use,
    store: &'a Store,
    digests: &'a BTreeMap<PathBuf, Digest>,
    device: Option<u64>,
    /// This namespace's mounts, and the one the store is on: a hard link needs the same mount,
    /// not only the same device.
    mounts: Option<Mounts>,
    store_mount: Option<i32>,
}

impl Resolver<'_> {
    /// The interpreter for `target`: the configured one, or the newest verified candidate.
    fn choose(&self, target: Target) -> Result<Candidate, Problem> {
        let binary = target.qemu_binary();
        if let Some(path) = self.settings.interpreter_override(target) {
            let (file, known) = self
                .verify(path)
                .map_err(|e| Problem::Unusable(Arc::new(e)))?;
            return Ok(Candidate {
                binary,
                file,
                choice: Choice::Configured,
                known,
                passed_over: Vec::new(),
            });
        }
        let mut seen: BTreeSet<PathBuf> = BTreeSet::new();
        let mut verified: Vec<(Verified, Option<Digest>)> = Vec::new();
        let mut first_error = None;
        let name = format!("{}{binary}", self.settings.binary_prefix);
        let dirs: Vec<PathBuf> = self
            .settings
            .interpreter_dirs
            .iter()
            .cloned()
            .chain(interpreter::DEFAULT_DIRS.iter().map(PathBuf::from))
            .collect();
        for path in interpreter::candidates_in(&name, &dirs) {
            match self.verify(&path) {
                // Several names often lead to one file (`qemu-<t>-static` -> `qemu-<t>`).
                Ok((file, _)) if !seen.insert(file.path.clone()) => {}
                Ok(found) => verified.push(found),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if verified.is_empty() {
            return Err(first_error.map_or(Problem::NotFound, |e| Problem::Unusable(Arc::new(e))));
        }
        // `exec` takes the first in search order: ranking runs `--version`, and `exec` must stay
        // free of child processes and threads until it unshares.
        let choice = if verified.len() == 1 || self.usage == Use::Rootless {
            Choice::Only
        } else {
            self.newest_first(target, &mut verified)
        };
        // The candidates passed over are remembered too (their version and probe result).
        let passed_over = verified.drain(1..).filter_map(|(_, d)| d).collect();
        let (file, known) = verified.swap_remove(0);
        Ok(Candidate {
            binary,
            file,
            choice,
            known,
            passed_over,
        })
    }

    /// Ranks several candidates: the newest QEMU version that runs the target's probe first
    /// (search order breaks ties; a candidate that does not run the probe is passed over), and
    /// says which were passed over. What was learnt (version, probe) is kept in each candidate's
    /// digest, to be cached.
    fn newest_first(
        &self,
        target: Target,
        candidates: &mut Vec<(Verified, Option<Digest>)>,
    ) -> Choice {
        let probe = elf_magic::probe_elf(target);
        let learnt: Vec<Digest> = map_parallel(candidates, |(file, known)| {
            let mut d = known
                .clone()
                .unwrap_or_else(|| Digest::unknown(file.clone()));
            if d.version.is_none() && !d.version_asked {
                d.version = interpreter::qemu_version(&file.path);
                d.version_asked = true;
            }
            if d.runs_probe.is_none() {
                d.runs_probe = Some(interpreter::runs_probe(&file.path, probe));
            }
            d
        });
        let mut ranked: Vec<(Verified, Option<Digest>)> = candidates
            .drain(..)
            .zip(learnt)
            .map(|((file, _), d)| (file, Some(d)))
            .collect();
        let key = |c: &(Verified, Option<Digest>)| {
            let d = c.1.as_ref();
            (
                d.and_then(|d| d.runs_probe) == Some(true),
                d.and_then(|d| d.version.clone()),
            )
        };
        ranked.sort_by(|a, b| {
            let ((runs_a, ver_a), (runs_b, ver_b)) = (key(a), key(b));
            runs_b.cmp(&runs_a).then(interpreter::compare_versions(
                ver_b.as_deref(),
                ver_a.as_deref(),
            ))
        });
        let over = ranked
            .iter()
            .skip(1)
            .map(|(file, d)| {
                let d = d.as_ref();
                let version = d.and_then(|d| d.version.clone());
                let note = match d.and_then(|d| d.runs_probe) {
                    Some(false) => Some(format!(
                        "{}; does not run {target} programs",
                        version.as_deref().unwrap_or("version unknown")
                    )),
                    _ => version,
                };
                (file.path.clone(), note)
            })
            .collect();
        candidates.extend(ranked);
        Choice::Newest { over }
    }

    /// Verifies `path`, or recognises it from the digest cache (same stat identity: verified
    /// before and unchanged since, so not even its headers are read again).
    fn verify(&self, path: &Path) -> Result<(Verified, Option<Digest>), InterpreterError> {
        if let Ok(identity) = interpreter::identity(path)
            && let Some(d) = self.digests.get(&identity.path)
            && d.identity.same_file(&identity)
        {
            return Ok((identity, Some(d.clone())));
        }
        let policy = VerifyPolicy {
            require_root_owner: self.usage == Use::Store,
        };
        let file = interpreter::verify_with(path, self.machine, policy)?;
        if self.usage == Use::Rootless
            && nix::unistd::access(&file.path, nix::unistd::AccessFlags::X_OK).is_err()
        {
            let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
            return Err(InterpreterError::io(
                "executing (as you)",
                &file.path,
                denied,
            ));
        }
        Ok((file, None))
    }

    /// Learns what is missing about every chosen candidate (several at a time): its QEMU
    /// version, and its digest when it is to be copied over a managed file (a linked or
    /// in-place file is known by its inode and never read whole), and places it. Returns what
    /// is worth caching: every digest learnt or completed now.
    fn learn(
        &self,
        chosen: Vec<(Target, Result<Candidate, Problem>)>,
    ) -> (Vec<Resolved>, Vec<Digest>) {
        let mut fresh: BTreeMap<PathBuf, Digest> = BTreeMap::new();
        // What to learn: the file, and whether it must be read whole (it is copied).
        let mut missing: Vec<(Digest, bool)> = Vec::new();
        for c in chosen.iter().filter_map(|(_, c)| c.as_ref().ok()) {
            for d in &c.passed_over {
                if self.digests.get(&d.identity.path) != Some(d) {
                    fresh.insert(d.identity.path.clone(), d.clone());
                }
            }
            let d = c
                .known
                .clone()
                .unwrap_or_else(|| Digest::unknown(c.file.clone()));
            // A copy is hashed on the way; its source is read before only to be compared with
            // a managed file already there (a reinstall of the same bytes, a copy an
            // interrupted run left unrecorded).
            let hash = self.placement(&c.file) == (Placement::Store { linkable: false })
                && d.sha256.is_none()
                && std::fs::symlink_metadata(self.store.path_of(c.binary)).is_ok();
            // `exec` registers in an instance that dies with it: no pins, no report to fill,
            // and no thread or child process (it must stay single-threaded to unshare).
            let learn = self.usage != Use::Rootless && (hash || !d.version_asked);
            if let Some(m) = missing
                .iter_mut()
                .find(|(m, _)| m.identity.path == d.identity.path)
            {
                m.1 |= hash;
            } else if learn {
                missing.push((d, hash));
            } else if self.digests.get(&d.identity.path) != Some(&d) {
                fresh.insert(d.identity.path.clone(), d);
            }
        }
        let learnt = map_parallel(&missing, |(d, hash)| {
            let sha256 = match (&d.sha256, hash) {
                (None, true) => Some(interpreter::hash_verified(&d.identity)?),
                (known, _) => known.clone(),
            };
            let version = match (&d.version, d.version_asked) {
                (None, false) => interpreter::qemu_version(&d.identity.path),
                (known, _) => known.clone(),
            };
            Ok::<_, InterpreterError>(Digest {
                sha256,
                version,
                version_asked: true,
                ..d.clone()
            })
        });
        let mut failed: BTreeMap<PathBuf, Arc<InterpreterError>> = BTreeMap::new();
        for ((d, _), result) in missing.into_iter().zip(learnt) {
            match result {
                Ok(learnt) => {
                    fresh.insert(d.identity.path, learnt);
                }
                Err(e) => {
                    failed.insert(d.identity.path, Arc::new(e));
                }
            }
        }
        let sources = chosen
            .into_iter()
            .map(|(target, c)| {
                let source = c.and_then(|c| {
                    if let Some(e) = failed.get(&c.file.path) {
                        return Err(Problem::Unusable(e.clone()));
                    }
                    let digest = fresh.get(&c.file.path).or(c.known.as_ref()).cloned();
                    Ok(self.place(c.binary, c.file, digest, c.choice))
                });
                (target, source)
            })
            .collect();
        let fresh = if self.usage == Use::Rootless {
            Vec::new()
        } else {
            fresh.into_values().collect()
        };
        (sources, fresh)
    }

    /// Where entries will find `file`: where it is when it already lives in a binfmtd directory
    /// (the image's layout, a persisted install) or for `exec`; else in the store, hard-linked
    /// when the filesystem is the same.
    fn placement(&self, file: &Verified) -> Placement {
        let in_binfmtd_dir = file.path.parent().is_some_and(|dir| {
            self.store.binfmtd_dirs().iter().any(|d| d == dir)
                || self.settings.in_place_dirs.iter().any(|d| d == dir)
        });
        if self.usage == Use::Rootless || in_binfmtd_dir {
            Placement::InPlace
        } else {
            Placement::Store {
                linkable: self.linkable(file),
            }
        }
    }

    /// Whether the store can hard-link `file`: the same device, and the same mount where the
    /// mounts are known (two mounts of one filesystem refuse links with `EXDEV`).
    fn linkable(&self, file: &Verified) -> bool {
        let same_mount = match (&self.mounts, self.store_mount) {
            (Some(m), Some(store)) => m.mount_of(&file.path) == Some(store),
            _ => true,
        };
        self.device == Some(file.dev) && same_mount
    }

    /// The chosen `file` as a [`Source`], with what is known of it.
    fn place(
        &self,
        binary: &'static str,
        file: Verified,
        digest: Option<Digest>,
        choice: Choice,
    ) -> Source {
        let (sha256, version) = digest.map_or((None, None), |d| (d.sha256, d.version));
        Source {
            placement: self.placement(&file),
            binary,
            file,
            sha256,
            version,
            choice,
        }
    }
}
