//! Register, read back, compare, enable/disable, status, flush, remove, watch.

use std::path::Path;

use binfmt_misc::{Change, Entry, ErrorKind, Watcher, parse_entry};

use crate::common::{entries_dir, fixtures};
use crate::{aarch64, arm64_busybox, open, qemu_aarch64, run, uname_m};

binfmtd_tests::sandbox_test! {
    /// The rules behind `testdata/entries/*`, registered through `BinfmtMisc`, read back byte
    /// for byte as the files captured with `capture.sh`, and parse back field by field.
    fn fixtures_read_back_byte_for_byte(mnt: &Path) {
        let fs = open(mnt);
        for f in fixtures() {
            fs.register(&f.rule).unwrap_or_else(|e| panic!("{}: {e}", f.file));
            if !f.enabled {
                fs.disable(&f.rule.name).unwrap();
            }
        }
        for f in fixtures() {
            let kernel = std::fs::read(mnt.join(f.file)).unwrap();
            let captured = std::fs::read(entries_dir().join(f.file)).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&kernel),
                String::from_utf8_lossy(&captured),
                "{}",
                f.file
            );
            let info = fs.entry(f.file).unwrap().unwrap();
            assert_eq!(info.entry, Entry { enabled: f.enabled, ..Entry::from_rule(&f.rule) });
            assert_eq!(info.entry, parse_entry(f.file, &captured).unwrap());
        }
        let names: Vec<String> = fs.entries().unwrap().into_iter().map(|i| i.entry.name).collect();
        assert_eq!(names.len(), fixtures().len(), "{names:?}");
    }
}

binfmtd_tests::sandbox_test! {
    fn register_compare_run_and_remove(mnt: &Path) {
        let fs = open(mnt);
        let busybox = arm64_busybox().path;
        assert!(run(&busybox, &["true"]).is_err(), "nothing registered yet: exec must fail");
        let rule = aarch64("qemu-aarch64", &qemu_aarch64(), "POF");
        fs.register(&rule).unwrap();
        let info = fs.entry("qemu-aarch64").unwrap().unwrap();
        assert!(info.entry.enabled);
        assert_eq!(info.entry.interpreter, rule.interpreter);
        assert_eq!(info.entry.flags, rule.flags);
        assert_eq!(info.entry.matcher, rule.matcher);
        assert!(info.entry.differences(&rule).is_empty());
        assert_eq!(uname_m(&busybox).unwrap(), "aarch64");
        fs.remove("qemu-aarch64").unwrap();
        assert!(fs.entry("qemu-aarch64").unwrap().is_none());
        assert!(fs.entries().unwrap().is_empty());
        assert_eq!(run(&busybox, &["true"]).unwrap_err().raw_os_error(), Some(libc_enoexec()));
        assert_eq!(fs.remove("qemu-aarch64").unwrap_err().kind(), ErrorKind::NotFound);
    }
}

binfmtd_tests::sandbox_test! {
    /// Disabling an entry or the whole instance makes exec fail with ENOEXEC; enabling restores
    /// it; flush removes every entry.
    fn disable_enable_status_and_flush(mnt: &Path) {
        let fs = open(mnt);
        let busybox = arm64_busybox().path;
        fs.register(&aarch64("qemu-aarch64", &qemu_aarch64(), "F")).unwrap();
        fs.register(&aarch64("other", &qemu_aarch64(), "")).unwrap();
        fs.disable("other").unwrap();
        fs.disable("qemu-aarch64").unwrap();
        assert!(!fs.entry("qemu-aarch64").unwrap().unwrap().entry.enabled);
        assert_eq!(run(&busybox, &["true"]).unwrap_err().raw_os_error(), Some(libc_enoexec()));
        fs.enable("qemu-aarch64").unwrap();
        assert_eq!(uname_m(&busybox).unwrap(), "aarch64");

        assert!(fs.is_enabled().unwrap());
        write_status(mnt, "0");
        assert!(!fs.is_enabled().unwrap());
        assert!(fs.entry("qemu-aarch64").unwrap().unwrap().entry.enabled, "entries keep their state");
        assert_eq!(run(&busybox, &["true"]).unwrap_err().raw_os_error(), Some(libc_enoexec()));
        write_status(mnt, "1");
        assert!(fs.is_enabled().unwrap());
        assert_eq!(uname_m(&busybox).unwrap(), "aarch64");

        write_status(mnt, "-1");
        assert!(fs.entries().unwrap().is_empty());
        assert_eq!(run(&busybox, &["true"]).unwrap_err().raw_os_error(), Some(libc_enoexec()));
    }
}

binfmtd_tests::sandbox_test! {
    fn watcher_reports_register_remove_and_unmount(mnt: &Path) {
        let watcher = Watcher::new(mnt).unwrap();
        assert_eq!(watcher.read_events().unwrap(), []);
        let fs = open(mnt);
        fs.register(&aarch64("w", &qemu_aarch64(), "")).unwrap();
        let events = watcher.read_events().unwrap();
        assert!(events.contains(&Change::Modified(Some("register".into()))), "{events:?}");
        fs.disable("w").unwrap();
        assert!(watcher.read_events().unwrap().contains(&Change::Modified(Some("w".into()))));
        fs.remove("w").unwrap();
        assert!(watcher.read_events().unwrap().contains(&Change::Deleted("w".into())));
        drop(fs);
        nix::mount::umount(mnt).unwrap();
        assert_eq!(watcher.read_events().unwrap(), [Change::Unmounted]);
    }
}

/// Writes `value` to the instance's `status` file (as an administrator's `echo` would).
fn write_status(mnt: &Path, value: &str) {
    std::fs::write(mnt.join("status"), value).unwrap();
}

/// ENOEXEC ("Exec format error").
pub(crate) fn libc_enoexec() -> i32 {
    nix::errno::Errno::ENOEXEC as i32
}
