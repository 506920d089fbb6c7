//! Unit tests of the errno mappings (the kernel-side errors are provoked in tests/kernel).

use super::*;
use crate::flags::Flags;
use crate::mount::mount_error;
use crate::rule::Matcher;

fn rule(flags: &str) -> Rule {
    Rule {
        name: "qemu-x".into(),
        matcher: Matcher::Magic {
            offset: 0,
            magic: b"\x7fELF".to_vec(),
            mask: None,
        },
        interpreter: "/usr/bin/qemu-x".into(),
        flags: flags.parse::<Flags>().unwrap(),
    }
}

fn reg(errno: Errno, flags: &str, release: &str) -> Error {
    register_error(
        errno,
        &rule(flags),
        b":qemu-x:M::\\x7fELF::/usr/bin/qemu-x:\n",
        &crate::kernel::Features::of(release),
        Path::new("/m/register"),
    )
}

#[test]
fn register_errnos() {
    let new = "6.18.44-fc";
    assert_eq!(reg(Errno::EEXIST, "F", new).kind(), ErrorKind::Exists);
    assert_eq!(
        reg(Errno::ENAMETOOLONG, "", new).kind(),
        ErrorKind::NameTooLong
    );
    assert_eq!(
        reg(Errno::ENOENT, "F", new).kind(),
        ErrorKind::InterpreterMissing
    );
    assert_eq!(
        reg(Errno::EACCES, "OF", new).kind(),
        ErrorKind::InterpreterNotExecutable
    );
    assert_eq!(
        reg(Errno::EACCES, "", new).kind(),
        ErrorKind::PermissionDenied
    );
    assert_eq!(reg(Errno::EROFS, "F", new).kind(), ErrorKind::ReadOnly);
    assert_eq!(reg(Errno::ENOMEM, "F", new).kind(), ErrorKind::Io);
    assert_eq!(reg(Errno::EINVAL, "F", new).kind(), ErrorKind::Rejected);
    assert_eq!(
        reg(Errno::EINVAL, "", "4.4.0-210-generic").kind(),
        ErrorKind::Rejected
    );
}

/// Kernels before 4.8 reject F with a bare EINVAL; that cannot be provoked on this machine's
/// kernel, so the mapping is tested here.
#[test]
fn einval_with_f_on_old_kernels_is_fix_binary_unsupported() {
    for old in ["4.4.0-210-generic", "3.10.0-1160.el7.x86_64", "4.7.10"] {
        let err = reg(Errno::EINVAL, "POF", old);
        assert_eq!(err.kind(), ErrorKind::FixBinaryUnsupported, "{old}");
        let msg = err.to_string();
        assert!(
            msg.contains("qemu-x") && msg.contains(old) && msg.contains("drop F"),
            "{msg}"
        );
    }
    for new in ["4.8.0", "5.10.0-23-amd64", "6.18.44", "10.0", "", "weird"] {
        assert_eq!(
            reg(Errno::EINVAL, "F", new).kind(),
            ErrorKind::Rejected,
            "{new}"
        );
    }
}

#[test]
fn rejected_shows_the_escaped_line() {
    let msg = reg(Errno::EINVAL, "F", "6.18").to_string();
    assert!(
        msg.contains(r":qemu-x:M::\x7fELF::/usr/bin/qemu-x:\x0a"),
        "{msg}"
    );
    assert!(!msg.contains('\n'));
}

#[test]
fn mount_errnos() {
    let root = Path::new("/proc/sys/fs/binfmt_misc");
    assert_eq!(mount_error(Errno::EBUSY, root).kind(), ErrorKind::Busy);
    assert_eq!(
        mount_error(Errno::EPERM, root).kind(),
        ErrorKind::PermissionDenied
    );
    assert_eq!(
        mount_error(Errno::ENODEV, root).kind(),
        ErrorKind::Unsupported
    );
    assert_eq!(
        mount_error(Errno::ENOENT, root).kind(),
        ErrorKind::NotMounted
    );
    assert_eq!(mount_error(Errno::EROFS, root).kind(), ErrorKind::ReadOnly);
    assert!(
        mount_error(Errno::ENODEV, root)
            .to_string()
            .contains("modprobe binfmt_misc")
    );
    assert!(
        mount_error(Errno::EPERM, root)
            .to_string()
            .contains("--privileged")
    );
}

#[test]
fn enospc_with_f_is_the_interpreter_limit() {
    let err = reg(Errno::ENOSPC, "F", "7.3.0");
    assert_eq!(err.kind(), ErrorKind::TooManyInterpreters);
    let msg = err.to_string();
    assert!(
        msg.contains("max_binfmt_misc_interpreters") && msg.contains("sysctl"),
        "{msg}"
    );
    assert_eq!(reg(Errno::ENOSPC, "", "7.3.0").kind(), ErrorKind::Io);
}
