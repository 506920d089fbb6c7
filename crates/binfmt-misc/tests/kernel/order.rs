//! Registration order: `active_among` against what the kernel really runs.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use binfmt_misc::{BinfmtMisc, EntryInfo, active_among};
use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
use nix::unistd::Pid;

use crate::common::{magic, rule};
use crate::open;

/// A `#!` script interpreter that prints `word`.
fn script(dir: &Path, word: &str) -> PathBuf {
    let path = dir.join(format!("{word}.sh"));
    std::fs::write(&path, format!("#!/bin/sh\necho {word}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// Which interpreter the kernel picks for `probe`.
fn kernel_choice(probe: &Path) -> String {
    let out = std::process::Command::new(probe).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn info(fs: &BinfmtMisc, name: &str) -> EntryInfo {
    fs.entry(name).unwrap().unwrap()
}

fn pin_to_cpu(cpu: usize) {
    let mut set = CpuSet::new();
    set.set(cpu).unwrap();
    sched_setaffinity(Pid::from_raw(0), &set).unwrap();
}

binfmtd_tests::sandbox_test! {
    /// A then B with the same magic: the kernel runs B, and `active_among` says B, even when A and
    /// B are registered back to back from different CPUs (where inode numbers alone would be
    /// wrong). Disabling B exposes A; removing and re-registering A makes it the newest.
    fn newest_enabled_entry_wins(mnt: &Path) {
        let fs = open(mnt);
        let dir = tempfile::tempdir().unwrap();
        let probe = dir.path().join("probe");
        std::fs::write(&probe, "ZZORDER\n").unwrap();
        std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let rule_a = rule("order-a", magic(0, b"ZZORDER", None), script(dir.path(), "A").to_str().unwrap(), "");
        let rule_b = rule("order-b", magic(0, b"ZZORD", None), script(dir.path(), "B").to_str().unwrap(), "");
        assert!(rule_a.matcher.overlaps(&rule_b.matcher));

        let original = sched_getaffinity(Pid::from_raw(0)).unwrap();
        let two_cpus = (0..2).all(|cpu| original.is_set(cpu).unwrap_or(false));
        if two_cpus { pin_to_cpu(1); }
        fs.register(&rule_a).unwrap();
        if two_cpus { pin_to_cpu(0); }
        fs.register(&rule_b).unwrap();
        sched_setaffinity(Pid::from_raw(0), &original).unwrap();

        let (a, b) = (info(&fs, "order-a"), info(&fs, "order-b"));
        assert!(b.registered > a.registered, "{:?} vs {:?}", a.registered, b.registered);
        assert_eq!(kernel_choice(&probe), "B");
        assert_eq!(active_among(&[&a, &b]).unwrap().entry.name, "order-b");

        fs.disable("order-b").unwrap();
        let (a, b) = (info(&fs, "order-a"), info(&fs, "order-b"));
        assert_eq!(kernel_choice(&probe), "A");
        assert_eq!(active_among(&[&a, &b]).unwrap().entry.name, "order-a");
        fs.enable("order-b").unwrap();
        let (a, b) = (info(&fs, "order-a"), info(&fs, "order-b"));
        assert_eq!(kernel_choice(&probe), "B", "enabling does not reorder");
        assert_eq!(active_among(&[&a, &b]).unwrap().entry.name, "order-b");

        fs.remove("order-a").unwrap();
        fs.register(&rule_a).unwrap();
        let (a, b) = (info(&fs, "order-a"), info(&fs, "order-b"));
        assert_eq!(kernel_choice(&probe), "A");
        assert_eq!(active_among(&[&a, &b]).unwrap().entry.name, "order-a");

        // The list is sorted oldest first.
        let names: Vec<String> = fs.entries().unwrap().into_iter().map(|i| i.entry.name).collect();
        assert_eq!(names, ["order-b", "order-a"]);
    }
}

binfmtd_tests::sandbox_test! {
    /// Documents the limit of the stamp: an `O_TRUNC` open of an entry (a shell's `echo 1 >`)
    /// moves its ctime although the kernel's order does not change. Our own writes never do.
    fn o_trunc_moves_ctime_but_our_writes_do_not(mnt: &Path) {
        let fs = open(mnt);
        fs.register(&rule("t", magic(0, b"ZZT", None), "/bin/true", "")).unwrap();
        let before = info(&fs, "t").registered;
        std::thread::sleep(std::time::Duration::from_millis(30));
        fs.disable("t").unwrap();
        fs.enable("t").unwrap();
        assert_eq!(info(&fs, "t").registered, before, "enable/disable keep the stamp");
        std::fs::write(mnt.join("t"), "1").unwrap(); // O_TRUNC, as a shell redirection does
        assert!(info(&fs, "t").registered > before, "O_TRUNC moved the ctime");
    }
}
