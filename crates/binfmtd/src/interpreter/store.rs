//! `Store`: the managed install directory of verified interpreters and its manifest.
//!
//! Reading ([`Store::snapshot`]) and writing ([`Writer`]) are separate: the engine decides from
//! a snapshot what to put where, and a writer, taken under the lock, only does that.
//!
//! Invariants:
//! - nothing in the directory is ever opened for writing under its final name: a file is linked
//!   or copied to a temporary name (`.<name>.<unique>.tmp`), fsynced, and renamed into place, so
//!   a kernel-pinned interpreter is never touched (no ETXTBSY, no half-written file); the
//!   directory is fsynced once for all of a writer's renames, before [`Writer::commit`] returns
//!   (and so before any entry points at them);
//! - where the source and the store share a filesystem the managed file is a **hard link** to the
//!   verified source (no second copy, and no read of it: its bytes are known by its inode, see
//!   [`Content`]); it survives the package's removal or upgrade (dpkg renames a new file over the
//!   old name, the link keeps the old inode) and is recognised by its stat stamp like a copy;
//! - a temporary file left by a killed run is a [`Snapshot::leftovers`] entry, deleted by the
//!   next run that writes; a file renamed into place whose manifest record was not saved is
//!   recognised by its content on the next run.

use std::collections::BTreeMap;
use std::fs::{self, DirBuilder, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::content::{Content, FileId};
use super::copy::{Staged, hash_file, stage};
use super::error::InterpreterError;
use super::manifest::{self, Digest, FileStamp, MANIFEST_FILE, Manifest, Record, sync_dir};
use super::mounts::Mounts;
use super::verify::Verified;

/// Default install directory; the configuration may choose another.
pub const DEFAULT_INSTALL_DIR: &str = "/var/lib/binfmtd/interpreters";

/// Where `binfmtd install --persist` puts the container image's interpreters on a host.
pub const PERSISTED_DIR: &str = "/usr/local/lib/binfmtd/qemu";

/// Install directories of every binfmtd installation: the default one, the container image's
/// (`packaging/container/binfmtd.toml`) and a persisted image's. Entries running interpreters
/// there are binfmtd's, whichever installation registered them, and interpreters found there are
/// used where they are.
pub const KNOWN_INSTALL_DIRS: &[&str] =
    &[DEFAULT_INSTALL_DIR, "/usr/libexec/binfmtd", PERSISTED_DIR];

/// The managed install directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
    canonical: Option<PathBuf>,
}

/// What the manifest records about one installed interpreter (for `status` and the daemon).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Installed {
    /// Interpreter name, e.g. `qemu-aarch64`.
    pub name: String,
    /// The managed file the kernel entries point at.
    pub path: PathBuf,
    /// The source it came from.
    pub source: PathBuf,
    /// SHA-256 of its content, lowercase hex, when it was read (a copy; `None` for a hard link).
    pub sha256: Option<String>,
    /// QEMU's version string, if known.
    pub version: Option<String>,
}

/// The state of one managed file, as the engine needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedCopy {
    /// Its bytes: its inode as it is now, and its SHA-256 as recorded, or (an unrecorded or
    /// altered file) read now.
    pub content: Content,
    /// Its QEMU version, when recorded for these bytes.
    pub version: Option<String>,
    /// The source identity recorded for it; `None` for an unrecorded or altered file.
    pub source: Option<Verified>,
}

/// A read-only view of the store's files.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The managed files asked about that exist, by name.
    pub managed: BTreeMap<String, ManagedCopy>,
    /// Temporary files left by interrupted runs, with their sizes.
    pub leftovers: Vec<(PathBuf, u64)>,
    /// The cache of source digests.
    pub digests: BTreeMap<PathBuf, Digest>,
}

impl Store {
    /// Opens `dir` for installing: creates it (mode 0755) if missing and checks that a file can
    /// be created in it, so a read-only or unwritable directory fails here, before any change.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, InterpreterError> {
        let dir = dir.into();
        if !dir.is_dir() {
            DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(&dir)
                .and_then(|()| fs::set_permissions(&dir, Permissions::from_mode(0o755)))
                .map_err(|e| InterpreterError::store("creating", &dir, e))?;
        }
        check_ownership(&dir)?;
        // Dropping the probe deletes it.
        tempfile::Builder::new()
            .prefix(".probe.")
            .suffix(".tmp")
            .tempfile_in(&dir)
            .map_err(|e| InterpreterError::store("creating a file in", &dir, e))?;
        Ok(Self::at(dir))
    }

    /// A read-only view of `dir` that creates nothing (for `plan` and `status`).
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        let canonical = fs::canonicalize(&dir).ok();
        Self { dir, canonical }
    }

    /// The install directory as configured.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the managed file called `name` lives: `<dir>/<name>`.
    pub fn path_of(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Every directory whose interpreters are binfmtd's: this one (as configured and resolved)
    /// and [`KNOWN_INSTALL_DIRS`].
    pub fn binfmtd_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = vec![self.dir.clone()];
        dirs.extend(self.canonical.clone());
        dirs.extend(KNOWN_INSTALL_DIRS.iter().map(PathBuf::from));
        dirs.dedup();
        dirs
    }

    /// True if `path` names a managed file in this directory (whether or not it still exists).
    pub fn contains_path(&self, path: &Path) -> bool {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return false;
        };
        let ours = parent == self.dir || self.canonical.as_deref() == Some(parent);
        ours && name.to_str().is_some_and(|n| validate_name(n).is_ok())
    }

    /// Free bytes for an unprivileged writer where the copies go (the directory, or its nearest
    /// existing parent before it is created).
    pub fn free_space(&self) -> Result<u64, InterpreterError> {
        let at = nearest_existing(&self.dir);
        let stat = nix::sys::statvfs::statvfs(&at)
            .map_err(|e| InterpreterError::io("statvfs", &at, io::Error::from(e)))?;
        Ok(widen(stat.blocks_available()).saturating_mul(widen(stat.fragment_size())))
    }

    /// The device of the filesystem the managed files go to (for hard links).
    pub fn device(&self) -> Option<u64> {
        fs::metadata(nearest_existing(&self.dir))
            .ok()
            .map(|m| m.dev())
    }

    /// The mount the managed files go to (see [`Mounts`]: a hard link needs the same mount).
    pub fn mount(&self, mounts: &Mounts) -> Option<i32> {
        let at = fs::canonicalize(nearest_existing(&self.dir)).ok()?;
        mounts.mount_of(&at)
    }

    /// The manifest's record of `name`, if its managed file still exists.
    pub fn installed(&self, name: &str) -> Option<Installed> {
        let manifest = manifest::load(&self.dir).ok()?;
        let record = manifest.interpreters.get(name)?;
        let path = self.path_of(name);
        regular_file(&path)?;
        Some(Installed {
            name: name.to_string(),
            path,
            source: record.source.path.clone(),
            sha256: record.sha256.clone(),
            version: record.version.clone(),
        })
    }

    /// Names recorded in the manifest, sorted.
    pub fn names(&self) -> Vec<String> {
        manifest::load(&self.dir)
            .map(|m| m.interpreters.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The state of the managed files `names`, the leftovers of interrupted runs and the digest
    /// cache. Reads only the manifest and `stat`s, except for a managed file the manifest does
    /// not describe (unrecorded, or altered since): that one is hashed, so an interrupted run is
    /// recognised instead of copied again.
    pub fn snapshot(&self, names: &[&str]) -> Snapshot {
        let manifest = manifest::load(&self.dir)
            .inspect_err(|e| tracing::warn!("{e}"))
            .unwrap_or_default();
        let mut managed = BTreeMap::new();
        for &name in names {
            let path = self.path_of(name);
            let Some(meta) = regular_file(&path) else {
                continue;
            };
            let (stamp, file) = (FileStamp::of(&meta), FileId::of(&meta));
            let record = manifest.interpreters.get(name);
            let copy = match record {
                Some(r) if r.installed.same_file(&stamp) => ManagedCopy {
                    content: Content {
                        file,
                        sha256: r.sha256.clone(),
                    },
                    version: r.version.clone(),
                    source: Some(r.source.clone()),
                },
                _ => match hash_file(&path) {
                    Ok(sha256) => ManagedCopy {
                        version: record
                            .filter(|r| r.sha256.as_deref() == Some(sha256.as_str()))
                            .and_then(|r| r.version.clone()),
                        content: Content {
                            file,
                            sha256: Some(sha256),
                        },
                        source: None,
                    },
                    Err(e) => {
                        tracing::warn!("{e}");
                        continue;
                    }
                },
            };
            managed.insert(name.to_string(), copy);
        }
        Snapshot {
            managed,
            leftovers: self.leftovers(),
            digests: manifest.digests,
        }
    }

    /// Temporary files of binfmtd's (`.<name>.<unique>.tmp`) left in the directory.
    fn leftovers(&self) -> Vec<(PathBuf, u64)> {
        let Ok(dir) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        dir.filter_map(Result::ok)
            .filter(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                name.starts_with('.') && name.ends_with(".tmp")
            })
            .filter_map(|e| {
                let meta = e.metadata().ok()?;
                meta.is_file().then(|| (e.path(), meta.len()))
            })
            .collect()
    }

    /// A writer on the store (call under the lock): loads the manifest once.
    pub fn writer(&self) -> Result<Writer<'_>, InterpreterError> {
        let manifest = manifest::load(&self.dir)?;
        Ok(Writer {
            store: self,
            saved: manifest.clone(),
            manifest,
            unsynced: false,
        })
    }
}

/// Puts files into the store and records them; [`Writer::commit`] saves the manifest once.
#[derive(Debug)]
pub struct Writer<'a> {
    store: &'a Store,
    manifest: Manifest,
    saved: Manifest,
    /// Files were renamed into the directory since it was last fsynced.
    unsynced: bool,
}

/// How [`Writer::put`] placed a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placed {
    /// A hard link to the source: no second copy, not read.
    Linked,
    /// A copy, hashed on the way.
    Copied {
        /// Its SHA-256, lowercase hex.
        sha256: String,
    },
}

impl Placed {
    /// The digest learnt while placing (a copy's).
    pub fn sha256(&self) -> Option<&str> {
        match self {
            Placed::Linked => None,
            Placed::Copied { sha256 } => Some(sha256),
        }
    }
}

impl Writer<'_> {
    /// Deletes a temporary file left by an interrupted run (`path` must be one of
    /// [`Snapshot::leftovers`]).
    pub fn clean(&self, path: &Path) -> Result<(), InterpreterError> {
        let ok = path.parent() == Some(self.store.dir.as_path())
            && path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.') && n.ends_with(".tmp"));
        if !ok {
            return Err(InterpreterError::InvalidName {
                name: path.display().to_string(),
            });
        }
        match fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(InterpreterError::store(
                "removing a temporary file from",
                &self.store.dir,
                e,
            )),
        }
    }

    /// Puts the verified `source` in place as `name`: a hard link when `link` (falling back to a
    /// copy when the filesystem refuses), else a copy, whose digest must be `sha256` when that
    /// is known. A link is not read; a copy's digest is recorded.
    pub fn put(
        &mut self,
        name: &str,
        source: &Verified,
        sha256: Option<&str>,
        version: Option<String>,
        link: bool,
    ) -> Result<Placed, InterpreterError> {
        validate_name(name)?;
        let target = self.store.path_of(name);
        let linked = if link {
            // Whatever happens below, a rename may have happened: sync at commit.
            self.unsynced = true;
            self.link(name, source, &target)?
        } else {
            None
        };
        match linked {
            Some(identity) => {
                self.record_placed(name, identity, sha256.map(String::from), version)?;
                Ok(Placed::Linked)
            }
            None => {
                let staged = self.stage(name, source)?;
                self.put_staged(name, staged, sha256, version)
            }
        }
    }

    /// Copies the verified `source` to a temporary file in the store, hashing it on the way
    /// (only reads the writer: several copies may be staged at once, each by its own thread);
    /// [`Writer::put_staged`] puts it in place.
    pub fn stage(&self, name: &str, source: &Verified) -> Result<Staged, InterpreterError> {
        validate_name(name)?;
        stage(&self.store.dir, name, source)
    }

    /// Renames a copy [`Writer::stage`]d for `name` into place and records it; its digest must
    /// be `sha256` when that is known.
    pub fn put_staged(
        &mut self,
        name: &str,
        staged: Staged,
        sha256: Option<&str>,
        version: Option<String>,
    ) -> Result<Placed, InterpreterError> {
        validate_name(name)?;
        if sha256.is_some_and(|s| s != staged.sha256) {
            return Err(InterpreterError::SourceChanged {
                path: staged.source.path.clone(),
            });
        }
        let (identity, sha256) = (staged.source.clone(), staged.sha256.clone());
        // Whatever happens below, a rename may have happened: sync at commit.
        self.unsynced = true;
        staged.persist(&self.store.dir, &self.store.path_of(name))?;
        self.record_placed(name, identity, Some(sha256.clone()), version)?;
        Ok(Placed::Copied { sha256 })
    }

    /// Records the file just placed as `name`, made from `source` (its identity now).
    fn record_placed(
        &mut self,
        name: &str,
        source: Verified,
        sha256: Option<String>,
        version: Option<String>,
    ) -> Result<(), InterpreterError> {
        let target = self.store.path_of(name);
        let meta =
            fs::symlink_metadata(&target).map_err(|e| InterpreterError::io("stat", &target, e))?;
        let record = Record {
            installed: FileStamp::of(&meta),
            size: source.size,
            sha256: sha256.clone(),
            version: version.clone(),
            source: source.clone(),
            installed_at: now(),
        };
        self.manifest.interpreters.insert(name.to_string(), record);
        let runs_probe = self
            .manifest
            .digests
            .get(&source.path)
            .and_then(|d| d.runs_probe);
        self.remember(Digest {
            identity: source,
            sha256,
            version,
            runs_probe,
            version_asked: true,
        });
        Ok(())
    }

    /// Links `source` to a temporary name and renames it over `target`. Returns the source's
    /// identity after linking (linking changes its ctime), or `None` when the filesystem refuses
    /// the link (another filesystem, a hard-link restriction): the caller copies instead.
    fn link(
        &self,
        name: &str,
        source: &Verified,
        target: &Path,
    ) -> Result<Option<Verified>, InterpreterError> {
        let dir = &self.store.dir;
        let temp = dir.join(temp_name(name));
        if let Err(e) = fs::hard_link(&source.path, &temp) {
            tracing::debug!(source = %source.path.display(), "cannot hard-link ({e}): copying");
            return Ok(None);
        }
        let undo = |e| {
            let _ = fs::remove_file(&temp);
            e
        };
        // The link must be the verified file: same inode, size and content time.
        let meta = fs::symlink_metadata(&temp)
            .map_err(|e| undo(InterpreterError::io("stat", &temp, e)))?;
        let same = meta.ino() == source.ino
            && meta.dev() == source.dev
            && meta.size() == source.size
            && super::verify::Timestamp::mtime(&meta) == source.mtime;
        if !same {
            return Err(undo(InterpreterError::SourceChanged {
                path: source.path.clone(),
            }));
        }
        fs::rename(&temp, target).map_err(|e| {
            undo(InterpreterError::store(
                "renaming an interpreter into",
                dir,
                e,
            ))
        })?;
        // Linking and renaming moved the inode's ctime: record its identity as it is now.
        let meta =
            fs::symlink_metadata(target).map_err(|e| InterpreterError::io("stat", target, e))?;
        Ok(Some(Verified::from_metadata(source.path.clone(), &meta)))
    }

    /// Records that the managed `name` (already holding the source's bytes) now stands for
    /// `source`'s identity: a `touch`, a reinstall of the same build, or a file an interrupted
    /// run renamed into place without recording it.
    pub fn record(
        &mut self,
        name: &str,
        source: &Verified,
        sha256: Option<&str>,
        version: Option<String>,
    ) -> Result<(), InterpreterError> {
        validate_name(name)?;
        let target = self.store.path_of(name);
        let meta =
            fs::symlink_metadata(&target).map_err(|e| InterpreterError::io("stat", &target, e))?;
        let installed_at = self
            .manifest
            .interpreters
            .get(name)
            .map_or_else(now, |r| r.installed_at);
        let record = Record {
            installed: FileStamp::of(&meta),
            size: source.size,
            sha256: sha256.map(String::from),
            version,
            source: source.clone(),
            installed_at,
        };
        self.manifest.interpreters.insert(name.to_string(), record);
        Ok(())
    }

    /// Caches what was learnt about a source file.
    pub fn remember(&mut self, digest: Digest) {
        self.manifest
            .digests
            .insert(digest.identity.path.clone(), digest);
    }

    /// Makes every rename durable (one directory fsync for all of them) and saves the manifest
    /// when anything changed (its own rename and directory fsync cover the earlier renames).
    pub fn commit(self) -> Result<(), InterpreterError> {
        if self.manifest == self.saved {
            return if self.unsynced {
                sync_dir(&self.store.dir)
            } else {
                Ok(())
            };
        }
        let saved = manifest::save(&self.store.dir, &self.manifest);
        if saved.is_err() && self.unsynced {
            // The files are in place and recognised by content next time: keep them durable.
            let _ = sync_dir(&self.store.dir);
        }
        saved
    }
}

/// A unique temporary name for `name` in the store.
fn temp_name(name: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(".{name}.{}-{n}.tmp", std::process::id())
}

/// `path`, or its nearest existing ancestor.
fn nearest_existing(path: &Path) -> PathBuf {
    path.ancestors()
        .find(|p| p.exists())
        .unwrap_or(Path::new("/"))
        .to_path_buf()
}

/// The install directory must belong to whoever runs binfmtd (root, normally) and be writable
/// by nobody else.
fn check_ownership(dir: &Path) -> Result<(), InterpreterError> {
    let meta = fs::metadata(dir).map_err(|e| InterpreterError::store("inspecting", dir, e))?;
    let euid = nix::unistd::geteuid().as_raw();
    let mode = meta.mode() & 0o7777;
    let reason = if meta.uid() != euid {
        format!("owned by uid {}, not uid {euid}", meta.uid())
    } else if mode & 0o022 != 0 {
        format!("mode {mode:04o} is writable by group or others")
    } else {
        return Ok(());
    };
    Err(InterpreterError::InsecureStore {
        dir: dir.to_path_buf(),
        reason,
    })
}

/// The metadata of a regular file at `path` (not following symlinks), or `None`.
fn regular_file(path: &Path) -> Option<fs::Metadata> {
    let meta = fs::symlink_metadata(path).ok()?;
    meta.file_type().is_file().then_some(meta)
}

/// Accepts plain file names that cannot collide with the manifest or temporary files.
fn validate_name(name: &str) -> Result<(), InterpreterError> {
    let ok = !name.is_empty()
        && name.len() <= 200
        && !name.starts_with('.')
        && !name.contains(['/', '\0', '\n'])
        && name != MANIFEST_FILE;
    if ok {
        Ok(())
    } else {
        Err(InterpreterError::InvalidName {
            name: name.to_owned(),
        })
    }
}

/// Widens a C counter (32- or 64-bit depending on the platform) to `u64`.
fn widen(n: impl Into<u64>) -> u64 {
    n.into()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
