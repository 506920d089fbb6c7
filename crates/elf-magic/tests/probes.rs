//! The probe executables really run: every one of the 34 under Debian bookworm's
//! `qemu-<target>-static` (QEMU 7.2) and under the newer static QEMU that `tests/fixtures.sh`
//! unpacks from sid, with `-strace` showing that the only system call is `exit(0)`; the x86_64
//! probe natively on an x86_64 host, and the i386 and i486 probes natively where the kernel has
//! IA32 emulation. No binfmt_misc is involved: QEMU is called directly.
//!
//! A missing QEMU is skipped with a printed reason, and fails under `CI=true`
//! (`binfmtd_tests::sandbox::skip`). One test function writes and executes every file: a second
//! test thread forking meanwhile could inherit a write descriptor and make exec fail with ETXTBSY.

use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use binfmtd_tests::fixtures::fixtures_dir;
use binfmtd_tests::sandbox::skip;
use elf_magic::{Target, probe_elf};

const TEST: &str = "probes::probes_exit_zero_natively_and_under_qemu";

/// Runs `program args…`: its exit code (or the signal that killed it) and its stderr.
fn run(program: &Path, args: &[&str], path: &Path) -> Result<(i32, String), String> {
    let out = Command::new(program)
        .args(args)
        .arg(path)
        .output()
        .map_err(|e| e.to_string())?;
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    match out.status.code() {
        Some(code) => Ok((code, stderr)),
        None => Err(format!("killed: {}; stderr: {stderr}", out.status)),
    }
}

/// Whether QEMU's `-strace` output is exactly one `PID exit(0)` line.
fn only_exit_zero(strace: &str) -> bool {
    strace
        .split_once(' ')
        .is_some_and(|(pid, call)| pid.parse::<u32>().is_ok() && call == "exit(0)")
}

/// The QEMUs to run `target`'s probe under: bookworm's and sid's.
fn qemus(target: Target) -> [PathBuf; 2] {
    let name = target.qemu_binary();
    [
        PathBuf::from(format!("/usr/bin/{name}-static")),
        fixtures_dir().join("qemu-sid/usr/bin").join(name),
    ]
}

#[test]
fn probes_exit_zero_natively_and_under_qemu() {
    let dir = tempfile::tempdir().unwrap();
    let mut files: Vec<(Target, PathBuf)> = Vec::new();
    for target in Target::ALL {
        let path = dir.path().join(format!("probe-{target}"));
        let mut file = std::fs::File::create(&path).unwrap();
        file.write_all(probe_elf(target)).unwrap();
        file.set_permissions(std::fs::Permissions::from_mode(0o755))
            .unwrap();
        drop(file);
        files.push((target, path));
    }

    let mut missing = BTreeSet::new();
    let mut ran = 0;
    for (target, path) in &files {
        for qemu in qemus(*target) {
            if !qemu.is_file() {
                missing.insert(qemu.display().to_string());
                continue;
            }
            let what = format!("{target} probe under {}", qemu.display());
            let (code, strace) =
                run(&qemu, &["-strace"], path).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(code, 0, "{what}: {strace}");
            assert!(only_exit_zero(&strace), "{what}: system calls: {strace}");
            ran += 1;
        }
    }
    if !missing.is_empty() {
        skip(
            TEST,
            format!(
                "QEMU not installed: {} (tests/setup.sh installs qemu-user-static and runs \
                 tests/fixtures.sh)",
                missing.into_iter().collect::<Vec<_>>().join(", ")
            ),
        );
    }

    if cfg!(all(target_arch = "x86_64", target_os = "linux")) {
        let native = |target: Target| {
            let path = &files.iter().find(|(t, _)| *t == target).unwrap().1;
            let out = Command::new(path).output().map_err(|e| e.to_string());
            out.map(|o| o.status.code())
        };
        assert_eq!(
            native(Target::X86_64),
            Ok(Some(0)),
            "the x86_64 probe runs natively"
        );
        ran += 1;
        for target in [Target::I386, Target::I486] {
            match native(target) {
                Ok(code) => {
                    assert_eq!(code, Some(0), "{target} probe");
                    ran += 1;
                }
                // Exec format error: this kernel has no IA32 emulation; that is exactly what
                // the probe is for, so it is not a failure.
                Err(e) => eprintln!("not run natively: {target} probe: {e}"),
            }
        }
    }
    assert!(ran > 0, "no probe could be run at all");
}

#[test]
fn strace_check_accepts_only_a_lone_exit_zero() {
    assert!(only_exit_zero("17789 exit(0)"));
    assert!(!only_exit_zero("17789 exit(1)"));
    assert!(!only_exit_zero("17789 exit_group(0)"));
    assert!(!only_exit_zero(
        "17789 write(1,0x400078,5) = 5\n17789 exit(0)"
    ));
    assert!(!only_exit_zero(""));
}
