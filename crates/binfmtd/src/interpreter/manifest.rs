//! `<install dir>/manifest.json`: what was installed from where, and a cache of source digests,
//! read whole and replaced atomically.

use std::collections::BTreeMap;
use std::fs::{self, File, Metadata, Permissions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::InterpreterError;
use super::verify::{Timestamp, Verified};

/// File name of the manifest inside the install directory.
pub(super) const MANIFEST_FILE: &str = "manifest.json";

/// Format version written into the manifest; another value is treated as an empty manifest.
const FORMAT: u32 = 1;

/// The whole manifest: one record per installed interpreter name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Manifest {
    /// Always [`FORMAT`] when written by this code.
    pub(super) format: u32,
    /// Records by interpreter name (`qemu-aarch64`), sorted for stable output.
    pub(super) interpreters: BTreeMap<String, Record>,
    /// What is known about source files by their stat identity, so that an unchanged source is
    /// never read again (absent in manifests of older binfmtd versions).
    #[serde(default)]
    pub(super) digests: BTreeMap<PathBuf, Digest>,
}

impl Default for Manifest {
    fn default() -> Self {
        Self {
            format: FORMAT,
            interpreters: BTreeMap::new(),
            digests: BTreeMap::new(),
        }
    }
}

/// What binfmtd learnt about one source file, valid while its stat identity is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest {
    /// The identity it was read under.
    pub identity: Verified,
    /// SHA-256 of its content, lowercase hex (`None`: not read whole, as for a file that is
    /// linked or used in place, or a candidate that was only ranked).
    pub sha256: Option<String>,
    /// QEMU's version string, if `--version` answered.
    pub version: Option<String>,
    /// Whether it ran its target's exit(0) probe (`None`: not tried).
    #[serde(default)]
    pub runs_probe: Option<bool>,
    /// Whether `--version` was asked (so that a file that does not answer is not asked again).
    #[serde(default)]
    pub version_asked: bool,
}

impl Digest {
    /// Nothing learnt yet about the file `identity`.
    pub fn unknown(identity: Verified) -> Digest {
        Digest {
            identity,
            sha256: None,
            version: None,
            runs_probe: None,
            version_asked: false,
        }
    }
}

/// One installed interpreter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Record {
    /// The source it was copied from, with the source's stat identity at copy time.
    pub(super) source: Verified,
    /// The stat identity of the managed copy right after it was renamed into place.
    pub(super) installed: FileStamp,
    /// SHA-256 of the contents, lowercase hex, when they were read (a copy; `None` for a hard
    /// link to the source, known by its inode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) sha256: Option<String>,
    /// QEMU's version string, if `--version` answered.
    pub(super) version: Option<String>,
    /// Size in bytes.
    pub(super) size: u64,
    /// When it was copied, in seconds since the epoch.
    pub(super) installed_at: u64,
}

/// The stat fields that show whether a managed copy is still the file we wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct FileStamp {
    /// Size in bytes.
    pub(super) size: u64,
    /// Inode number.
    pub(super) ino: u64,
    /// Modification time.
    pub(super) mtime: Timestamp,
    /// Status change time.
    pub(super) ctime: Timestamp,
}

impl FileStamp {
    /// The stamp of a file's metadata.
    /// Whether `other` is the same file with the same content (ctime aside: hard links move
    /// it, see [`Verified::same_file`]).
    pub(super) fn same_file(&self, other: &FileStamp) -> bool {
        (self.size, self.ino, self.mtime) == (other.size, other.ino, other.mtime)
    }

    pub(super) fn of(meta: &Metadata) -> Self {
        Self {
            size: meta.size(),
            ino: meta.ino(),
            mtime: Timestamp::mtime(meta),
            ctime: Timestamp::ctime(meta),
        }
    }
}

/// Reads the manifest of `dir`. A missing file is an empty manifest; so is an unparsable one
/// (with a warning): every interpreter is then copied again, which is always safe.
pub(super) fn load(dir: &Path) -> Result<Manifest, InterpreterError> {
    let path = dir.join(MANIFEST_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Manifest::default()),
        Err(e) => return Err(InterpreterError::io("reading", path, e)),
    };
    match serde_json::from_str::<Manifest>(&text) {
        Ok(manifest) if manifest.format == FORMAT => Ok(manifest),
        Ok(manifest) => {
            tracing::warn!(path = %path.display(), format = manifest.format, "unknown manifest format, starting afresh");
            Ok(Manifest::default())
        }
        Err(err) => {
            tracing::warn!(path = %path.display(), %err, "unreadable manifest, starting afresh");
            Ok(Manifest::default())
        }
    }
}

/// Whether `path` is a binfmtd manifest (of any format version).
pub(super) fn is_manifest(path: &Path) -> bool {
    #[derive(Deserialize)]
    struct Probe {
        #[allow(dead_code)] // Only its presence is checked.
        format: u32,
        #[allow(dead_code)]
        interpreters: serde_json::Value,
    }
    let small = fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() < 16 << 20);
    small
        && fs::read(path)
            .ok()
            .is_some_and(|b| serde_json::from_slice::<Probe>(&b).is_ok())
}

/// Replaces the manifest of `dir` atomically: temporary file, fsync, rename, fsync of `dir`.
pub(super) fn save(dir: &Path, manifest: &Manifest) -> Result<(), InterpreterError> {
    let tmp = tempfile::Builder::new()
        .prefix(".manifest.json.")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| InterpreterError::store("creating a temporary manifest in", dir, e))?;
    let write = |file: &File| -> io::Result<()> {
        let mut out = BufWriter::new(file);
        serde_json::to_writer_pretty(&mut out, manifest)?;
        out.write_all(b"\n")?;
        out.flush()?;
        file.set_permissions(Permissions::from_mode(0o644))?;
        file.sync_all()
    };
    write(tmp.as_file()).map_err(|e| InterpreterError::store("writing the manifest in", dir, e))?;
    tmp.persist(dir.join(MANIFEST_FILE))
        .map_err(|e| InterpreterError::store("replacing the manifest in", dir, e.error))?;
    sync_dir(dir)
}

/// Makes renames in `dir` durable.
pub(super) fn sync_dir(dir: &Path) -> Result<(), InterpreterError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| InterpreterError::store("syncing", dir, e))
}
