//! What binfmtd registered ("pins"): per entry, the interpreter path it wrote and the digest and
//! version of the file the kernel pinned.
//!
//! With the `F` flag the kernel keeps the interpreter file it opened at registration; the entry
//! file still shows the path, which says nothing about *which* file sits behind it after an
//! upgrade. This record (`registrations.json` in the install directory) answers that for
//! `status`, tells the engine that an entry must be re-registered because its interpreter was
//! replaced on disk since (also after a crash between the copy and the re-registration), and
//! makes configured `[[entry]]`s recognisable as binfmtd's (their interpreter is anywhere).

use serde::{Deserialize, Serialize};
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
    /// SHA-256 of the interpreter file at registration time.
    pub sha256: Option<String>,
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

    /// Whether the entry `name` pins an interpreter whose content is `sha256` (false when unknown).
    pub fn pins(&self, name: &str, sha256: &str) -> bool {
        self.entries
            .get(name)
            .and_then(|r| r.sha256.as_deref())
            .is_some_and(|s| s == sha256)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_pins() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Registrations::load(dir.path()), Registrations::default());
        let mut r = Registrations::default();
        r.entries.insert(
            "qemu-aarch64".into(),
            Registration {
                interpreter: "/var/lib/binfmtd/interpreters/qemu-aarch64".into(),
                sha256: Some("ab".into()),
                version: Some("7.2".into()),
                chosen: None,
            },
        );
        r.save(dir.path()).unwrap();
        let back = Registrations::load(dir.path());
        assert_eq!(back, r);
        assert!(back.pins("qemu-aarch64", "ab"));
        assert!(!back.pins("qemu-aarch64", "cd"));
        assert!(!back.pins("qemu-arm", "ab"));
    }

    #[test]
    fn corrupt_record_reads_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), b"{not json").unwrap();
        assert!(Registrations::load(dir.path()).entries.is_empty());
    }
}
