//! Whether registrations made now will still be there when binfmtd exits, and where they are seen.
//!
//! On Linux ≥ 6.7 a binfmt_misc instance (one per user namespace) is freed with its last mount:
//! a `docker run --privileged` container that mounts binfmt_misc itself, on a host where it is
//! not mounted (or is an untriggered automount), registers into an instance that dies with the
//! container. Every tool so far then reports success (tonistiigi/binfmt#360,
//! awslabs/amazon-eks-ami#2789). binfmtd detects it:
//!
//! 1. the mount is *fresh*: binfmtd mounted it, and the instance's root directory and `status`
//!    file were created by that mount (their ctime is not older than the `mount(2)` call; an
//!    instance that existed before keeps its creation time);
//! 2. and nothing else holds it: no other process shares this mount namespace (a container
//!    whose only process is binfmtd, or its `--init`).
//!
//! The fix, when PID 1 is in another mount namespace (`docker run --pid=host`): enter PID 1's
//! mount namespace with `setns(2)`, mount binfmt_misc at its usual place there (or trigger the
//! automount), and come back. The entries then live in the host's mount. Otherwise `install`
//! fails before registering anything, naming both fixes.

use anyhow::{Context as _, Result, bail};
use binfmt_misc::BinfmtMisc;
use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::cli::{Cli, Command};
use crate::commands::Context;

/// The kernel stamps new inodes with the coarse clock, which may lag the fine clock by a tick.
const CLOCK_SLACK: Duration = Duration::from_millis(100);

/// What the command about to run needs from the mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Nothing: the command opens the mount itself, or does not use it.
    Nothing,
    /// Mount binfmt_misc if needed and warn if what is seen would vanish (the JSON status).
    Look,
    /// Mount it, and make sure registrations outlive this process, or fail (install).
    Keep,
    /// As `Keep`, but only warn when that fails: `install --persist` also sets up the service,
    /// which registers again at boot.
    Persist,
}

impl Need {
    /// The need of a parsed command line: tonistiigi's `--install` and `install` keep, the
    /// no-argument status looks; `plan`, `status`, `daemon`, `exec` and the rest need nothing.
    pub fn for_cli(cli: &Cli) -> Need {
        match &cli.command {
            None if cli.install.is_some() => Need::Keep,
            None => Need::Look,
            Some(Command::Install(t)) if t.persist.is_some() => Need::Persist,
            Some(Command::Install(_)) => Need::Keep,
            Some(_) => Need::Nothing,
        }
    }
}

/// How the registrations binfmtd makes through its mount relate to the rest of the system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    /// The instance existed before binfmtd looked: someone else (the host's mount) holds it.
    Existing,
    /// binfmtd created the instance, and other processes in this mount namespace keep it alive.
    Shared,
    /// binfmtd created the instance and mounted it in PID 1's mount namespace too, at `path`.
    MountedInHost {
        /// Where, in PID 1's mount namespace.
        path: PathBuf,
    },
    /// binfmtd created the instance and it dies with this process: the message says why and how
    /// to fix it.
    Vanishing {
        /// One line: what happens and the fixes.
        why: String,
    },
}

/// An opened (maybe mounted) binfmt_misc and what is known about its lifetime.
#[derive(Debug)]
pub struct Attached {
    /// The handle; its `O_PATH` descriptor keeps the instance alive while binfmtd runs.
    pub fs: BinfmtMisc,
    /// See [`Visibility`].
    pub visibility: Visibility,
}

/// Prepares the mount for the command (see [`Need`]); fails for [`Need::Keep`] when the entries
/// would vanish. Returns `None` for [`Need::Nothing`].
pub fn guard(ctx: &Context, need: Need) -> Result<Option<Attached>> {
    if need == Need::Nothing {
        return Ok(None);
    }
    let attached = attach(&ctx.mount, matches!(need, Need::Keep | Need::Persist))?;
    match (&attached.visibility, need) {
        (Visibility::Vanishing { why }, Need::Keep) => bail!("{why}"),
        (Visibility::Vanishing { why }, _) => tracing::warn!("{why}"),
        (Visibility::MountedInHost { path }, _) => tracing::warn!(
            "binfmt_misc was not mounted in the host's mount namespace: mounted it at {} \
             there (through PID 1) so the entries outlive this container",
            path.display()
        ),
        _ => {}
    }
    Ok(Some(attached))
}

/// Opens or mounts binfmt_misc at `mount` and finds out whether its entries outlive binfmtd;
/// with `fix`, tries to make them (through PID 1's mount namespace).
pub fn attach(mount: &Path, fix: bool) -> Result<Attached> {
    let before = SystemTime::now();
    let (fs, mounted) = BinfmtMisc::open_or_mount(mount).map_err(anyhow::Error::new)?;
    if !mounted || !created_since(mount, before) {
        return Ok(Attached {
            fs,
            visibility: Visibility::Existing,
        });
    }
    if others_share_mount_namespace() {
        return Ok(Attached {
            fs,
            visibility: Visibility::Shared,
        });
    }
    let visibility = if fix && pid1_elsewhere() {
        match mount_in_pid1_namespace(&fs) {
            Ok(path) => Visibility::MountedInHost { path },
            Err(e) => vanishing(mount, Some(&format!("{e:#}"))),
        }
    } else {
        vanishing(mount, None)
    };
    Ok(Attached { fs, visibility })
}

fn vanishing(mount: &Path, failed_fix: Option<&str>) -> Visibility {
    let attempt = failed_fix
        .map(|e| format!(" (mounting it through PID 1 failed: {e})"))
        .unwrap_or_default();
    Visibility::Vanishing {
        why: format!(
            "binfmt_misc is not mounted on the host: binfmtd mounted a new instance at {} that \
             disappears with this container, taking every entry with it{attempt}; mount it on \
             the host first (`mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc`, or \
             `ls /proc/sys/fs/binfmt_misc` to trigger systemd's automount), or run the \
             container with --pid=host so binfmtd can mount it there",
            mount.display()
        ),
    }
}

/// For a daemon that had to mount binfmt_misc itself: when it runs in a private mount namespace
/// (a hardened systemd unit: `ProtectSystem=`, `PrivateTmp=`, ...), mounts the same instance in
/// PID 1's mount namespace too, so the rest of the system sees the entries and they outlive the
/// daemon. `None` when binfmtd shares PID 1's mount namespace (its own mount is the host's).
pub fn share_with_pid1(fs: &BinfmtMisc) -> Option<Result<PathBuf>> {
    pid1_elsewhere().then(|| mount_in_pid1_namespace(fs))
}

/// Whether the instance mounted at `mount` was created at or after `since`: its root directory
/// and `status` file are stamped when the instance is created (and only `status` writes or
/// entry removals move them later).
fn created_since(mount: &Path, since: SystemTime) -> bool {
    let threshold = since.checked_sub(CLOCK_SLACK).unwrap_or(since);
    [mount.to_path_buf(), mount.join("status")]
        .iter()
        .all(|p| ctime(p).is_some_and(|t| t >= threshold))
}

fn ctime(path: &Path) -> Option<SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    let secs = u64::try_from(meta.ctime()).ok()?;
    let nanos = u32::try_from(meta.ctime_nsec()).ok()?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
}

/// Whether a process other than this one (and a PID 1 that is its parent, an init such as
/// `docker run --init`'s) is in this mount namespace: it keeps the mount alive after we exit.
fn others_share_mount_namespace() -> bool {
    let Ok(ours) = std::fs::read_link("/proc/self/ns/mnt") else {
        return true;
    };
    let me = std::process::id();
    let parent = nix::unistd::getppid().as_raw();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return true;
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me && !(pid == 1 && parent == 1))
        .any(|pid| std::fs::read_link(format!("/proc/{pid}/ns/mnt")).is_ok_and(|ns| ns == ours))
}

/// Whether PID 1 (of this PID namespace) is in another mount namespace than ours.
fn pid1_elsewhere() -> bool {
    match (
        std::fs::read_link("/proc/1/ns/mnt"),
        std::fs::read_link("/proc/self/ns/mnt"),
    ) {
        (Ok(theirs), Ok(ours)) => theirs != ours,
        _ => false,
    }
}

/// Enters PID 1's mount namespace, makes sure binfmt_misc is mounted at its usual place there,
/// checks it is the same instance as `ours`, and comes back.
fn mount_in_pid1_namespace(ours: &BinfmtMisc) -> Result<PathBuf> {
    use nix::sched::{CloneFlags, setns};
    let path = PathBuf::from(binfmt_misc::DEFAULT_MOUNT);
    let home = File::open("/proc/self/ns/mnt").context("opening /proc/self/ns/mnt")?;
    let host = File::open("/proc/1/ns/mnt").context("opening /proc/1/ns/mnt")?;
    let cwd = std::env::current_dir().context("reading the current directory")?;
    setns(host.as_fd(), CloneFlags::CLONE_NEWNS)
        .context("entering PID 1's mount namespace (setns)")?;
    let there = BinfmtMisc::open_or_mount(&path).map_err(anyhow::Error::new);
    let same = there
        .as_ref()
        .map(|(fs, _)| same_instance(fs, ours))
        .unwrap_or(false);
    // Coming back must not fail silently: every later path would resolve on the host.
    if let Err(e) = setns(home.as_fd(), CloneFlags::CLONE_NEWNS) {
        eprintln!("error: cannot return to binfmtd's own mount namespace: {e}");
        std::process::abort();
    }
    std::env::set_current_dir(&cwd).context("restoring the current directory")?;
    there?;
    if !same {
        bail!(
            "the binfmt_misc at {} in PID 1's mount namespace is another instance (another \
             user namespace)",
            path.display()
        );
    }
    Ok(path)
}

/// Whether two handles show the same binfmt_misc instance (same superblock device).
fn same_instance(a: &BinfmtMisc, b: &BinfmtMisc) -> bool {
    let dev = |fs: &BinfmtMisc| std::fs::metadata(fs.root()).map(|m| m.dev()).ok();
    dev(a).is_some() && dev(a) == dev(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn need(args: &[&str]) -> Need {
        let argv = std::iter::once("binfmtd").chain(args.iter().copied());
        Need::for_cli(&Cli::try_parse_from(argv).expect("valid command line"))
    }

    #[test]
    fn install_keeps_status_looks_the_rest_need_nothing() {
        assert_eq!(need(&["--install", "all"]), Need::Keep);
        assert_eq!(need(&["install", "arm64"]), Need::Keep);
        assert_eq!(need(&["install", "--persist", "arm64"]), Need::Persist);
        assert_eq!(need(&[]), Need::Look);
        assert_eq!(need(&["--uninstall", "qemu-*"]), Need::Look);
        assert_eq!(need(&["plan"]), Need::Nothing);
        assert_eq!(need(&["status", "--json"]), Need::Nothing);
        assert_eq!(need(&["daemon"]), Need::Nothing);
        assert_eq!(
            need(&["check", "arm64"]),
            Need::Nothing,
            "check never mounts"
        );
    }

    #[test]
    fn a_missing_mount_is_never_fresh() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(!created_since(&dir.path().join("nope"), SystemTime::now()));
    }

    #[test]
    fn the_vanishing_message_names_both_fixes() {
        let Visibility::Vanishing { why } = vanishing(Path::new("/proc/sys/fs/binfmt_misc"), None)
        else {
            panic!("not vanishing");
        };
        assert!(why.contains("--pid=host") && why.contains("mount -t binfmt_misc"));
        assert!(!why.contains('\n'));
    }
}
