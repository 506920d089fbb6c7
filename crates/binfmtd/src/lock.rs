//! One binfmtd at a time: concurrent invocations serialize on an exclusive `flock(2)` on a file in
//! the install directory, held for the whole command, so their writes never interleave.

use anyhow::{Context, Result};
use nix::fcntl::{Flock, FlockArg};
use std::fs::File;
use std::path::Path;

/// The lock file's name inside the install directory.
pub const LOCK_FILE: &str = ".binfmtd.lock";

/// A held lock; released when dropped.
#[derive(Debug)]
pub struct Lock {
    _flock: Flock<File>,
}

impl Lock {
    /// Waits for and takes the lock in `dir` (which must exist).
    pub fn acquire(dir: &Path) -> Result<Lock> {
        let path = dir.join(LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening the lock file {}", path.display()))?;
        let flock = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, errno)| errno)
            .with_context(|| format!("locking {}", path.display()))?;
        Ok(Lock { _flock: flock })
    }
}
