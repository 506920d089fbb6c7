//! Gapless replacement while binaries keep executing, and what `replace` never touches.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use binfmt_misc::{TEMP_SUFFIX, replace};
use binfmtd_tests::fixtures::qemu_newer;

use crate::common::{magic, rule};
use crate::{aarch64, arm64_busybox, open, qemu_aarch64};

/// Runs `program` in a loop until `stop`; returns (runs, failures with their reasons).
fn exec_loop(
    program: PathBuf,
    args: &'static [&'static str],
    stop: Arc<AtomicBool>,
    runs: Arc<AtomicUsize>,
) -> std::thread::JoinHandle<Vec<String>> {
    std::thread::spawn(move || {
        let mut failures = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            match Command::new(&program).args(args).output() {
                Ok(out) if out.status.success() => {}
                other => failures.push(format!("{}: {other:?}", program.display())),
            }
            runs.fetch_add(1, Ordering::Relaxed);
        }
        failures
    })
}

binfmtd_tests::sandbox_test! {
    /// Loops keep executing a foreign binary (through QEMU) and a probe file (through
    /// `/bin/true`, fast enough to hit a gap of microseconds) while both entries are replaced
    /// again and again: not one exec may fail. Replacing by remove + register instead fails this
    /// test.
    fn replace_while_executing_has_no_gap(mnt: &Path) {
        let fs = open(mnt);
        let busybox = arm64_busybox().path;
        let interpreters = [qemu_aarch64(), qemu_newer("aarch64")];
        fs.register(&aarch64("qemu-aarch64", &interpreters[0], "POF")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let probe = dir.path().join("probe");
        std::fs::write(&probe, "ZZGAP\n").unwrap();
        std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let gap_rule = |flags| rule("gap", magic(0, b"ZZGAP", None), "/bin/true", flags);
        fs.register(&gap_rule("F")).unwrap();

        let stop = Arc::new(AtomicBool::new(false));
        let (slow_runs, fast_runs) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let slow = exec_loop(busybox, &["true"], stop.clone(), slow_runs.clone());
        let fast = exec_loop(probe, &[], stop.clone(), fast_runs.clone());
        let started = Instant::now();
        let mut replaced = 0;
        while replaced < 100 || fast_runs.load(Ordering::Relaxed) < 1000 || slow_runs.load(Ordering::Relaxed) < 40 {
            let interp = &interpreters[(replaced + 1) % 2];
            replace(&fs, "qemu-aarch64", &aarch64("qemu-aarch64", interp, "POF")).unwrap();
            replace(&fs, "gap", &gap_rule(["PF", "F"][replaced % 2])).unwrap();
            replaced += 1;
            assert!(started.elapsed() < Duration::from_secs(60), "the exec loops are not making progress");
        }
        stop.store(true, Ordering::Relaxed);
        let mut failures = slow.join().unwrap();
        failures.extend(fast.join().unwrap());
        let runs = (slow_runs.load(Ordering::Relaxed), fast_runs.load(Ordering::Relaxed));
        assert!(failures.is_empty(), "{replaced} replaces, {runs:?} runs, {} failures: {:?}", failures.len(), &failures[..failures.len().min(3)]);
        let mut names: Vec<String> = fs.entries().unwrap().into_iter().map(|i| i.entry.name).collect();
        names.sort();
        assert_eq!(names, ["gap", "qemu-aarch64"], "no temporary entry is left");
        eprintln!("{replaced} double replaces during {runs:?} execs in {:?}, no failure", started.elapsed());
    }
}

binfmtd_tests::sandbox_test! {
    /// An entry already under the temporary name (another tool's, or left over) is never removed
    /// by `replace`: it fails with EEXIST and changes nothing.
    fn replace_never_removes_an_entry_under_the_temporary_name(mnt: &Path) {
        let fs = open(mnt);
        let q = qemu_aarch64();
        let q = q.to_str().unwrap();
        fs.register(&rule("mine", magic(0, b"MINE", None), q, "F")).unwrap();
        let temp = format!("mine{TEMP_SUFFIX}");
        fs.register(&rule(&temp, magic(0, b"OTHER", None), "/bin/cat", "")).unwrap();
        let err = replace(&fs, "mine", &rule("mine", magic(0, b"MINE", None), q, "PF")).unwrap_err();
        assert_eq!(err.kind(), binfmt_misc::ErrorKind::Exists, "{err}");
        let other = fs.entry(&temp).unwrap().unwrap().entry;
        assert_eq!(other.interpreter, Path::new("/bin/cat"), "the other entry is untouched");
        let mine = fs.entry("mine").unwrap().unwrap().entry;
        assert_eq!(mine.flags.to_string(), "F", "the replaced entry is unchanged");
    }
}
