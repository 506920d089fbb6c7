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
    #[error("cannot create a user namespace: {errno}; {hint}")]
    Unshare {
        /// The OS error (in the message, so not a `source`: printed once).
        errno: nix::Error,
        /// Why, as far as the sysctls tell (see [`diagnose::unshare`]).
        hint: String,
    },
    /// Writing the uid/gid maps failed.
    #[error("cannot write {path}: {error}{hint}")]
    IdMap {
        /// The map file.
        path: PathBuf,
        /// The OS error (in the message, so not a `source`: printed once).
        error: std::io::Error,
        /// `; <why>` when a restriction explains it, else empty.
        hint: String,
    },
    /// Mounting binfmt_misc failed (kernels before 6.7 refuse it in a user namespace).
    #[error("cannot mount a private binfmt_misc at {path}: {errno}{hint}")]
    Mount {
        /// The mount point.
        path: PathBuf,
        /// The OS error (in the message, so not a `source`: printed once).
        errno: nix::Error,
        /// `; <why>` (kernel too old, AppArmor, no binfmt_misc), else empty.
        hint: String,
    },
    /// The mount point could not be created.
    #[error(
        "cannot create the mount point {path}: {error}; pass --mount with a directory you can create"
    )]
    MountPoint {
        /// The mount point.
        path: PathBuf,
        /// The OS error (in the message, so not a `source`: printed once).
        error: std::io::Error,
    },
    /// Any other I/O failure.
    #[error("{what}: {error}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The OS error (in the message, so not a `source`: printed once).
        error: std::io::Error,
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
    let root = uid.is_root();
    unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS).map_err(|errno| {
        IsolateError::Unshare {
            errno,
            hint: diagnose::unshare(errno),
        }
    })?;
    write_proc("/proc/self/setgroups", "deny").or_else(|e| match e {
        // Kernels before 3.19 have no setgroups file.
        IsolateError::IdMap { ref error, .. } if error.kind() == std::io::ErrorKind::NotFound => {
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
    .map_err(|errno| IsolateError::Mount {
        path: "/".into(),
        errno,
        hint: diagnose::mount(errno, root),
    })?;
    std::fs::create_dir_all(mount_point).map_err(|error| IsolateError::MountPoint {
        path: mount_point.to_path_buf(),
        error,
    })?;
    mount(
        Some("binfmt_misc"),
        mount_point,
        Some("binfmt_misc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(|errno| IsolateError::Mount {
        path: mount_point.to_path_buf(),
        errno,
        hint: diagnose::mount(errno, root),
    })
}

/// Moves this (single-threaded) process, already root of a namespace from
/// [`enter_private_binfmt_misc`], into a further user namespace where it is `uid`/`gid` again (a
/// single mapping onto that root, so files it creates keep belonging to the caller). The new
/// namespace mounts no binfmt_misc of its own, so execs keep using the parent's private instance.
/// Capabilities end at the next exec: no chroot or mount from there.
pub fn enter_user_namespace_as(uid: u32, gid: u32) -> Result<(), IsolateError> {
    use nix::sched::{CloneFlags, unshare};

    unshare(CloneFlags::CLONE_NEWUSER).map_err(|errno| IsolateError::Unshare {
        errno,
        hint: diagnose::unshare(errno),
    })?;
    write_proc("/proc/self/setgroups", "deny")?;
    write_proc("/proc/self/uid_map", &format!("{uid} 0 1"))?;
    write_proc("/proc/self/gid_map", &format!("{gid} 0 1"))
}

fn write_proc(path: &str, content: &str) -> Result<(), IsolateError> {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|mut f| f.write_all(content.as_bytes()))
        .map_err(|error| IsolateError::IdMap {
            path: path.into(),
            hint: diagnose::id_map(&error),
            error,
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
        error: e.into(),
    })?;
    let mut file = std::fs::File::from(fd);
    file.write_all(image).map_err(|error| IsolateError::Io {
        what: "writing the probe",
        error,
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
        Err(error) => Err(IsolateError::Io {
            what: "executing the probe",
            error,
        }),
    }
}

/// Turning an errno from namespace set-up into the likely cause and its fix, from the sysctls
/// that restrict user namespaces.
pub mod diagnose {
    use nix::errno::Errno;

    fn sysctl(path: &str) -> Option<String> {
        std::fs::read_to_string(path)
            .ok()
            .map(|s| s.trim().to_string())
    }

    /// Why `unshare(CLONE_NEWUSER)` failed with `errno`.
    pub fn unshare(errno: Errno) -> String {
        let max = sysctl("/proc/sys/user/max_user_namespaces");
        if max.as_deref() == Some("0") {
            return "user namespaces are disabled (sysctl user.max_user_namespaces = 0 in this \
                    namespace); ask an administrator to raise it, e.g. \
                    `sysctl -w user.max_user_namespaces=15000`"
                .to_string();
        }
        if sysctl("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
            return "unprivileged user namespaces are disabled (sysctl \
                    kernel.unprivileged_userns_clone = 0); ask an administrator to run \
                    `sysctl -w kernel.unprivileged_userns_clone=1`"
                .to_string();
        }
        match errno {
            Errno::ENOSPC => format!(
                "the limit on user namespaces is reached (sysctl user.max_user_namespaces = {}, \
                 or 32 nested levels); raise the sysctl or leave some namespaces",
                max.as_deref().unwrap_or("?")
            ),
            Errno::EINVAL => "binfmtd has started threads, which the kernel forbids here; \
                              please report this bug"
                .to_string(),
            _ => "user namespaces may be disabled or restricted (sysctls \
                  user.max_user_namespaces, kernel.unprivileged_userns_clone, \
                  kernel.apparmor_restrict_unprivileged_userns, or a seccomp filter of the \
                  container binfmtd runs in)"
                .to_string(),
        }
    }

    /// `; <why>` for a failed uid/gid map write, or empty.
    pub fn id_map(err: &std::io::Error) -> String {
        if err.raw_os_error() == Some(nix::libc::EPERM) {
            apparmor().map(|a| format!("; {a}")).unwrap_or_default()
        } else {
            String::new()
        }
    }

    /// `; <why>` for a failed mount of binfmt_misc, or empty; `root` says whether the caller
    /// was root before entering the namespace (the fix differs).
    pub fn mount(errno: Errno, root: bool) -> String {
        let release = nix::sys::utsname::uname()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default();
        match errno {
            Errno::EPERM | Errno::EACCES
                if !binfmt_misc::Features::of(&release).userns_instances() =>
            {
                old_kernel(&release, root)
            }
            Errno::EPERM | Errno::EACCES => {
                apparmor().map(|a| format!("; {a}")).unwrap_or_else(|| {
                    "; a security module or the container binfmtd runs in forbids it".to_string()
                })
            }
            Errno::ENODEV => "; this kernel has no binfmt_misc (CONFIG_BINFMT_MISC): as root, \
                              `modprobe binfmt_misc`"
                .to_string(),
            _ => String::new(),
        }
    }

    /// Why a user namespace cannot have its own binfmt_misc on `release` (< 6.7), and what to do
    /// instead: as root, register in the host's instance; without root, only a newer kernel helps.
    pub fn old_kernel(release: &str, root: bool) -> String {
        let fix = if root {
            "as root, register in the host's instance with `binfmtd install` instead"
        } else {
            "without root, use a newer kernel (or ask an administrator to run `binfmtd install`)"
        };
        format!(
            "; Linux {release} is older than 6.7, the first version that gives each user \
             namespace its own binfmt_misc: {fix}"
        )
    }

    /// The AppArmor restriction on unprivileged user namespaces (Ubuntu ≥ 23.10), when active.
    fn apparmor() -> Option<String> {
        (sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref() == Some("1"))
            .then(|| {
                "AppArmor restricts unprivileged user namespaces \
                 (kernel.apparmor_restrict_unprivileged_userns = 1): give binfmtd an AppArmor \
                 profile with `userns,` or ask an administrator to set the sysctl to 0"
                    .to_string()
            })
    }
}

#[cfg(test)]
mod tests {
    use super::diagnose::old_kernel;

    #[test]
    fn an_old_kernel_gets_a_fix_that_fits_the_caller() {
        let root = old_kernel("5.10.0-32-amd64", true);
        assert!(
            root.contains("5.10.0-32-amd64") && root.contains("6.7"),
            "{root}"
        );
        assert!(
            root.contains("as root") && root.contains("binfmtd install"),
            "{root}"
        );
        let user = old_kernel("6.1.0-50-amd64", false);
        assert!(
            user.contains("without root") && user.contains("newer kernel"),
            "{user}"
        );
    }
}
