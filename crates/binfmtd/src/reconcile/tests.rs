//! Unit tests of [`super::decide`] and [`super::force_refresh`]: one per policy branch, with host
//! facts and kernel entries built by hand.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use binfmt_misc::{Action as PlanAction, Entry, EntryInfo, Flags, RegistrationStamp, Rule};
use elf_magic::Target;

use super::*;
use crate::config::Others;
use crate::host::{HostFacts, Nativity};
use crate::report::Action;

const STORE: &str = "/var/lib/binfmtd/interpreters";

fn flags(s: &str) -> Flags {
    s.parse().unwrap()
}

/// An x86_64 host whose own executable is an x86_64 ELF; i386 probed native, i486 unknown.
fn x86_64_host() -> HostFacts {
    HostFacts {
        machine: "x86_64".into(),
        native: Some(Target::X86_64),
        exe_header: Target::X86_64.primary_row().magic.to_vec(),
        compat: BTreeMap::from([
            (Target::I386, Nativity::Native),
            (Target::I486, Nativity::Unknown),
        ]),
        initial_user_namespace: true,
        kernel_passes_preserve_argv0: true,
    }
}

fn interpreter(target: Target) -> Interpreter {
    Interpreter {
        path: Path::new(STORE).join(target.qemu_binary()),
        sha256: Some("ab".repeat(32)),
        version: Some("7.2".into()),
    }
}

fn wanted(target: Target, explicit: bool, others: Others) -> Wanted {
    Wanted {
        target,
        explicit,
        interpreter: Ok(interpreter(target)),
        flags: flags("PF"),
        others,
    }
}

/// The kernel's entry for `target`'s primary row, named `name`, running `interp` with `f`.
fn entry(name: &str, target: Target, interp: &str, f: &str) -> EntryInfo {
    let rule = row_rule(
        name.into(),
        target.primary_row(),
        PathBuf::from(interp),
        flags(f),
    );
    EntryInfo {
        entry: Entry::from_rule(&rule),
        registered: RegistrationStamp {
            ctime_sec: 1,
            ctime_nsec: 0,
            inode: 1,
        },
    }
}

fn ours(e: &Entry) -> bool {
    e.interpreter.starts_with(STORE)
}

fn decide_with(
    wanted: &[Wanted],
    extras: &[Extra],
    host: &HostFacts,
    current: &[EntryInfo],
) -> Decision {
    decide(
        wanted,
        extras,
        "qemu-",
        host,
        &Current {
            entries: current,
            is_ours: &ours,
        },
    )
}

fn report<'a>(d: &'a Decision, name: &str) -> &'a crate::report::EntryReport {
    d.reports
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no report for {name}: {:?}", d.reports))
}

fn step<'a>(d: &'a Decision, name: &str) -> Option<&'a binfmt_misc::Step> {
    d.plan.steps.iter().find(|s| s.name == name)
}

#[test]
fn native_targets_are_skipped_with_a_reason_and_planned_nothing() {
    let host = x86_64_host();
    let d = decide_with(
        &[
            wanted(Target::X86_64, true, Others::Leave),
            wanted(Target::I386, true, Others::Leave),
        ],
        &[],
        &host,
        &[],
    );
    for name in ["qemu-x86_64", "qemu-i386"] {
        let r = report(&d, name);
        assert_eq!(r.action, Action::Skipped);
        assert!(r.reason.as_deref().unwrap().starts_with("native"), "{r:?}");
    }
    assert!(d.plan.steps.is_empty() && !d.failed());
}

#[test]
fn a_compat_target_of_unknown_nativity_is_emulated() {
    let d = decide_with(
        &[wanted(Target::I486, false, Others::Leave)],
        &[],
        &x86_64_host(),
        &[],
    );
    assert_eq!(report(&d, "qemu-i486").action, Action::Added);
}

#[test]
fn a_missing_interpreter_fails_when_explicit_and_is_skipped_under_all() {
    let host = x86_64_host();
    for (explicit, action) in [(true, Action::Failed), (false, Action::Skipped)] {
        let w = Wanted {
            interpreter: Err("no interpreter for aarch64".into()),
            ..wanted(Target::Aarch64, explicit, Others::Leave)
        };
        let d = decide_with(&[w], &[], &host, &[]);
        let r = report(&d, "qemu-aarch64");
        assert_eq!(r.action, action);
        assert_eq!(r.reason.as_deref(), Some("no interpreter for aarch64"));
        assert_eq!(d.failed(), explicit);
        assert!(d.plan.steps.is_empty());
    }
}

#[test]
fn a_row_matching_binfmtds_own_executable_is_refused() {
    // A host whose own binary looks like aarch64 code, but which `uname` did not identify.
    let host = HostFacts {
        native: None,
        exe_header: Target::Aarch64.primary_row().magic.to_vec(),
        ..x86_64_host()
    };
    let d = decide_with(
        &[wanted(Target::Aarch64, false, Others::Leave)],
        &[],
        &host,
        &[],
    );
    let r = report(&d, "qemu-aarch64");
    assert_eq!(r.action, Action::Failed);
    assert!(r.reason.as_deref().unwrap().contains("refusing"), "{r:?}");
    assert!(step(&d, "qemu-aarch64").is_none());
}

#[test]
fn a_new_entry_is_added_with_flags_interpreter_digest_and_version() {
    let d = decide_with(
        &[wanted(Target::Aarch64, true, Others::Leave)],
        &[],
        &x86_64_host(),
        &[],
    );
    let r = report(&d, "qemu-aarch64");
    assert_eq!(r.action, Action::Added);
    assert_eq!(r.flags.as_deref(), Some("PF"));
    assert_eq!(
        r.interpreter,
        Some(PathBuf::from(STORE).join("qemu-aarch64"))
    );
    assert_eq!(r.sha256.as_deref().map(str::len), Some(64));
    assert_eq!(r.version.as_deref(), Some("7.2"));
    assert_eq!(step(&d, "qemu-aarch64").unwrap().action, PlanAction::Add);
}

#[test]
fn an_identical_entry_of_ours_is_kept_and_the_plan_writes_nothing() {
    let current = [entry(
        "qemu-aarch64",
        Target::Aarch64,
        &format!("{STORE}/qemu-aarch64"),
        "PF",
    )];
    let d = decide_with(
        &[wanted(Target::Aarch64, true, Others::Leave)],
        &[],
        &x86_64_host(),
        &current,
    );
    assert_eq!(report(&d, "qemu-aarch64").action, Action::Kept);
    assert_eq!(step(&d, "qemu-aarch64").unwrap().action, PlanAction::Keep);
    assert!(d.plan.is_empty());
}

#[test]
fn an_entry_of_ours_that_differs_is_replaced_with_the_difference_as_reason() {
    let current = [entry(
        "qemu-aarch64",
        Target::Aarch64,
        &format!("{STORE}/qemu-aarch64"),
        "F",
    )];
    let d = decide_with(
        &[wanted(Target::Aarch64, true, Others::Leave)],
        &[],
        &x86_64_host(),
        &current,
    );
    let r = report(&d, "qemu-aarch64");
    assert_eq!(r.action, Action::Replaced);
    assert_eq!(r.reason.as_deref(), Some("flags differ"));
    assert!(matches!(
        step(&d, "qemu-aarch64").unwrap().action,
        PlanAction::Replace { .. }
    ));
}

#[test]
fn another_tools_same_name_entry_is_left_failing_when_explicit_skipped_under_all() {
    let current = [entry(
        "qemu-aarch64",
        Target::Aarch64,
        "/usr/bin/qemu-aarch64-static",
        "F",
    )];
    for (explicit, action) in [(true, Action::Failed), (false, Action::Skipped)] {
        let d = decide_with(
            &[wanted(Target::Aarch64, explicit, Others::Leave)],
            &[],
            &x86_64_host(),
            &current,
        );
        let r = report(&d, "qemu-aarch64");
        assert_eq!(r.action, action);
        let why = r.reason.as_deref().unwrap();
        assert!(
            why.contains("another tool") && why.contains("--force"),
            "{why}"
        );
        assert!(
            step(&d, "qemu-aarch64").is_none(),
            "no step for someone else's entry"
        );
    }
}

#[test]
fn others_replace_takes_over_the_same_name_and_removes_overlapping_entries() {
    let current = [
        entry(
            "qemu-aarch64",
            Target::Aarch64,
            "/usr/bin/qemu-aarch64-static",
            "F",
        ),
        entry(
            "aarch64-distro",
            Target::Aarch64,
            "/usr/bin/qemu-aarch64-static",
            "F",
        ),
        entry(
            "riscv64-distro",
            Target::Riscv64,
            "/usr/bin/qemu-riscv64-static",
            "F",
        ),
    ];
    let d = decide_with(
        &[wanted(Target::Aarch64, true, Others::Replace)],
        &[],
        &x86_64_host(),
        &current,
    );
    let r = report(&d, "qemu-aarch64");
    assert_eq!(r.action, Action::Replaced);
    assert!(
        r.reason
            .as_deref()
            .unwrap()
            .starts_with("taking over another tool's entry"),
        "{r:?}"
    );
    assert_eq!(report(&d, "aarch64-distro").action, Action::Removed);
    assert_eq!(
        step(&d, "aarch64-distro").unwrap().action,
        PlanAction::Remove
    );
    assert!(
        step(&d, "riscv64-distro").is_none(),
        "a non-overlapping entry is left alone"
    );
    assert!(!d.failed());
}

#[test]
fn others_replace_never_removes_our_own_overlapping_entries() {
    let current = [entry(
        "mine-too",
        Target::Aarch64,
        &format!("{STORE}/qemu-aarch64"),
        "PF",
    )];
    let d = decide_with(
        &[wanted(Target::Aarch64, true, Others::Replace)],
        &[],
        &x86_64_host(),
        &current,
    );
    assert!(step(&d, "mine-too").is_none());
    assert_eq!(report(&d, "qemu-aarch64").action, Action::Added);
}

#[test]
fn extra_entries_are_decided_like_explicit_ones() {
    let rule = Rule {
        name: "FEX-x86_64".into(),
        matcher: binfmt_misc::Matcher::Extension("fex".into()),
        interpreter: PathBuf::from("/usr/bin/FEXInterpreter"),
        flags: flags("POCF"),
    };
    let extra = Extra {
        rule: rule.clone(),
        others: Others::Leave,
    };
    let d = decide_with(&[], std::slice::from_ref(&extra), &x86_64_host(), &[]);
    let r = report(&d, "FEX-x86_64");
    assert_eq!((r.action, r.target.as_deref()), (Action::Added, None));
    // Someone else's entry under that name (our ownership test says "not ours"): a failure.
    let current = [EntryInfo {
        entry: Entry::from_rule(&rule),
        registered: RegistrationStamp {
            ctime_sec: 1,
            ctime_nsec: 0,
            inode: 7,
        },
    }];
    let d = decide_with(&[], &[extra], &x86_64_host(), &current);
    assert_eq!(report(&d, "FEX-x86_64").action, Action::Failed);
}

#[test]
fn force_refresh_turns_a_keep_into_a_replace_and_leaves_other_steps() {
    let current = [entry(
        "qemu-aarch64",
        Target::Aarch64,
        &format!("{STORE}/qemu-aarch64"),
        "PF",
    )];
    let mut d = decide_with(
        &[
            wanted(Target::Aarch64, true, Others::Leave),
            wanted(Target::Riscv64, true, Others::Leave),
        ],
        &[],
        &x86_64_host(),
        &current,
    );
    assert!(d.plan.steps.len() == 2);
    force_refresh(&mut d, "qemu-aarch64", "interpreter updated on disk");
    force_refresh(&mut d, "qemu-riscv64", "interpreter updated on disk");
    let r = report(&d, "qemu-aarch64");
    assert_eq!(
        (r.action, r.reason.as_deref()),
        (Action::Replaced, Some("interpreter updated on disk"))
    );
    assert!(matches!(
        step(&d, "qemu-aarch64").unwrap().action,
        PlanAction::Replace { .. }
    ));
    assert_eq!(
        report(&d, "qemu-riscv64").action,
        Action::Added,
        "an add stays an add"
    );
    assert_eq!(step(&d, "qemu-riscv64").unwrap().action, PlanAction::Add);
}

#[test]
fn a_new_entry_reports_the_other_tools_overlapping_entry_and_wins() {
    let distro = entry(
        "qemu-aarch64-distro",
        Target::Aarch64,
        "/usr/bin/qemu-aarch64-static",
        "F",
    );
    let d = decide_with(
        &[wanted(Target::Aarch64, true, Others::Leave)],
        &[],
        &x86_64_host(),
        &[distro],
    );
    let report = d.reports.iter().find(|r| r.name == "qemu-aarch64").unwrap();
    assert_eq!(report.action, Action::Added);
    let reason = report.reason.as_deref().unwrap();
    assert!(
        reason.contains("also matched by qemu-aarch64-distro"),
        "{reason}"
    );
    assert!(reason.contains("the kernel uses qemu-aarch64"), "{reason}");
    assert!(
        d.plan.steps.iter().all(|s| s.name != "qemu-aarch64-distro"),
        "others = leave never touches the other tool's entry"
    );
}

#[test]
fn a_kept_entry_shadowed_by_a_later_foreign_one_says_so() {
    let mine = entry(
        "qemu-aarch64",
        Target::Aarch64,
        &format!("{STORE}/qemu-aarch64"),
        "PF",
    );
    let mut later = entry(
        "qemu-aarch64-distro",
        Target::Aarch64,
        "/usr/bin/qemu-aarch64-static",
        "F",
    );
    later.registered.ctime_sec = 2;
    let d = decide_with(
        &[wanted(Target::Aarch64, true, Others::Leave)],
        &[],
        &x86_64_host(),
        &[mine.clone(), later.clone()],
    );
    let report = d.reports.iter().find(|r| r.name == "qemu-aarch64").unwrap();
    assert_eq!(report.action, Action::Kept);
    assert!(
        report
            .reason
            .as_deref()
            .unwrap()
            .contains("shadowed by qemu-aarch64-distro")
    );
    // Registered before the other tool's: ours is the one in use, and the note says so.
    let mut earlier = later;
    earlier.registered.ctime_sec = 0;
    let d = decide_with(
        &[wanted(Target::Aarch64, true, Others::Leave)],
        &[],
        &x86_64_host(),
        &[mine, earlier],
    );
    let report = d.reports.iter().find(|r| r.name == "qemu-aarch64").unwrap();
    assert!(
        report
            .reason
            .as_deref()
            .unwrap()
            .contains("the kernel uses qemu-aarch64")
    );
}

#[test]
fn a_temporary_entry_left_by_an_interrupted_replace_is_removed() {
    let mine = entry(
        "qemu-aarch64",
        Target::Aarch64,
        &format!("{STORE}/qemu-aarch64"),
        "PF",
    );
    let left = entry(
        &binfmt_misc::temp_name("qemu-aarch64"),
        Target::Aarch64,
        &format!("{STORE}/qemu-aarch64"),
        "PF",
    );
    let d = decide_with(
        &[wanted(Target::Aarch64, true, Others::Leave)],
        &[],
        &x86_64_host(),
        &[mine, left.clone()],
    );
    let steps: Vec<(&str, &PlanAction)> = d
        .plan
        .steps
        .iter()
        .map(|s| (s.name.as_str(), &s.action))
        .collect();
    assert_eq!(steps[0], ("qemu-aarch64", &PlanAction::Keep), "{steps:?}");
    assert_eq!(
        steps[1],
        (left.entry.name.as_str(), &PlanAction::Remove),
        "{steps:?}"
    );
    // Another tool's entry with that name is not ours to remove.
    let foreign = entry(
        &binfmt_misc::temp_name("qemu-aarch64"),
        Target::Aarch64,
        "/usr/bin/qemu-aarch64-static",
        "F",
    );
    let d = decide_with(
        &[wanted(Target::Aarch64, true, Others::Leave)],
        &[],
        &x86_64_host(),
        &[foreign],
    );
    assert!(d.plan.steps.iter().all(|s| s.action != PlanAction::Remove));
}
