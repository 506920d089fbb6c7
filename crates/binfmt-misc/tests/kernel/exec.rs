//! Every QEMU row of the host's `/usr/lib/binfmt.d` (Debian's qemu-user-static) registered with
//! `F`, and every foreign binary of the fixtures run through it.

use std::path::Path;

use binfmt_misc::{Matcher, Rule};
use binfmtd_tests::fixtures::{HOST_NATIVE, HOST_UNAME, Kind, foreign_binaries, qemu_for};

use crate::common::{decode_register_line, decoded_rule};
use crate::{open, run};

/// Targets this host runs natively: their rows are never registered (a row matching host ELF
/// would send every exec, QEMU's own included, through QEMU: ELOOP).
const HOST_FAMILY: &[&str] = HOST_NATIVE;

/// The QEMU rows shipped by Debian's qemu-user-static, as rules using the test interpreters.
fn qemu_rows() -> Vec<(String, Rule)> {
    let mut rows = Vec::new();
    for item in std::fs::read_dir("/usr/lib/binfmt.d").expect("qemu-user-static is installed") {
        let path = item.unwrap().path();
        let file = path.file_name().unwrap().to_str().unwrap().to_string();
        let Some(target) = file
            .strip_prefix("qemu-")
            .and_then(|f| f.strip_suffix(".conf"))
        else {
            continue;
        };
        if HOST_FAMILY.contains(&target) {
            continue;
        }
        let text = std::fs::read(&path).unwrap();
        let line = text.strip_suffix(b"\n").unwrap_or(&text);
        let decoded = decode_register_line(line).unwrap_or_else(|| panic!("{file} does not parse"));
        let mut rule = decoded_rule(&decoded);
        rule.interpreter = qemu_for(target);
        // Bookworm's mips rows require EI_ABIVERSION 0 or 1, but glibc's mips ld.so has 5; QEMU
        // upstream ignores the byte (kernel notes §11.2).
        if target.starts_with("mips")
            && let Matcher::Magic {
                mask: Some(mask), ..
            } = &mut rule.matcher
        {
            mask[8] = 0;
        }
        rows.push((target.to_string(), rule));
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows
}

fn header(path: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(path).unwrap();
    bytes.truncate(binfmt_misc::BUF_SIZE);
    bytes
}

binfmtd_tests::sandbox_test! {
    fn every_qemu_row_registers_and_runs_foreign_binaries(mnt: &Path) {
        let fs = open(mnt);
        let rows = qemu_rows();
        assert!(rows.len() >= 25, "expected Debian's QEMU table, found {} rows", rows.len());
        for (target, rule) in &rows {
            assert!(rule.flags.fix_binary, "{target}: Debian registers with F");
            fs.register(rule).unwrap_or_else(|e| panic!("{target}: {e}"));
        }
        for (target, rule) in &rows {
            let info = fs.entry(&rule.name).unwrap().unwrap();
            assert!(info.entry.differences(rule).is_empty(), "{target}: {:?}", info.entry);
        }
        let mut ran = 0;
        for bin in foreign_binaries() {
            let hdr = header(&bin.path);
            let matching: Vec<&str> = rows
                .iter()
                .filter(|(_, r)| r.matcher.matches(&bin.path, &hdr))
                .map(|(t, _)| t.as_str())
                .collect();
            let Some(target) = bin.target.as_deref() else {
                assert!(matching.is_empty(), "{}: negative vector matched {matching:?}", bin.package);
                continue;
            };
            if HOST_FAMILY.contains(&target) {
                continue;
            }
            assert_eq!(matching, [target], "{}: rows matching its header", bin.package);
            let through_binfmt = run(&bin.path, bin.probe_args())
                .unwrap_or_else(|e| panic!("{}: exec through binfmt_misc failed: {e}", bin.package));
            let direct = std::process::Command::new(qemu_for(target))
                .arg(&bin.path)
                .args(bin.probe_args())
                .output()
                .unwrap();
            assert!(through_binfmt.status.success(), "{}: {through_binfmt:?}", bin.package);
            assert!(!through_binfmt.stdout.is_empty(), "{}", bin.package);
            assert_eq!(through_binfmt.stdout, direct.stdout, "{}: same output as QEMU run directly", bin.package);
            if bin.kind == Kind::Busybox {
                let arch = String::from_utf8_lossy(&through_binfmt.stdout).trim().to_string();
                assert_ne!(arch, HOST_UNAME, "{}", bin.package);
            }
            ran += 1;
        }
        assert!(ran >= 25, "ran only {ran} foreign binaries");
    }
}
