//! [`BinfmtMisc`]: the only code that opens files under a binfmt_misc mount.
//!
//! Every operation goes through an `O_PATH` descriptor on the mount's root directory, taken when
//! the handle is opened. It pins the instance (an unmount then fails with EBUSY and cannot wipe
//! the entries, kernel notes §6), and later operations reach the same instance even if something
//! else is mounted over the path.

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{AtFlags, Flock, FlockArg, OFlag, openat};
use nix::sys::stat::{Mode, fstat, fstatat};

use crate::encode::encode;
use crate::entry::parse_entry;
use crate::error::{Error, control_error, register_error};
use crate::mount::{mount_binfmt_misc, open_instance};
use crate::order::{EntryInfo, RecentRegistrations, RegistrationStamp};
use crate::rule::{Rule, validate_name};

/// Where binfmt_misc is mounted on a normal system.
pub const DEFAULT_MOUNT: &str = "/proc/sys/fs/binfmt_misc";

/// A lock on an instance ([`BinfmtMisc::lock_writers`], [`BinfmtMisc::lock_manager`]),
/// released when dropped.
#[derive(Debug)]
pub struct InstanceLock {
    _lock: Flock<OwnedFd>,
}

/// An open binfmt_misc instance.
#[derive(Debug)]
pub struct BinfmtMisc {
    root: PathBuf,
    dir: OwnedFd,
    recent: RecentRegistrations,
}

impl BinfmtMisc {
    /// Opens the binfmt_misc mounted at `root` (an untriggered autofs mount point is triggered).
    ///
    /// Errors: [`Error::NotMounted`], [`Error::NotBinfmtMisc`], [`Error::PermissionDenied`].
    pub fn open(root: &Path) -> Result<Self, Error> {
        let dir = open_instance(root)?;
        Ok(BinfmtMisc {
            root: root.to_path_buf(),
            dir,
            recent: RecentRegistrations::default(),
        })
    }

    /// Opens the binfmt_misc at `root`, mounting it first if nothing is mounted there; the `bool`
    /// says whether this call mounted it. A concurrent mount (EBUSY) is fine: the existing mount is
    /// opened. Another filesystem mounted at `root` is an error, never mounted over.
    pub fn open_or_mount(root: &Path) -> Result<(Self, bool), Error> {
        match Self::open(root) {
            Err(Error::NotMounted { .. }) => match mount_binfmt_misc(root) {
                Ok(()) => Ok((Self::open(root)?, true)),
                Err(Error::Busy { .. }) => Ok((Self::open(root)?, false)),
                Err(e) => Err(e),
            },
            other => other.map(|fs| (fs, false)),
        }
    }

    /// The mount point this handle was opened at.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Every entry (not `register` or `status`), parsed, oldest registration first (see
    /// [`RegistrationStamp`] for how reliable that order is). Entries removed while listing are
    /// skipped; names that are not UTF-8 are converted lossily.
    pub fn entries(&self) -> Result<Vec<EntryInfo>, Error> {
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let mut dir = Dir::openat(self.dir.as_fd(), ".", flags, Mode::empty())
            .map_err(|errno| control_error(errno, &self.root, "list"))?;
        let mut names = Vec::new();
        for item in dir.iter() {
            let item = item.map_err(|errno| control_error(errno, &self.root, "list"))?;
            let name = String::from_utf8_lossy(item.file_name().to_bytes()).into_owned();
            if !matches!(name.as_str(), "." | ".." | "register" | "status") {
                names.push(name);
            }
        }
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            if let Some(info) = self.read_entry(&name)? {
                out.push(info);
            }
        }
        out.sort_by_key(|info| info.registered);
        Ok(out)
    }

    /// The entry called `name`, if it exists. `name` must be a valid entry name
    /// ([`Error::Rule`] otherwise, so `status` can never be read as an entry).
    pub fn entry(&self, name: &str) -> Result<Option<EntryInfo>, Error> {
        validate_name(name)?;
        self.read_entry(name)
    }

    /// Registers `rule`: [`encode`]s it (nothing is written if that fails), then writes the line
    /// to `<root>/register` in one `write(2)`.
    ///
    /// If this handle registered an overlapping rule in the current clock tick and that entry
    /// still exists, it first waits for the tick to end (at most a few milliseconds), so that the
    /// two entries' ctimes tell their order (see [`RegistrationStamp`]).
    pub fn register(&self, rule: &Rule) -> Result<(), Error> {
        let line = encode(rule)?;
        self.recent.wait_before(&rule.matcher, |name, inode| {
            fstatat(self.dir.as_fd(), name, AtFlags::empty()).is_ok_and(|st| st.st_ino == inode)
        });
        let register = self.root.join("register");
        let fd = self
            .open_at("register", OFlag::O_WRONLY)
            .map_err(|errno| control_error(errno, &register, "open for writing"))?;
        match nix::unistd::write(&fd, &line) {
            Ok(n) if n == line.len() => {}
            Ok(_) => {
                return Err(Error::io(
                    "write a whole registration to",
                    &register,
                    Errno::EIO,
                ));
            }
            Err(errno) => {
                let kernel = crate::kernel::Features::running();
                return Err(register_error(errno, rule, &line, &kernel, &register));
            }
        }
        if let Ok(st) = fstatat(self.dir.as_fd(), rule.name.as_str(), AtFlags::empty()) {
            self.recent
                .record(RegistrationStamp::from_stat(&st), &rule.name, &rule.matcher);
        }
        Ok(())
    }

    /// Removes the entry `name` (writes `-1` to it).
    pub fn remove(&self, name: &str) -> Result<(), Error> {
        self.write_entry(name, b"-1", "remove")
    }

    /// Enables the entry `name` (writes `1`).
    pub fn enable(&self, name: &str) -> Result<(), Error> {
        self.write_entry(name, b"1", "enable")
    }

    /// Disables the entry `name` (writes `0`): the kernel skips it, older matching entries apply.
    pub fn disable(&self, name: &str) -> Result<(), Error> {
        self.write_entry(name, b"0", "disable")
    }

    /// Takes the instance's writer lock, waiting for it: an exclusive `flock(2)` on the root
    /// directory, held as long as the returned guard lives. Every mount of an instance shows the
    /// same root inode, so concurrent writers of one instance serialize, across mount namespaces,
    /// while writers of different instances (sandboxes) do not.
    pub fn lock_writers(&self) -> Result<InstanceLock, Error> {
        self.lock(
            ".",
            OFlag::O_RDONLY | OFlag::O_DIRECTORY,
            FlockArg::LockExclusive,
        )?
        .ok_or_else(|| Error::io("lock", &self.root, Errno::EWOULDBLOCK))
    }

    /// Takes the instance's manager lock without waiting: an exclusive `flock(2)` on its `status`
    /// file (opened read-only: nothing is written), held by a daemon for its whole life.
    /// `Ok(None)`: another process holds it (another daemon manages this instance).
    pub fn lock_manager(&self) -> Result<Option<InstanceLock>, Error> {
        self.lock("status", OFlag::O_RDONLY, FlockArg::LockExclusiveNonblock)
    }

    /// Whether some process holds the manager lock (a daemon manages this instance).
    pub fn has_manager(&self) -> bool {
        self.lock_manager().is_ok_and(|held| held.is_none())
    }

    fn lock(&self, name: &str, flags: OFlag, how: FlockArg) -> Result<Option<InstanceLock>, Error> {
        let path = self.root.join(name);
        let fd = self
            .open_at(name, flags)
            .map_err(|errno| control_error(errno, &path, "open"))?;
        match Flock::lock(fd, how) {
            Ok(lock) => Ok(Some(InstanceLock { _lock: lock })),
            Err((_, Errno::EWOULDBLOCK)) => Ok(None),
            Err((_, errno)) => Err(Error::io("lock", &path, errno)),
        }
    }

    /// Whether the whole instance is enabled (`status` reads `enabled`).
    pub fn is_enabled(&self) -> Result<bool, Error> {
        let path = self.root.join("status");
        let fd = self
            .open_at("status", OFlag::O_RDONLY)
            .map_err(|errno| control_error(errno, &path, "open"))?;
        let mut text = String::new();
        std::fs::File::from(fd)
            .read_to_string(&mut text)
            .map_err(|source| Error::Io {
                op: "read",
                path: path.clone(),
                source,
            })?;
        match text.trim_end() {
            "enabled" => Ok(true),
            "disabled" => Ok(false),
            other => Err(Error::Io {
                op: "understand",
                path,
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("unexpected status {other:?}"),
                ),
            }),
        }
    }

    fn read_entry(&self, name: &str) -> Result<Option<EntryInfo>, Error> {
        let path = self.root.join(name);
        let fd = match self.open_at(name, OFlag::O_RDONLY) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Ok(None),
            Err(errno) => return Err(control_error(errno, &path, "open")),
        };
        let st = fstat(&fd).map_err(|errno| Error::io("stat", &path, errno))?;
        let mut content = Vec::new();
        std::fs::File::from(fd)
            .read_to_end(&mut content)
            .map_err(|source| Error::Io {
                op: "read",
                path: path.clone(),
                source,
            })?;
        let entry = parse_entry(name, &content).map_err(|source| Error::Parse { path, source })?;
        Ok(Some(EntryInfo {
            entry,
            registered: RegistrationStamp::from_stat(&st),
        }))
    }

    fn write_entry(&self, name: &str, value: &[u8], op: &'static str) -> Result<(), Error> {
        validate_name(name)?;
        let path = self.root.join(name);
        let fd = match self.open_at(name, OFlag::O_WRONLY) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => {
                return Err(Error::NotFound {
                    name: name.to_string(),
                });
            }
            Err(errno) => return Err(control_error(errno, &path, op)),
        };
        nix::unistd::write(&fd, value).map_err(|errno| control_error(errno, &path, op))?;
        Ok(())
    }

    fn open_at(&self, name: &str, flags: OFlag) -> Result<OwnedFd, Errno> {
        openat(
            self.dir.as_fd(),
            name,
            flags | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
    }
}
