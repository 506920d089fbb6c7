//! Verification: accepts the real static QEMU, rejects each kind of bad interpreter with its own
//! error, and reads only headers.

use std::cell::Cell;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, symlink};
use std::path::Path;

use goblin::elf::header::{EM_AARCH64, EM_X86_64};

use super::super::elf::ReadAt;
use super::super::verify::check_elf;
use super::super::{
    DynamicReason, ElfClass, Endianness, HostMachine, InterpreterError, VerifyPolicy, verify,
    verify_with,
};
use super::{QEMU, busybox_arm64, copy_with_mode, host, need, root};

#[test]
fn host_machine_is_read_from_our_own_header() {
    let host = host();
    if cfg!(target_arch = "x86_64") {
        assert_eq!(host.machine, EM_X86_64);
        assert_eq!(host.class, ElfClass::Elf64);
        assert_eq!(host.endian, Endianness::Little);
    }
    if cfg!(target_arch = "aarch64") {
        assert_eq!(host.machine, EM_AARCH64);
        assert_eq!(host.class, ElfClass::Elf64);
        assert_eq!(host.endian, Endianness::Little);
    }
    assert_eq!(HostMachine::of_file(Path::new("/bin/sh")).unwrap(), host);
}

#[test]
fn accepts_the_real_static_qemu() {
    let Some(qemu) = need(QEMU) else { return };
    let v = verify(&qemu, host()).unwrap();
    let meta = fs::metadata(&qemu).unwrap();
    assert_eq!(v.path, fs::canonicalize(&qemu).unwrap());
    assert_eq!((v.size, v.ino, v.dev), (meta.len(), meta.ino(), meta.dev()));
    assert_eq!((v.mtime.sec, v.ctime.sec), (meta.mtime(), meta.ctime()));
}

#[test]
fn symlinks_are_followed_and_the_resolved_path_reported() {
    let Some(qemu) = need(QEMU) else { return };
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("qemu-aarch64");
    symlink(&qemu, &link).unwrap();
    assert_eq!(
        verify(&link, host()).unwrap().path,
        fs::canonicalize(&qemu).unwrap()
    );
}

#[test]
fn rejects_a_dynamic_binary_with_its_interpreter() {
    let err = verify(Path::new("/bin/ls"), host()).unwrap_err();
    match err {
        InterpreterError::Dynamic {
            reason: DynamicReason::Interpreter(interp),
            ..
        } => {
            assert!(interp.starts_with('/') && interp.contains("ld"), "{interp}");
        }
        other => panic!("expected Dynamic, got {other}"),
    }
}

#[test]
fn rejects_a_needed_library_even_without_pt_interp() {
    let Some(qemu) = need(QEMU) else { return };
    let dir = tempfile::tempdir().unwrap();
    let copy = copy_with_mode(&qemu, dir.path(), "qemu-needs", 0o755);
    // Turn the static-pie's first dynamic entry into DT_NEEDED: static becomes dynamic.
    let bytes = fs::read(&copy).unwrap();
    let elf = goblin::elf::Elf::parse(&bytes).unwrap();
    assert!(
        elf.interpreter.is_none() && elf.dynamic.is_some(),
        "static-pie expected"
    );
    let dynamic = elf
        .program_headers
        .iter()
        .find(|p| p.p_type == 2)
        .unwrap()
        .p_offset;
    let mut entry = [0u8; 16];
    entry[0] = 1; // d_tag = DT_NEEDED, d_val = 0
    File::options()
        .write(true)
        .open(&copy)
        .unwrap()
        .write_all_at(&entry, dynamic)
        .unwrap();
    let err = verify_with(
        &copy,
        host(),
        VerifyPolicy {
            require_root_owner: false,
        },
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            InterpreterError::Dynamic {
                reason: DynamicReason::Needs(_),
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn rejects_a_real_shared_library_naming_the_needed_lib() {
    // Debian's multiarch directory of this machine (x86_64-linux-gnu, aarch64-linux-gnu).
    let arch = std::env::consts::ARCH;
    let lib = [
        format!("/usr/lib/{arch}-linux-gnu/libm.so.6"),
        format!("/lib/{arch}-linux-gnu/libm.so.6"),
    ]
    .into_iter()
    .map(std::path::PathBuf::from)
    .find(|p| p.exists());
    let Some(lib) = lib else {
        binfmtd_tests::skip(
            "rejects_a_real_shared_library_naming_the_needed_lib",
            format!("no {arch} libm.so.6 here (libc6 provides it)"),
        );
        return;
    };
    let lib = lib.as_path();
    let dir = tempfile::tempdir().unwrap();
    let copy = copy_with_mode(lib, dir.path(), "libm", 0o755);
    let err = verify_with(
        &copy,
        host(),
        VerifyPolicy {
            require_root_owner: false,
        },
    )
    .unwrap_err();
    match err {
        InterpreterError::Dynamic {
            reason: DynamicReason::Needs(lib),
            ..
        } => {
            assert!(lib.ends_with(".so.6") || lib.ends_with(".so.2"), "{lib}");
        }
        other => panic!("expected Dynamic(Needs), got {other}"),
    }
}

#[test]
fn rejects_a_non_elf_file() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("qemu-aarch64");
    fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
    let err = verify(&script, host()).unwrap_err();
    assert!(matches!(err, InterpreterError::NotElf { .. }), "{err}");
}

#[test]
fn rejects_a_truncated_elf() {
    let Some(qemu) = need(QEMU) else { return };
    let dir = tempfile::tempdir().unwrap();
    let short = dir.path().join("short");
    fs::write(&short, &fs::read(&qemu).unwrap()[..40]).unwrap();
    let err = verify(&short, host()).unwrap_err();
    assert!(matches!(err, InterpreterError::NotElf { .. }), "{err}");
}

#[test]
fn rejects_a_foreign_architecture() {
    let Some(busybox) = busybox_arm64() else {
        return;
    };
    match verify(&busybox, host()).unwrap_err() {
        InterpreterError::WrongMachine {
            found, expected, ..
        } => {
            assert_eq!(found.machine, EM_AARCH64);
            assert_eq!(expected, host());
        }
        other => panic!("expected WrongMachine, got {other}"),
    }
}

#[test]
fn rejects_group_or_world_writable_copies() {
    let Some(qemu) = need(QEMU) else { return };
    if !root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (name, mode) in [("o", 0o757), ("g", 0o775)] {
        let copy = copy_with_mode(&qemu, dir.path(), name, mode);
        let err = verify(&copy, host()).unwrap_err();
        assert!(
            matches!(&err, InterpreterError::Insecure { reason, .. } if reason.contains("writable")),
            "{err}"
        );
    }
    let fine = copy_with_mode(&qemu, dir.path(), "fine", 0o755);
    assert!(verify(&fine, host()).is_ok(), "the control copy must pass");
}

#[test]
fn rejects_a_copy_not_owned_by_root_unless_rootless() {
    let Some(qemu) = need(QEMU) else { return };
    if !root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let copy = copy_with_mode(&qemu, dir.path(), "nobody", 0o755);
    std::os::unix::fs::chown(&copy, Some(65534), Some(65534)).unwrap();
    let err = verify(&copy, host()).unwrap_err();
    assert!(
        matches!(&err, InterpreterError::Insecure { reason, .. } if reason.contains("uid 65534")),
        "{err}"
    );
    // Rootless verification accepts root's and the caller's files, never another user's.
    let rootless = VerifyPolicy {
        require_root_owner: false,
    };
    let err = verify_with(&copy, host(), rootless).unwrap_err();
    assert!(
        matches!(&err, InterpreterError::Insecure { reason, .. } if reason.contains("neither root nor you")),
        "{err}"
    );
    let own = copy_with_mode(&qemu, dir.path(), "own", 0o755);
    assert_eq!(
        verify_with(&own, host(), rootless).unwrap().path,
        fs::canonicalize(&own).unwrap()
    );
    let writable = copy_with_mode(&qemu, dir.path(), "writable", 0o775);
    assert!(matches!(
        verify_with(&writable, host(), rootless),
        Err(InterpreterError::Insecure { .. })
    ));
}

#[test]
fn rejects_a_non_executable_copy() {
    let Some(qemu) = need(QEMU) else { return };
    let dir = tempfile::tempdir().unwrap();
    let copy = copy_with_mode(&qemu, dir.path(), "noexec", 0o644);
    let err = verify_with(
        &copy,
        host(),
        VerifyPolicy {
            require_root_owner: false,
        },
    )
    .unwrap_err();
    assert!(
        matches!(err, InterpreterError::NotExecutable { mode: 0o644, .. }),
        "{err}"
    );
}

#[test]
fn rejects_missing_files_and_dangling_symlinks() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("qemu-aarch64-static");
    let err = verify(&missing, host()).unwrap_err();
    assert!(
        matches!(&err, InterpreterError::NotFound { path } if *path == missing),
        "{err}"
    );
    let link = dir.path().join("dangling");
    symlink(&missing, &link).unwrap();
    assert!(matches!(
        verify(&link, host()),
        Err(InterpreterError::NotFound { .. })
    ));
}

#[test]
fn rejects_a_directory_and_a_fifo() {
    let dir = tempfile::tempdir().unwrap();
    let err = verify(dir.path(), host()).unwrap_err();
    assert!(
        matches!(
            err,
            InterpreterError::NotRegularFile {
                kind: "directory",
                ..
            }
        ),
        "{err}"
    );
    let fifo = dir.path().join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o755)).unwrap();
    let err = verify(&fifo, host()).unwrap_err();
    assert!(
        matches!(err, InterpreterError::NotRegularFile { kind: "fifo", .. }),
        "{err}"
    );
}

/// A reader that counts the bytes it hands out.
struct Counting {
    file: File,
    bytes: Cell<u64>,
}

impl ReadAt for Counting {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let n = FileExt::read_at(&self.file, buf, offset)?;
        self.bytes.set(self.bytes.get() + n as u64);
        Ok(n)
    }
}

#[test]
fn verification_reads_only_headers() {
    let Some(qemu) = need(QEMU) else { return };
    for (path, ok) in [(qemu.as_path(), true), (Path::new("/bin/ls"), false)] {
        let file = File::open(path).unwrap();
        let size = file.metadata().unwrap().len();
        let counting = Counting {
            file,
            bytes: Cell::new(0),
        };
        assert_eq!(
            check_elf(&counting, path, host()).is_ok(),
            ok,
            "{}",
            path.display()
        );
        let read = counting.bytes.get();
        assert!(
            read > 0 && read <= 8192,
            "{} bytes read of {}",
            read,
            path.display()
        );
        assert!(
            read * 100 < size,
            "{read} bytes is not a small part of {size}"
        );
    }
}

#[test]
fn errors_are_one_line_and_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("qemu-x");
    let msg = verify(&missing, host()).unwrap_err().to_string();
    assert!(
        !msg.contains('\n') && msg.contains(&*missing.to_string_lossy()),
        "{msg}"
    );
    assert!(
        msg.starts_with(char::is_lowercase) && !msg.ends_with('.'),
        "{msg}"
    );
}
