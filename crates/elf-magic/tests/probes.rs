//! The probe executables really run: the x86_64 probe natively on an x86_64 host, the i386 and
//! i486 probes natively where the kernel has IA32 emulation, and every probe under Debian's
//! `qemu-<target>-static` when that is installed (no binfmt_misc involved: QEMU is called
//! directly). Missing interpreters are reported and skipped, never passed silently.
//!
//! One test function only: it writes files and then executes them, and a second test thread
//! forking meanwhile could inherit a write descriptor and make exec fail with ETXTBSY.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use elf_magic::{Target, probe_elf};

/// Runs `program args…` and returns its exit code, or the error text.
fn run(program: &Path, args: &[&Path]) -> Result<i32, String> {
    let status = Command::new(program)
        .args(args)
        .status()
        .map_err(|e| e.to_string())?;
    status.code().ok_or_else(|| format!("killed: {status}"))
}

#[test]
fn probes_exit_zero_natively_and_under_qemu() {
    let dir = tempfile::tempdir().unwrap();
    let mut files: Vec<(Target, PathBuf)> = Vec::new();
    for target in Target::ALL {
        let Some(bytes) = probe_elf(target) else {
            continue;
        };
        let path = dir.path().join(format!("probe-{target}"));
        let mut file = std::fs::File::create(&path).unwrap();
        file.write_all(bytes).unwrap();
        file.set_permissions(std::fs::Permissions::from_mode(0o755))
            .unwrap();
        drop(file);
        files.push((target, path));
    }

    let mut ran = 0;
    let mut skipped = Vec::new();
    for (target, path) in &files {
        let qemu = qemu_static(*target);
        if qemu.is_file() {
            assert_eq!(
                run(&qemu, &[path]),
                Ok(0),
                "{target} probe under {}",
                qemu.display()
            );
            ran += 1;
        } else {
            skipped.push(qemu.display().to_string());
        }
    }
    if !skipped.is_empty() {
        eprintln!(
            "skipping probes under QEMU: not installed: {}",
            skipped.join(", ")
        );
    }

    if cfg!(all(target_arch = "x86_64", target_os = "linux")) {
        let x86_64 = files.iter().find(|(t, _)| *t == Target::X86_64).unwrap();
        assert_eq!(
            run(&x86_64.1, &[]),
            Ok(0),
            "the x86_64 probe must run natively here"
        );
        ran += 1;
        for target in [Target::I386, Target::I486] {
            let path = &files.iter().find(|(t, _)| *t == target).unwrap().1;
            match run(path, &[]) {
                Ok(code) => {
                    assert_eq!(code, 0, "{target} probe");
                    ran += 1;
                }
                // Exec format error: this kernel has no IA32 emulation; that is exactly what
                // the probe is for, so it is not a failure.
                Err(e) => eprintln!("skipping native {target} probe: {e}"),
            }
        }
    }
    assert!(ran > 0, "no probe could be run at all");
}

/// Debian's static QEMU for `target`.
fn qemu_static(target: Target) -> PathBuf {
    PathBuf::from(format!("/usr/bin/{}-static", target.qemu_binary()))
}
