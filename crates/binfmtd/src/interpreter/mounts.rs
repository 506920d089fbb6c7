//! Which mount a path is on. A hard link works only within one mount: link(2) fails with `EXDEV`
//! across two mounts of one filesystem, as between a hardened service's read-only view of `/usr`
//! (`ProtectSystem=strict`) and its writable state directory. So "the same device" does not say
//! that the store can link a source; "the same mount" does.

use std::path::{Path, PathBuf};

/// The mount points of this process's mount namespace, in `/proc/self/mountinfo` order (a later
/// mount on the same point is on top).
#[derive(Debug, Clone, Default)]
pub struct Mounts {
    points: Vec<(PathBuf, i32)>,
}

impl Mounts {
    /// Reads `/proc/self/mountinfo`; `None` when it cannot be read.
    pub fn read() -> Option<Mounts> {
        let infos = procfs::process::Process::myself().ok()?.mountinfo().ok()?;
        Some(Mounts::from_points(
            infos.into_iter().map(|m| (m.mount_point, m.mnt_id)),
        ))
    }

    /// Mounts from (mount point, mount id) pairs in mountinfo order.
    pub fn from_points(points: impl IntoIterator<Item = (PathBuf, i32)>) -> Mounts {
        Mounts {
            points: points.into_iter().collect(),
        }
    }

    /// The id of the mount that holds the canonical `path`: the deepest mount point above it,
    /// the topmost of several on that point.
    pub fn mount_of(&self, path: &Path) -> Option<i32> {
        self.points
            .iter()
            .enumerate()
            .filter(|(_, (point, _))| path.starts_with(point))
            .max_by_key(|(i, (point, _))| (point.components().count(), *i))
            .map(|(_, (_, id))| *id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mounts() -> Mounts {
        Mounts::from_points([
            ("/".into(), 1),
            ("/var/lib/binfmtd".into(), 2),
            ("/usr".into(), 3),
            ("/usr".into(), 4),
            ("/usrx".into(), 5),
        ])
    }

    #[test]
    fn the_deepest_mount_point_holds_a_path() {
        let m = mounts();
        assert_eq!(
            m.mount_of(Path::new("/var/lib/binfmtd/interpreters")),
            Some(2)
        );
        assert_eq!(m.mount_of(Path::new("/var/lib/other")), Some(1));
        assert_eq!(m.mount_of(Path::new("/")), Some(1));
    }

    #[test]
    fn the_topmost_of_stacked_mounts_and_whole_components_only() {
        let m = mounts();
        assert_eq!(
            m.mount_of(Path::new("/usr/bin/qemu-aarch64-static")),
            Some(4)
        );
        assert_eq!(m.mount_of(Path::new("/usrx/bin/qemu")), Some(5));
        assert_eq!(m.mount_of(Path::new("/usrbin/qemu")), Some(1));
    }

    #[test]
    fn nothing_is_known_without_mounts() {
        assert_eq!(Mounts::default().mount_of(Path::new("/usr")), None);
    }

    #[test]
    fn this_process_sees_its_root() {
        let m = Mounts::read().expect("/proc/self/mountinfo");
        assert!(m.mount_of(Path::new("/")).is_some());
    }
}
