//! Gapless replacement while binaries keep executing, and `apply` end to end.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use binfmt_misc::{Action, Change, Difference, Entry, TEMP_SUFFIX, Watcher, apply, plan, replace};
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
    /// Plan against the real entries, apply, and re-plan: the second plan is empty and applying it
    /// writes nothing (no inotify event at all).
    fn apply_plan_then_nothing_left_to_do(mnt: &Path) {
        let fs = open(mnt);
        let q = qemu_aarch64();
        let q = q.to_str().unwrap();
        fs.register(&rule("keep", magic(0, b"KEEP", None), q, "F")).unwrap();
        fs.register(&rule("change", magic(0, b"CHG", None), "/old/interp", "")).unwrap();
        fs.register(&rule("off", magic(0, b"OFF", None), q, "F")).unwrap();
        fs.disable("off").unwrap();
        fs.register(&rule("stale", magic(0, b"STALE", None), q, "")).unwrap();
        fs.register(&rule("foreign", magic(0, b"X", None), q, "")).unwrap();
        let desired = vec![
            rule("keep", magic(0, b"KEEP", None), q, "F"),
            rule("change", magic(0, b"CHG", None), q, "F"),
            rule("off", magic(0, b"OFF", None), q, "F"),
            rule("new", magic(0, b"NEW", None), q, "F"),
        ];
        let current = |fs: &binfmt_misc::BinfmtMisc| -> Vec<Entry> {
            fs.entries().unwrap().into_iter().map(|i| i.entry).collect()
        };
        let p = plan(&desired, &current(&fs), &["stale"]);
        let actions: Vec<(&str, &Action)> = p.steps.iter().map(|s| (s.name.as_str(), &s.action)).collect();
        assert_eq!(actions, [
            ("keep", &Action::Keep),
            ("change", &Action::Replace { reasons: vec![Difference::Interpreter, Difference::Flags] }),
            ("off", &Action::Replace { reasons: vec![Difference::Disabled] }),
            ("new", &Action::Add),
            ("stale", &Action::Remove),
        ]);
        let outcomes = apply(&p, &fs);
        assert_eq!(outcomes.len(), 5);
        for o in &outcomes {
            assert!(o.result.is_ok(), "{}: {:?}", o.name, o.result);
        }
        let mut names: Vec<String> = current(&fs).into_iter().map(|e| e.name).collect();
        names.sort();
        assert_eq!(names, ["change", "foreign", "keep", "new", "off"]);
        assert!(!names.iter().any(|n| n.ends_with(TEMP_SUFFIX)));

        let again = plan(&desired, &current(&fs), &["stale"]);
        assert!(again.is_empty(), "{again:?}");
        let watcher = Watcher::new(mnt).unwrap();
        let outcomes = apply(&again, &fs);
        assert!(outcomes.iter().all(|o| o.result.is_ok() && o.action == Action::Keep));
        let events: Vec<Change> = watcher.read_events().unwrap();
        assert_eq!(events, [], "an empty plan must not write");
    }
}

binfmtd_tests::sandbox_test! {
    /// One invalid rule: nothing at all is written.
    fn apply_validates_everything_before_writing(mnt: &Path) {
        let fs = open(mnt);
        let q = qemu_aarch64();
        let desired = vec![
            rule("good", magic(0, b"G", None), q.to_str().unwrap(), "F"),
            rule("bad", magic(250, b"0123456789", None), q.to_str().unwrap(), "F"),
        ];
        let p = plan(&desired, &[], &[]);
        let watcher = Watcher::new(mnt).unwrap();
        let outcomes = apply(&p, &fs);
        assert_eq!(outcomes.len(), 1);
        assert_eq!(outcomes[0].name, "bad");
        assert_eq!(outcomes[0].result.as_ref().unwrap_err().kind(), binfmt_misc::ErrorKind::Rule);
        assert_eq!(watcher.read_events().unwrap(), []);
        assert!(fs.entries().unwrap().is_empty());
    }
}
