//! What binfmtd registered ("pins"): per entry, the interpreter path it wrote and the identity,
//! digest (when known) and version of the file the kernel pinned.
//!
//! With the `F` flag the kernel keeps the interpreter file it opened at registration; the entry
//! file still shows the path, which says nothing about *which* file sits behind it after an
//! upgrade. This record (`registrations.json` in the install directory) answers that for
//! `status`, tells the engine that an entry must be re-registered because its interpreter was
//! replaced on disk since (also after a crash between the copy and the re-registration), and
//! makes configured `[[entry]]`s recognisable as binfmtd's (their interpreter is anywhere).

use serde::{Deserialize, Serialize};

use crate::interpreter::{Content, FileId};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The file name inside the install directory.
pub const FILE: &str = "registrations.json";

/// One registration binfmtd made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// The interpreter path written into the entry.
    pub interpreter: PathBuf,
    /// SHA-256 of the interpreter file at registration time, when it was read (a copy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The file the kernel opened at registration (the interpreter path, stat'ed right after
    /// registering it): with `F` the kernel holds this inode open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileId>,
    /// Its QEMU version.
    pub version: Option<String>,
    /// Why this interpreter was chosen, as `install` reported it (`configured …`, `the newest of
    /// several candidates; not chosen: …`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chosen: Option<String>,
}

/// The record, keyed by entry name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registrations {
    /// Entry name → what was registered.
    pub entries: BTreeMap<String, Registration>,
    /// The `/etc/binfmt.d` masks binfmtd made (file names), so that it removes only its own.
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub masks: std::collections::BTreeSet<String>,
}

impl Registrations {
    /// Reads the record in `dir`; a missing or unreadable one is empty (every entry then counts
    /// as unknown, and `install` re-registers ours once).
    pub fn load(dir: &Path) -> Registrations {
        std::fs::read(dir.join(FILE))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    /// Writes the record atomically (temporary file, fsync, rename).
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        let mut tmp = tempfile::Builder::new()
            .prefix(".registrations.json.")
            .suffix(".tmp")
            .tempfile_in(dir)?;
        serde_json::to_writer_pretty(&mut tmp, self).map_err(std::io::Error::other)?;
        tmp.write_all(b"\n")?;
        tmp.as_file().sync_all()?;
        tmp.persist(dir.join(FILE)).map_err(|e| e.error)?;
        Ok(())
    }

    /// Whether the entry `name` is known to pin an interpreter with the bytes `content`: the
    /// kernel holds the very inode (it keeps the file open), or the digests are equal; false
    /// when unknown.
    pub fn pins(&self, name: &str, content: &Content) -> bool {
        self.entries.get(name).is_some_and(|r| {
            r.file.is_some_and(|f| f.same_inode(&content.file))
                || content.same_digest(r.sha256.as_deref())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(ino: u64, sha256: Option<&str>) -> Content {
        Content {
            file: FileId {
                dev: 1,
                ino,
                size: 10,
                mtime: crate::interpreter::Timestamp { sec: 5, nsec: 0 },
            },
            sha256: sha256.map(String::from),
        }
    }

    fn registration(file: Option<FileId>, sha256: Option<&str>) -> Registration {
        Registration {
            interpreter: "/var/lib/binfmtd/interpreters/qemu-aarch64".into(),
            sha256: sha256.map(String::from),
            file,
            version: Some("7.2".into()),
            chosen: None,
        }
    }

    #[test]
    fn round_trip_and_pins() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Registrations::load(dir.path()), Registrations::default());
        let mut r = Registrations::default();
        let copied = content(7, Some("ab"));
        r.entries.insert(
            "qemu-aarch64".into(),
            registration(Some(copied.file), copied.sha256.as_deref()),
        );
        let linked = content(8, None);
        r.entries
            .insert("qemu-arm".into(), registration(Some(linked.file), None));
        r.save(dir.path()).unwrap();
        let back = Registrations::load(dir.path());
        assert_eq!(back, r);
        // By digest (another inode, the same bytes) or by the unchanged file.
        assert!(back.pins("qemu-aarch64", &content(9, Some("ab"))));
        assert!(back.pins("qemu-aarch64", &content(7, None)));
        assert!(!back.pins("qemu-aarch64", &content(9, Some("cd"))));
        assert!(back.pins("qemu-arm", &content(8, None)));
        // A linked file replaced (a new inode, not read): not known to be pinned.
        assert!(!back.pins("qemu-arm", &content(9, None)));
        assert!(!back.pins("qemu-riscv64", &content(7, Some("ab"))));
    }

    #[test]
    fn a_record_of_an_older_binfmtd_pins_by_digest() {
        let dir = tempfile::tempdir().unwrap();
        let old =
            r#"{"entries":{"qemu-aarch64":{"interpreter":"/x","sha256":"ab","version":null}}}"#;
        std::fs::write(dir.path().join(FILE), old).unwrap();
        let r = Registrations::load(dir.path());
        assert!(r.pins("qemu-aarch64", &content(7, Some("ab"))));
        assert!(!r.pins("qemu-aarch64", &content(7, None)));
    }

    #[test]
    fn corrupt_record_reads_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), b"{not json").unwrap();
        assert!(Registrations::load(dir.path()).entries.is_empty());
    }
}
