//! Every registration error provoked for real, with its kind and message.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use binfmt_misc::{Error, ErrorKind, RuleError};
use nix::errno::Errno;

use crate::{aarch64, open, qemu_aarch64};

fn assert_error(err: &Error, kind: ErrorKind, needles: &[&str]) {
    assert_eq!(err.kind(), kind, "{err}");
    let msg = err.to_string();
    for needle in needles {
        assert!(msg.contains(needle), "{msg:?} should mention {needle:?}");
    }
    assert!(!msg.contains('\n') && !msg.ends_with('.'), "{msg:?}");
}

binfmtd_tests::sandbox_test! {
    fn f_with_missing_or_unexecutable_interpreter(mnt: &Path) {
        let fs = open(mnt);
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("qemu-missing");
        let err = fs.register(&aarch64("missing", &missing, "F")).unwrap_err();
        assert_error(&err, ErrorKind::InterpreterMissing, &["\"missing\"", missing.to_str().unwrap(), "does not exist"]);
        // Without F the path is only resolved at exec time: accepted.
        fs.register(&aarch64("missing-no-f", &missing, "")).unwrap();

        let err = fs.register(&aarch64("dir", dir.path(), "F")).unwrap_err();
        assert_error(&err, ErrorKind::InterpreterNotExecutable, &["\"dir\"", dir.path().to_str().unwrap()]);

        let plain = dir.path().join("not-executable");
        std::fs::copy(qemu_aarch64(), &plain).unwrap();
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = fs.register(&aarch64("noexec-bit", &plain, "OF")).unwrap_err();
        assert_error(&err, ErrorKind::InterpreterNotExecutable, &["\"noexec-bit\"", "not executable"]);

        // An executable file on a noexec mount.
        let noexec = dir.path().join("noexec");
        std::fs::create_dir(&noexec).unwrap();
        let flags = nix::mount::MsFlags::MS_NOEXEC;
        nix::mount::mount(Some("tmpfs"), &noexec, Some("tmpfs"), flags, None::<&str>).unwrap();
        let on_noexec = noexec.join("qemu");
        std::fs::copy(qemu_aarch64(), &on_noexec).unwrap();
        let err = fs.register(&aarch64("noexec-mount", &on_noexec, "F")).unwrap_err();
        assert_error(&err, ErrorKind::InterpreterNotExecutable, &["\"noexec-mount\""]);

        let names: Vec<String> = fs.entries().unwrap().into_iter().map(|i| i.entry.name).collect();
        assert_eq!(names, ["missing-no-f"], "failed registrations create nothing");
    }
}

binfmtd_tests::sandbox_test! {
    fn duplicate_name_is_exists(mnt: &Path) {
        let fs = open(mnt);
        let rule = aarch64("dup", &qemu_aarch64(), "F");
        fs.register(&rule).unwrap();
        let err = fs.register(&rule).unwrap_err();
        assert_error(&err, ErrorKind::Exists, &["\"dup\"", "already exists"]);
    }
}

binfmtd_tests::sandbox_test! {
    /// A 256-byte name: we refuse it before writing; the kernel itself answers ENAMETOOLONG
    /// (checked with a raw write, as the API never sends such a line).
    fn name_too_long(mnt: &Path) {
        let fs = open(mnt);
        let long = "n".repeat(256);
        let err = fs.register(&aarch64(&long, &qemu_aarch64(), "")).unwrap_err();
        assert!(matches!(err, Error::Rule(RuleError::NameTooLong { len: 256, .. })), "{err}");
        assert!(err.to_string().contains("at most 255 bytes"));

        let mut register = std::fs::OpenOptions::new().write(true).open(mnt.join("register")).unwrap();
        let raw = register.write(format!(":{long}:M::ab::/bin/true:").as_bytes()).unwrap_err();
        assert_eq!(raw.raw_os_error(), Some(Errno::ENAMETOOLONG as i32));
        // 255 bytes are fine, through the API.
        fs.register(&aarch64(&"n".repeat(255), &qemu_aarch64(), "")).unwrap();
    }
}

binfmtd_tests::sandbox_test! {
    fn unknown_and_reserved_entry_names(mnt: &Path) {
        let fs = open(mnt);
        for result in [fs.remove("nope"), fs.enable("nope"), fs.disable("nope")] {
            assert_error(&result.unwrap_err(), ErrorKind::NotFound, &["\"nope\"", "does not exist"]);
        }
        // `status` must never be written as an entry: "-1" there would flush everything.
        fs.register(&aarch64("keep-me", &qemu_aarch64(), "")).unwrap();
        for name in ["status", "register", "../x", "", "."] {
            assert_eq!(fs.remove(name).unwrap_err().kind(), ErrorKind::Rule, "{name:?}");
            assert_eq!(fs.entry(name).unwrap_err().kind(), ErrorKind::Rule, "{name:?}");
        }
        assert!(fs.entry("keep-me").unwrap().is_some());
        assert!(fs.is_enabled().unwrap());
    }
}
