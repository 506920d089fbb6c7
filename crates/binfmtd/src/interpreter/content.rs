//! What binfmtd knows of an interpreter's bytes without necessarily reading them.
//!
//! A file linked into the store or used where it is stays one inode, and one inode is one set of
//! bytes: the store's link *is* the source, and a kernel entry registered with `F` holds the
//! inode it opened. Reading 10 MB to learn a digest adds nothing there. A file that is *copied*
//! is read anyway, and its SHA-256 comes for free. So an interpreter's [`Content`] is its
//! [`FileId`] always, and its SHA-256 when the file was read whole; two contents are the same
//! bytes when they are the same inode or have the same digest.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;

use serde::{Deserialize, Serialize};

use super::verify::{Timestamp, Verified};

/// The stat fields that name a file's bytes while the file is unchanged: device, inode, size
/// and modification time (ctime is left out: every hard link moves it, see
/// [`Verified::same_file`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileId {
    /// Device number of the filesystem.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Size in bytes.
    pub size: u64,
    /// Modification time.
    pub mtime: Timestamp,
}

impl FileId {
    /// Whether `other` is the same inode. An inode is one file: while it exists, no other file
    /// has its number, so the same inode now *is* the same bytes. (A kernel entry registered
    /// with `F` holds its interpreter's inode open, so a recorded pin keeps naming it.)
    pub fn same_inode(&self, other: &FileId) -> bool {
        (self.dev, self.ino) == (other.dev, other.ino)
    }

    /// The identity in `meta`.
    pub fn of(meta: &Metadata) -> FileId {
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: Timestamp::mtime(meta),
        }
    }
}

impl From<&Verified> for FileId {
    fn from(v: &Verified) -> FileId {
        FileId {
            dev: v.dev,
            ino: v.ino,
            size: v.size,
            mtime: v.mtime,
        }
    }
}

/// An interpreter's bytes as binfmtd knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    /// The file they are in.
    pub file: FileId,
    /// Their SHA-256, lowercase hex, when the file was read whole (copied, or recognised after
    /// an interrupted run); `None` for a file only linked or used in place.
    pub sha256: Option<String>,
}

impl Content {
    /// Whether `self` and `other` are known to be the same bytes: the same unchanged inode, or
    /// the same digest. `false` means "not known to be": the caller then links, copies or
    /// registers again, which is always safe.
    pub fn same_bytes(&self, other: &Content) -> bool {
        self.file.same_inode(&other.file) || self.same_digest(other.sha256.as_deref())
    }

    /// Whether the digest is known and equals `sha256`.
    pub fn same_digest(&self, sha256: Option<&str>) -> bool {
        matches!((self.sha256.as_deref(), sha256), (Some(a), Some(b)) if a == b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ino: u64, sec: i64) -> FileId {
        FileId {
            dev: 1,
            ino,
            size: 10,
            mtime: Timestamp { sec, nsec: 0 },
        }
    }

    fn content(ino: u64, sec: i64, sha256: Option<&str>) -> Content {
        Content {
            file: id(ino, sec),
            sha256: sha256.map(String::from),
        }
    }

    #[test]
    fn the_same_inode_is_the_same_bytes_without_a_digest() {
        assert!(content(7, 100, None).same_bytes(&content(7, 100, None)));
        assert!(content(7, 100, Some("ab")).same_bytes(&content(7, 100, None)));
        // Touched: one file, whatever its times say.
        assert!(content(7, 100, None).same_bytes(&content(7, 101, None)));
    }

    #[test]
    fn another_inode_is_the_same_bytes_only_by_digest() {
        // A reinstall or a copy: another inode.
        assert!(!content(7, 100, None).same_bytes(&content(8, 100, None)));
        assert!(!content(7, 100, Some("ab")).same_bytes(&content(8, 100, None)));
        assert!(content(7, 100, Some("ab")).same_bytes(&content(8, 100, Some("ab"))));
        assert!(!content(7, 100, Some("ab")).same_bytes(&content(8, 100, Some("cd"))));
        // The same inode number on another filesystem.
        let mut other_fs = content(7, 100, None);
        other_fs.file.dev = 2;
        assert!(!content(7, 100, None).same_bytes(&other_fs));
    }

    #[test]
    fn an_unknown_digest_never_matches() {
        assert!(!content(7, 100, None).same_digest(None));
        assert!(!content(7, 100, Some("ab")).same_digest(None));
        assert!(content(7, 100, Some("ab")).same_digest(Some("ab")));
    }
}
