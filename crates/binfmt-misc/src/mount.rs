//! Finding and mounting a binfmt_misc instance: `statfs` checks, the autofs trigger, `mount(2)`.
//!
//! Nothing here opens a file under the mount; that is `fs.rs`'s job.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::mount::{MsFlags, mount};
use nix::sys::stat::{Mode, stat};
use nix::sys::statfs::{fstatfs, statfs};

use crate::error::Error;

/// `statfs` `f_type` of binfmt_misc (`BINFMTFS_MAGIC`, "BINM").
pub const BINFMTFS_MAGIC: u64 = 0x4249_4e4d;
/// `statfs` `f_type` of an autofs mount point (an untriggered systemd automount).
pub const AUTOFS_MAGIC: u64 = 0x0187;

/// Opens `root` as an `O_PATH` directory descriptor on a binfmt_misc instance.
///
/// An autofs mount point is triggered by listing it first. Errors: [`Error::NotMounted`] when the
/// path is missing or not a mount point, [`Error::NotBinfmtMisc`] when another filesystem is
/// mounted there.
pub(crate) fn open_instance(root: &Path) -> Result<OwnedFd, Error> {
    if fs_type(root)? == AUTOFS_MAGIC {
        // Listing triggers the automount; errors surface in the checks below.
        let _ = std::fs::read_dir(root).map(|mut dir| dir.next());
    }
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let fd = open(root, flags, Mode::empty()).map_err(|errno| lookup_error(errno, root))?;
    let ty = fstatfs(fd.as_fd())
        .map_err(|errno| Error::io("statfs", root, errno))?
        .filesystem_type();
    let ty = ty.0 as u64;
    if ty == BINFMTFS_MAGIC {
        Ok(fd)
    } else if is_mount_point(root)? {
        Err(Error::NotBinfmtMisc {
            path: root.to_path_buf(),
            fs_type: ty,
        })
    } else {
        Err(Error::NotMounted {
            path: root.to_path_buf(),
        })
    }
}

/// Mounts binfmt_misc at `root` (`nosuid,nodev,noexec`, as systemd does).
///
/// Errors: [`Error::Busy`] when this user namespace's instance is already mounted there,
/// [`Error::PermissionDenied`] without `CAP_SYS_ADMIN` over the mount namespace (a container
/// without `--privileged`), [`Error::Unsupported`] when the kernel has no binfmt_misc,
/// [`Error::NotMounted`] when `root` does not exist.
pub fn mount_binfmt_misc(root: &Path) -> Result<(), Error> {
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(
        Some("binfmt_misc"),
        root,
        Some("binfmt_misc"),
        flags,
        None::<&str>,
    )
    .map_err(|errno| mount_error(errno, root))
}

/// Maps an errno from `mount(2)` of binfmt_misc (kernel notes §6 and §9).
pub(crate) fn mount_error(errno: Errno, root: &Path) -> Error {
    match errno {
        Errno::EBUSY => Error::Busy {
            path: root.to_path_buf(),
        },
        Errno::EPERM | Errno::EACCES => Error::PermissionDenied {
            path: root.to_path_buf(),
            op: "mount binfmt_misc on",
        },
        Errno::ENODEV => Error::Unsupported,
        Errno::ENOENT | Errno::ENOTDIR => Error::NotMounted {
            path: root.to_path_buf(),
        },
        Errno::EROFS => Error::ReadOnly {
            path: root.to_path_buf(),
        },
        _ => Error::io("mount binfmt_misc on", root, errno),
    }
}

/// The usual name of a filesystem from its `statfs` `f_type`, for messages.
pub fn filesystem_name(fs_type: u64) -> Option<&'static str> {
    Some(match fs_type {
        0x0102_1994 => "a tmpfs",
        0x9fa0 => "procfs",
        0x6265_6572 => "sysfs",
        0x6367_7270 => "cgroup2",
        0xef53 => "an ext2/3/4 filesystem",
        0x5846_5342 => "an XFS filesystem",
        0x9123_683e => "a btrfs filesystem",
        0x794c_7630 => "an overlay filesystem",
        0x0187 => "an autofs mount point",
        0x1373 => "devtmpfs",
        _ => return None,
    })
}

fn fs_type(path: &Path) -> Result<u64, Error> {
    let st = statfs(path).map_err(|errno| lookup_error(errno, path))?;
    Ok(st.filesystem_type().0 as u64)
}

/// Whether `path` is the root of a mount: its device differs from its parent's.
fn is_mount_point(path: &Path) -> Result<bool, Error> {
    let st = stat(path).map_err(|errno| lookup_error(errno, path))?;
    let parent = stat(&path.join("..")).map_err(|errno| lookup_error(errno, path))?;
    Ok(st.st_dev != parent.st_dev || st.st_ino == parent.st_ino)
}

fn lookup_error(errno: Errno, path: &Path) -> Error {
    match errno {
        Errno::ENOENT | Errno::ENOTDIR => Error::NotMounted {
            path: path.to_path_buf(),
        },
        Errno::EACCES | Errno::EPERM => Error::PermissionDenied {
            path: path.to_path_buf(),
            op: "look up",
        },
        _ => Error::io("look up", path, errno),
    }
}
