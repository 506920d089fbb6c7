//! Finding, mounting and pinning the instance; wrong filesystems; read-only mounts.

use std::path::Path;

use binfmt_misc::{BinfmtMisc, Error, ErrorKind, mount_binfmt_misc};
use nix::errno::Errno;
use nix::mount::{MsFlags, mount, umount};

use crate::{aarch64, open, qemu_aarch64};

/// `statfs` `f_type` of tmpfs.
const TMPFS_MAGIC: u64 = 0x0102_1994;

binfmtd_tests::sandbox_test! {
    fn not_mounted_and_not_binfmt_misc(mnt: &Path) {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        std::fs::create_dir(&plain).unwrap();
        let err = BinfmtMisc::open(&plain).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotMounted);
        assert!(err.to_string().contains("mount -t binfmt_misc binfmt_misc"), "{err}");
        assert_eq!(BinfmtMisc::open(&dir.path().join("missing")).unwrap_err().kind(), ErrorKind::NotMounted);

        let tmpfs = dir.path().join("tmpfs");
        std::fs::create_dir(&tmpfs).unwrap();
        mount(Some("tmpfs"), &tmpfs, Some("tmpfs"), MsFlags::empty(), None::<&str>).unwrap();
        for err in [BinfmtMisc::open(&tmpfs).unwrap_err(), BinfmtMisc::open_or_mount(&tmpfs).unwrap_err()] {
            assert!(matches!(err, Error::NotBinfmtMisc { fs_type: TMPFS_MAGIC, .. }), "{err}");
            assert!(err.to_string().contains("0x1021994"), "{err}");
        }
        // open_or_mount never mounts over another filesystem.
        assert!(!tmpfs.join("register").exists());
        assert!(BinfmtMisc::open(mnt).is_ok());
    }
}

binfmtd_tests::sandbox_test! {
    /// open_or_mount mounts on an empty directory (the same instance: entries are shared), then
    /// reuses the mount; mounting over it again is EBUSY.
    fn open_or_mount_and_ebusy(mnt: &Path) {
        open(mnt).register(&aarch64("shared", &qemu_aarch64(), "")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let second = dir.path().join("second");
        std::fs::create_dir(&second).unwrap();
        let (fs, mounted) = BinfmtMisc::open_or_mount(&second).unwrap();
        assert!(mounted);
        assert!(fs.entry("shared").unwrap().is_some(), "one instance per user namespace");
        let (_again, mounted) = BinfmtMisc::open_or_mount(&second).unwrap();
        assert!(!mounted);
        let err = mount_binfmt_misc(&second).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Busy, "{err}");
        assert!(err.to_string().contains(second.to_str().unwrap()));
        let err = mount_binfmt_misc(&dir.path().join("missing")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotMounted, "{err}");
    }
}

binfmtd_tests::sandbox_test! {
    /// An open handle pins the instance: umount is EBUSY; once dropped, umount works and the
    /// entries are gone.
    fn open_handle_pins_the_instance(mnt: &Path) {
        let fs = open(mnt);
        fs.register(&aarch64("pinned", &qemu_aarch64(), "")).unwrap();
        assert_eq!(umount(mnt), Err(Errno::EBUSY));
        assert!(fs.entry("pinned").unwrap().is_some());
        drop(fs);
        umount(mnt).unwrap();
        assert_eq!(BinfmtMisc::open(mnt).unwrap_err().kind(), ErrorKind::NotMounted);
        let (fs, mounted) = BinfmtMisc::open_or_mount(mnt).unwrap();
        assert!(mounted);
        assert!(fs.entries().unwrap().is_empty(), "the last unmount wiped the instance");
    }
}

binfmtd_tests::sandbox_test! {
    fn read_only_mount(mnt: &Path) {
        open(mnt).register(&aarch64("ro-entry", &qemu_aarch64(), "")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ro = dir.path().join("ro");
        std::fs::create_dir(&ro).unwrap();
        mount(Some(mnt), &ro, None::<&str>, MsFlags::MS_BIND, None::<&str>).unwrap();
        let flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY;
        mount(None::<&str>, &ro, None::<&str>, flags, None::<&str>).unwrap();
        let fs = BinfmtMisc::open(&ro).unwrap();
        assert!(fs.entry("ro-entry").unwrap().is_some(), "reading works");
        let errors = [
            fs.register(&aarch64("new", &qemu_aarch64(), "")).unwrap_err(),
            fs.remove("ro-entry").unwrap_err(),
            fs.disable("ro-entry").unwrap_err(),
        ];
        for err in errors {
            assert_eq!(err.kind(), ErrorKind::ReadOnly, "{err}");
            let msg = err.to_string();
            assert!(msg.contains(ro.to_str().unwrap()) && msg.contains("read-only"), "{msg}");
        }
        assert!(open(mnt).entry("ro-entry").unwrap().unwrap().entry.enabled);
    }
}
