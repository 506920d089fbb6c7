//! `Store`: the managed install directory of verified interpreter copies and its manifest.
//!
//! Invariants: nothing in the directory is ever opened for writing under its final name (copies
//! are staged in temporary files and renamed into place, so a kernel-pinned interpreter is never
//! touched); an unchanged source is recognised from `stat` alone, without reading its contents.
//! Callers serialize concurrent processes with their own lock.

use std::fs::{self, DirBuilder, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::adopt;
use super::copy::stage;
use super::error::InterpreterError;
use super::manifest::{self, FileStamp, MANIFEST_FILE, Record, sync_dir};
use super::verify::Verified;
use super::version::qemu_version;

/// Default install directory; the configuration may choose another.
pub const DEFAULT_INSTALL_DIR: &str = "/var/lib/binfmtd/interpreters";

/// Install directories of every binfmtd installation: the default one and the container
/// image's (`packaging/container/binfmtd.toml`). Entries running interpreters there are
/// binfmtd's, whichever installation registered them.
pub const KNOWN_INSTALL_DIRS: &[&str] = &[DEFAULT_INSTALL_DIR, "/usr/libexec/binfmtd"];

/// The managed install directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
    canonical: Option<PathBuf>,
    /// The last manifest read, with the stamp of the file it came from: queries re-read and
    /// re-parse it only when the file changed (one `stat` instead of a read per query).
    cache: Arc<Mutex<Option<CachedManifest>>>,
}

/// A parsed manifest and the stamp of the file it was read from.
type CachedManifest = (FileStamp, Arc<manifest::Manifest>);

/// The outcome of [`Store::install`], or the state reported by [`Store::installed`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Installed {
    /// Interpreter name, e.g. `qemu-aarch64`.
    pub name: String,
    /// The managed copy to register with the kernel.
    pub path: PathBuf,
    /// The resolved source it was copied from.
    pub source: PathBuf,
    /// SHA-256 of the managed copy, lowercase hex.
    pub sha256: String,
    /// QEMU's version string, if known.
    pub version: Option<String>,
    /// Size in bytes.
    pub size: u64,
    /// True if the managed copy was (re)written by this call: a kernel entry that pinned the
    /// old file must then be replaced.
    pub changed: bool,
    /// The previous copy's digest, when this call replaced it.
    pub previous_sha256: Option<String>,
    /// The previous copy's version, when this call replaced it.
    pub previous_version: Option<String>,
}

impl Installed {
    fn from_record(name: &str, path: PathBuf, record: &Record) -> Self {
        Self {
            name: name.to_owned(),
            path,
            source: record.source.path.clone(),
            sha256: record.sha256.clone(),
            version: record.version.clone(),
            size: record.size,
            changed: false,
            previous_sha256: None,
            previous_version: None,
        }
    }
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
        Self {
            dir,
            canonical,
            cache: Arc::default(),
        }
    }

    /// The install directory as configured.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the managed copy called `name` lives: `<dir>/<name>`.
    pub fn path_of(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// True if `path` names a managed copy in this directory (whether or not it still exists),
    /// which tells binfmtd's kernel entries from other tools'.
    pub fn contains_path(&self, path: &Path) -> bool {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return false;
        };
        let ours = parent == self.dir || self.canonical.as_deref() == Some(parent);
        ours && name.to_str().is_some_and(|n| validate_name(n).is_ok())
    }

    /// Whether a kernel entry running `path` is binfmtd's: an interpreter in this store, or in the
    /// install directory of another binfmtd installation (the container image's, the default
    /// one), so that the host's service takes over what the image registered instead of treating
    /// it as another tool's.
    pub fn owns(&self, path: &Path) -> bool {
        self.contains_path(path)
            || path.parent().is_some_and(|dir| {
                KNOWN_INSTALL_DIRS
                    .iter()
                    .any(|known| dir == Path::new(known))
            })
    }

    /// Names recorded in the manifest, sorted.
    pub fn names(&self) -> Vec<String> {
        self.load_quietly()
            .map(|m| m.interpreters.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// What the manifest records for `name`, if its managed copy still exists.
    pub fn installed(&self, name: &str) -> Option<Installed> {
        let manifest = self.load_quietly()?;
        let record = manifest.interpreters.get(name)?;
        let path = self.path_of(name);
        stamp_of(&path)?;
        Some(Installed::from_record(name, path, record))
    }

    /// True if [`Store::install`] of `source` under `name` would copy nothing (stat only).
    pub fn is_current(&self, name: &str, source: &Verified) -> bool {
        let Some(manifest) = self.load_quietly() else {
            return false;
        };
        manifest
            .interpreters
            .get(name)
            .is_some_and(|r| self.unchanged(name, r, source))
    }

    fn unchanged(&self, name: &str, record: &Record, source: &Verified) -> bool {
        record.source.same_identity(source)
            && stamp_of(&self.path_of(name)) == Some(record.installed)
    }

    /// Installs `source` as `<dir>/<name>` unless the manifest shows it is already there.
    ///
    /// Unchanged source (same path, size, mtime, ctime and inode) and intact managed copy: no
    /// file contents are read and nothing is written. Otherwise the source is copied into a
    /// temporary file while hashing; if the digest equals the recorded one and the copy is
    /// intact, only the manifest is refreshed (`changed == false`); else the copy is renamed
    /// into place (`changed == true`) and the manifest updated.
    pub fn install(&self, name: &str, source: &Verified) -> Result<Installed, InterpreterError> {
        validate_name(name)?;
        let target = self.path_of(name);
        // The common case (a daemon restoring a flushed table): nothing to copy, decided from the
        // cached manifest and two stats.
        if let Some(cached) = self.load_quietly()
            && let Some(prev) = cached.interpreters.get(name)
            && self.unchanged(name, prev, source)
        {
            return Ok(Installed::from_record(name, target, prev));
        }
        let mut manifest = manifest::load(&self.dir)?;
        let previous = manifest.interpreters.get(name).cloned();
        if let Some(prev) = &previous
            && self.unchanged(name, prev, source)
        {
            return Ok(Installed::from_record(name, target, prev));
        }
        if adopt::is_in_place(source, &target) {
            // Already the managed file (the container image's layout): record it, copy nothing.
            let installed =
                adopt::record_in_place(name, &target, source, previous.as_ref(), &mut manifest)?;
            manifest::save(&self.dir, &manifest)?;
            return Ok(installed);
        }
        let staged = stage(&self.dir, name, source)?;
        let intact = previous
            .as_ref()
            .filter(|prev| stamp_of(&target) == Some(prev.installed));
        if let Some(prev) = intact
            && prev.sha256 == staged.sha256
        {
            // Same bytes under a new stat identity (a touch, a reinstall of the same package):
            // keep the pinned copy, remember the new identity so the next run skips by stat.
            let record = Record {
                source: staged.source.clone(),
                ..prev.clone()
            };
            let installed = Installed::from_record(name, target, &record);
            manifest.interpreters.insert(name.to_owned(), record);
            manifest::save(&self.dir, &manifest)?;
            return Ok(installed);
        }
        let (sha256, source) = (staged.sha256.clone(), staged.source.clone());
        staged.persist(&self.dir, &target)?;
        let meta =
            fs::symlink_metadata(&target).map_err(|e| InterpreterError::io("stat", &target, e))?;
        let record = Record {
            installed: FileStamp::of(&meta),
            size: source.size,
            source,
            sha256,
            version: qemu_version(&target),
            installed_at: now(),
        };
        let installed = Installed {
            changed: true,
            previous_sha256: previous.as_ref().map(|p| p.sha256.clone()),
            previous_version: previous.and_then(|p| p.version),
            ..Installed::from_record(name, target, &record)
        };
        manifest.interpreters.insert(name.to_owned(), record);
        manifest::save(&self.dir, &manifest)?;
        Ok(installed)
    }

    /// Removes the managed copy `name` and its manifest record; true if either existed.
    ///
    /// Unlinking is safe even while the kernel has the file pinned: the entry keeps its inode.
    pub fn remove(&self, name: &str) -> Result<bool, InterpreterError> {
        validate_name(name)?;
        let path = self.path_of(name);
        let had_file = match fs::remove_file(&path) {
            Ok(()) => true,
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => {
                return Err(InterpreterError::store(
                    "removing an interpreter from",
                    &self.dir,
                    e,
                ));
            }
        };
        let mut manifest = manifest::load(&self.dir)?;
        let had_record = manifest.interpreters.remove(name).is_some();
        if had_record {
            manifest::save(&self.dir, &manifest)?;
        } else if had_file {
            sync_dir(&self.dir)?;
        }
        Ok(had_file || had_record)
    }

    /// Free bytes for an unprivileged writer in the install directory, to check that the copies
    /// a plan needs will fit before the first write.
    pub fn free_space(&self) -> Result<u64, InterpreterError> {
        let stat = nix::sys::statvfs::statvfs(&self.dir)
            .map_err(|e| InterpreterError::io("statvfs", &self.dir, io::Error::from(e)))?;
        Ok(widen(stat.blocks_available()).saturating_mul(widen(stat.fragment_size())))
    }

    fn load_quietly(&self) -> Option<Arc<manifest::Manifest>> {
        let stamp = stamp_of(&self.dir.join(MANIFEST_FILE));
        let mut cache = self.cache.lock().ok()?;
        if let (Some(stamp), Some((cached, manifest))) = (stamp, cache.as_ref())
            && *cached == stamp
        {
            return Some(Arc::clone(manifest));
        }
        let manifest = manifest::load(&self.dir)
            .map_err(|err| tracing::warn!(%err, "cannot read the interpreter manifest"))
            .ok()
            .map(Arc::new)?;
        *cache = stamp.map(|stamp| (stamp, Arc::clone(&manifest)));
        Some(manifest)
    }
}

/// The install directory must belong to whoever runs binfmtd (root, normally) and be writable
/// by nobody else.
fn check_ownership(dir: &Path) -> Result<(), InterpreterError> {
    use std::os::unix::fs::MetadataExt;
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

/// The stamp of a regular file at `path` (not following symlinks), or `None`.
fn stamp_of(path: &Path) -> Option<FileStamp> {
    let meta = fs::symlink_metadata(path).ok()?;
    meta.file_type().is_file().then(|| FileStamp::of(&meta))
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
