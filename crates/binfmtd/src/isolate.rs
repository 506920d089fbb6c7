//! Private user + mount namespaces with their own binfmt_misc instance (Linux ≥ 6.7).
//!
//! Used to probe native execution without any registered emulator in the way, and (later) by
//! `binfmtd exec` for rootless emulation. `unshare(CLONE_NEWUSER)` only works in a
//! single-threaded process, so callers run this in a freshly executed child (binfmtd's hidden
//! commands), never in a process that has started threads.

use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// `MFD_EXEC` (Linux ≥ 6.3): an executable memfd, stated explicitly so the kernel does not warn.
const MFD_EXEC: u32 = 0x0010;

/// Why a private namespace could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum IsolateError {
    /// `unshare(CLONE_NEWUSER | CLONE_NEWNS)` failed.
    #[error(
        "cannot create a user namespace: {0}; user namespaces may be disabled \
         (sysctl user.max_user_namespaces, kernel.unprivileged_userns_clone, or an AppArmor \
         restriction such as kernel.apparmor_restrict_unprivileged_userns)"
    )]
    Unshare(#[source] nix::Error),
    /// Writing the uid/gid maps failed.
    #[error("cannot write {path}: {source}")]
    IdMap {
        /// The map file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Mounting binfmt_misc failed (kernels before 6.7 refuse it in a user namespace).
    #[error(
        "cannot mount a private binfmt_misc at {path}: {source}; this needs Linux >= 6.7 \
         (per-user-namespace binfmt_misc)"
    )]
    Mount {
        /// The mount point.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: nix::Error,
    },
    /// Any other I/O failure.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Moves this (single-threaded) process into a new user and mount namespace, maps its uid/gid to
/// root there, and mounts a fresh, empty binfmt_misc instance at `mount_point` (created if
/// missing). Every exec from then on sees only the entries registered there.
pub fn enter_private_binfmt_misc(mount_point: &Path) -> Result<(), IsolateError> {
    use nix::mount::{MsFlags, mount};
    use nix::sched::{CloneFlags, unshare};

    let uid = nix::unistd::geteuid();
    let gid = nix::unistd::getegid();
    unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS).map_err(IsolateError::Unshare)?;
    write_proc("/proc/self/setgroups", "deny").or_else(|e| match e {
        // Kernels before 3.19 have no setgroups file.
        IsolateError::IdMap { ref source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(())
        }
        other => Err(other),
    })?;
    write_proc("/proc/self/uid_map", &format!("0 {uid} 1"))?;
    write_proc("/proc/self/gid_map", &format!("0 {gid} 1"))?;
    // Nothing mounted here may propagate anywhere.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|source| IsolateError::Mount {
        path: "/".into(),
        source,
    })?;
    std::fs::create_dir_all(mount_point).map_err(|source| IsolateError::Io {
        what: "creating the mount point",
        source,
    })?;
    mount(
        Some("binfmt_misc"),
        mount_point,
        Some("binfmt_misc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(|source| IsolateError::Mount {
        path: mount_point.to_path_buf(),
        source,
    })
}

fn write_proc(path: &str, content: &str) -> Result<(), IsolateError> {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|mut f| f.write_all(content.as_bytes()))
        .map_err(|source| IsolateError::IdMap {
            path: path.into(),
            source,
        })
}

/// Executes an in-memory ELF image and reports whether it ran and exited 0 (`Ok(false)` when
/// the kernel refused it with ENOEXEC or it died or failed).
pub fn run_elf(image: &[u8]) -> Result<bool, IsolateError> {
    use nix::sys::memfd::{MFdFlags, memfd_create};

    let fd = memfd_create(
        "binfmtd-probe",
        MFdFlags::MFD_CLOEXEC | MFdFlags::from_bits_retain(MFD_EXEC),
    )
    .or_else(|_| memfd_create("binfmtd-probe", MFdFlags::MFD_CLOEXEC))
    .map_err(|e| IsolateError::Io {
        what: "creating an in-memory probe",
        source: e.into(),
    })?;
    let mut file = std::fs::File::from(fd);
    file.write_all(image).map_err(|source| IsolateError::Io {
        what: "writing the probe",
        source,
    })?;
    // The path is resolved by execve before close-on-exec descriptors are closed.
    let path = format!("/proc/self/fd/{}", file.as_raw_fd());
    match std::process::Command::new(path)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
    {
        Ok(status) => Ok(status.success()),
        Err(e) if e.raw_os_error() == Some(nix::libc::ENOEXEC) => Ok(false),
        Err(source) => Err(IsolateError::Io {
            what: "executing the probe",
            source,
        }),
    }
}
