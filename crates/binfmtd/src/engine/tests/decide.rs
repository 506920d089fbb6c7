//! Each policy of `decide::install` and `decide::uninstall`, one test per rule.

use elf_magic::Target;

use super::*;
use crate::engine::facts::UninstallIntent;
use crate::engine::owner::Owner;
use crate::engine::plan::{Step, StoreAction};
use crate::engine::why::Why;

const SHA: &str = "aa";

fn aarch64(explicit: bool) -> TargetFacts {
    wanted(Target::Aarch64, explicit, Ok(source(Target::Aarch64, SHA)))
}

#[test]
fn a_new_target_is_added_and_its_interpreter_linked() {
    let d = World::new(vec![aarch64(false)]).decide(Mode::AllOrNothing);
    let e = of(&d, "qemu-aarch64");
    assert_eq!(e.step, Step::Add);
    assert_eq!(
        e.rule.as_ref().map(|r| r.interpreter.clone()),
        Some(PathBuf::from(STORE).join("qemu-aarch64"))
    );
    assert_eq!(d.store.actions.len(), 1);
    assert!(
        matches!(&d.store.actions[0], StoreAction::Stage(s) if s.link && s.binary == "qemu-aarch64")
    );
    assert!(!d.failed() && d.changes());
}

#[test]
fn an_exact_pinned_entry_is_kept_and_nothing_written() {
    let rule = our_rule(Target::Aarch64);
    let src = source(Target::Aarch64, SHA);
    let d = World::new(vec![aarch64(false)])
        .with_entries(std::slice::from_ref(&rule))
        .pinned(&rule, SHA)
        .managed("qemu-aarch64", SHA, Some(src.file.clone()))
        .decide(Mode::AllOrNothing);
    assert_eq!(of(&d, "qemu-aarch64").step, Step::Keep);
    assert!(!d.changes(), "{d:#?}");
    // The managed copy deleted: it is put back, the entry (pinning the same bytes) kept.
    let d = World::new(vec![aarch64(false)])
        .with_entries(std::slice::from_ref(&rule))
        .pinned(&rule, SHA)
        .decide(Mode::AllOrNothing);
    assert_eq!(of(&d, "qemu-aarch64").step, Step::Keep);
    assert!(matches!(&d.store.actions[..], [StoreAction::Stage(_)]));
}

#[test]
fn native_targets_are_skipped_never_registered() {
    let d = World::new(vec![wanted(Target::X86_64, true, Err(Problem::NotNeeded))])
        .decide(Mode::AllOrNothing);
    let e = of(&d, "qemu-x86_64");
    assert_eq!((e.step, why_code(e)), (Step::Skip, "native"));
    assert!(!d.failed());
}

#[test]
fn a_missing_interpreter_skips_under_all_and_fails_when_named() {
    for (explicit, step) in [(false, Step::Skip), (true, Step::Fail)] {
        let d = World::new(vec![wanted(
            Target::Riscv64,
            explicit,
            Err(Problem::NotFound),
        )])
        .decide(Mode::AllOrNothing);
        let e = of(&d, "qemu-riscv64");
        assert_eq!((e.step, why_code(e)), (step, "no-interpreter"));
        let text = e.why.as_ref().map(ToString::to_string).unwrap_or_default();
        assert!(
            text.contains("qemu-user-static") && text.contains("[target.riscv64]"),
            "{text}"
        );
    }
    let d =
        World::new(vec![wanted(Target::Riscv64, true, Err(unusable()))]).decide(Mode::AllOrNothing);
    assert!(
        of(&d, "qemu-riscv64")
            .why
            .as_ref()
            .unwrap()
            .to_string()
            .contains("/nope")
    );
}

#[test]
fn a_row_matching_the_host_is_refused() {
    let mut t = wanted(Target::X86_64, true, Ok(source(Target::X86_64, SHA)));
    t.nativity = Nativity::Unknown;
    let d = World::new(vec![t]).decide(Mode::AllOrNothing);
    let e = of(&d, "qemu-x86_64");
    assert_eq!((e.step, why_code(e)), (Step::Fail, "hijacks-host"));
}

#[test]
fn own_entries_are_enabled_replaced_or_refreshed() {
    let rule = our_rule(Target::Aarch64);
    let src = source(Target::Aarch64, SHA);
    let base =
        || World::new(vec![aarch64(false)]).managed("qemu-aarch64", SHA, Some(src.file.clone()));
    // Disabled only: re-enabled.
    let mut w = base()
        .with_entries(std::slice::from_ref(&rule))
        .pinned(&rule, SHA);
    w.facts.kernel.entries[0].entry.enabled = false;
    assert_eq!(
        of(&w.decide(Mode::AllOrNothing), "qemu-aarch64").step,
        Step::Enable
    );
    // Other flags: replaced with the difference.
    let other = rule_of(
        Target::Aarch64,
        "qemu-aarch64",
        &rule.interpreter.display().to_string(),
        "F",
    );
    let d = base()
        .with_entries(&[other])
        .pinned(&rule, SHA)
        .decide(Mode::AllOrNothing);
    let e = of(&d, "qemu-aarch64");
    assert_eq!((e.step, why_code(e)), (Step::Replace, "differs"));
    // Exact, but the kernel pins an older file: replaced, even when it is also disabled (a mere
    // enable would keep the old file).
    let mut w = base()
        .with_entries(std::slice::from_ref(&rule))
        .pinned(&rule, "old");
    w.facts.kernel.entries[0].entry.enabled = false;
    let e = of(&w.decide(Mode::AllOrNothing), "qemu-aarch64").clone();
    assert_eq!(
        (e.step, why_code(&e)),
        (Step::Replace, "interpreter-updated")
    );
}

#[test]
fn the_distribution_s_entry_is_adopted_or_left() {
    let distro = rule_of(
        Target::Aarch64,
        "qemu-aarch64",
        "/usr/libexec/qemu-binfmt/aarch64-binfmt-P",
        "POF",
    );
    let d = World::new(vec![aarch64(false)])
        .with_entries(std::slice::from_ref(&distro))
        .decide(Mode::AllOrNothing);
    let e = of(&d, "qemu-aarch64");
    assert_eq!((e.step, why_code(e)), (Step::Replace, "take-over"));
    assert!(matches!(
        e.why,
        Some(Why::TakeOver {
            owner: Owner::Distribution,
            entry: None
        })
    ));

    let mut t = aarch64(false);
    t.distribution = Distribution::Leave;
    let d = World::new(vec![t])
        .with_entries(&[distro])
        .decide(Mode::AllOrNothing);
    let e = of(&d, "qemu-aarch64");
    assert_eq!((e.step, why_code(e)), (Step::Skip, "owned-by-other"));
}

#[test]
fn a_distribution_entry_under_another_name_is_removed_once_ours_serves() {
    let fedora = rule_of(
        Target::Aarch64,
        "qemu-aarch64-static",
        "/usr/bin/qemu-aarch64-static",
        "F",
    );
    let d = World::new(vec![aarch64(false)])
        .with_entries(&[fedora])
        .decide(Mode::AllOrNothing);
    assert_eq!(of(&d, "qemu-aarch64").step, Step::Add);
    let e = of(&d, "qemu-aarch64-static");
    assert_eq!((e.step, why_code(e)), (Step::Remove, "take-over"));
}

#[test]
fn another_tool_s_entry_is_left_unless_told() {
    let theirs = rule_of(
        Target::Aarch64,
        "qemu-aarch64",
        "/opt/qemu/bin/qemu-aarch64",
        "F",
    );
    for (explicit, step) in [(false, Step::Skip), (true, Step::Fail)] {
        let d = World::new(vec![aarch64(explicit)])
            .with_entries(std::slice::from_ref(&theirs))
            .decide(Mode::AllOrNothing);
        let e = of(&d, "qemu-aarch64");
        assert_eq!((e.step, why_code(e)), (step, "owned-by-other"));
        assert!(e.why.as_ref().unwrap().to_string().contains("--force"));
    }
    let mut t = aarch64(true);
    t.others = Others::Replace;
    let d = World::new(vec![t])
        .with_entries(&[theirs])
        .decide(Mode::AllOrNothing);
    assert_eq!(of(&d, "qemu-aarch64").step, Step::Replace);
}

#[test]
fn under_all_a_target_another_emulator_serves_is_skipped() {
    // FEX-like: the x86_64 row, bytes 8..=10 ignored, on an arm64 host.
    let w = fex_on_arm64();
    let d = w.decide(Mode::AllOrNothing);
    let e = of(&d, "qemu-x86_64");
    assert_eq!((e.step, why_code(e)), (Step::Skip, "served-by-other"));
    assert!(e.why.as_ref().unwrap().to_string().contains("FEX-x86_64"));
    // Named explicitly: ours is added (and wins, registered last), FEX left in place.
    let mut w = w;
    w.facts.targets[0].explicit = true;
    let d = w.decide(Mode::AllOrNothing);
    assert_eq!(of(&d, "qemu-x86_64").step, Step::Add);
    assert!(
        d.entries.iter().all(|e| e.name != "FEX-x86_64"),
        "FEX is never removed"
    );
    assert!(
        of(&d, "qemu-x86_64")
            .notes
            .iter()
            .any(|n| n.contains("FEX-x86_64"))
    );
}

/// Bug 1: an `[[entry]]` binfmtd registered is its own on the next run.
#[test]
fn a_configured_entry_binfmtd_registered_is_kept() {
    let ext = binfmt_misc::Rule {
        name: "myext".into(),
        matcher: binfmt_misc::Matcher::Extension("zzz".into()),
        interpreter: "/bin/cat".into(),
        flags: binfmt_misc::Flags::NONE,
    };
    let first = World::new(vec![])
        .extra(ext.clone(), Vec::new())
        .decide(Mode::AllOrNothing);
    assert_eq!(of(&first, "myext").step, Step::Add);
    let mut w = World::new(vec![])
        .extra(ext.clone(), Vec::new())
        .with_entries(std::slice::from_ref(&ext));
    w.facts
        .ownership
        .registered
        .insert("myext".into(), "/bin/cat".into());
    let second = w.decide(Mode::AllOrNothing);
    assert_eq!(of(&second, "myext").step, Step::Keep);
    assert!(!second.failed());
    // Not recorded as ours: another tool's, a failure (extras are always explicit).
    let third = World::new(vec![])
        .extra(ext.clone(), Vec::new())
        .with_entries(&[ext])
        .decide(Mode::AllOrNothing);
    assert_eq!(of(&third, "myext").step, Step::Fail);
}

/// Bug 2: an `[[entry]]` matching the host's own executables is refused like a QEMU row.
#[test]
fn a_configured_entry_hijacking_the_host_is_refused() {
    let box64 = binfmt_misc::Rule {
        name: "box64".into(),
        matcher: binfmt_misc::Matcher::Magic {
            offset: 0,
            magic: b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00"
                .to_vec(),
            mask: Some(
                b"\xff\xff\xff\xff\xff\xfe\xfe\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff"
                    .to_vec(),
            ),
        },
        interpreter: "/bin/true".into(),
        flags: flags("F"),
    };
    let d = World::new(vec![])
        .extra(box64, Vec::new())
        .decide(Mode::AllOrNothing);
    let e = of(&d, "box64");
    assert_eq!((e.step, why_code(e)), (Step::Fail, "hijacks-host"));
}

#[test]
fn a_configured_entry_matching_its_own_interpreter_is_refused() {
    let rule = binfmt_misc::Rule {
        name: "loop".into(),
        matcher: binfmt_misc::Matcher::Magic {
            offset: 0,
            magic: b"#!".to_vec(),
            mask: None,
        },
        interpreter: "/usr/local/bin/script-runner".into(),
        flags: binfmt_misc::Flags::NONE,
    };
    let d = World::new(vec![])
        .extra(rule, b"#!/bin/sh\n".to_vec())
        .decide(Mode::AllOrNothing);
    assert_eq!(why_code(of(&d, "loop")), "loops");
}

/// Bug 3 and 4: a temporary entry left by a killed replace is removed when it is ours, and
/// another tool's entry under that name is never touched: the replace goes through the next
/// temporary name, and fails only when every one is taken.
#[test]
fn temporary_entries_ours_are_removed_others_block_the_replace() {
    let rule = our_rule(Target::Aarch64);
    let temp = Rule {
        name: "qemu-aarch64.binfmtd-new".into(),
        ..rule.clone()
    };
    let old = rule_of(
        Target::Aarch64,
        "qemu-aarch64",
        &rule.interpreter.display().to_string(),
        "F",
    );
    let d = World::new(vec![aarch64(true)])
        .with_entries(&[old.clone(), temp])
        .decide(Mode::AllOrNothing);
    assert_eq!(of(&d, "qemu-aarch64.binfmtd-new").step, Step::Remove);
    let pos = |n: &str| d.entries.iter().position(|e| e.name == n);
    assert!(
        pos("qemu-aarch64.binfmtd-new") < pos("qemu-aarch64"),
        "removed first"
    );
    assert!(!d.failed());

    let foreign = binfmt_misc::Rule {
        name: "qemu-aarch64.binfmtd-new".into(),
        matcher: binfmt_misc::Matcher::Extension("zzz".into()),
        interpreter: "/bin/cat".into(),
        flags: binfmt_misc::Flags::NONE,
    };
    let d = World::new(vec![aarch64(true)])
        .with_entries(&[old.clone(), foreign.clone()])
        .decide(Mode::AllOrNothing);
    let e = of(&d, "qemu-aarch64");
    assert_eq!(e.step, Step::Replace, "{e:?}");
    assert_eq!(e.temp.as_deref(), Some("qemu-aarch64.1.binfmtd-new"));
    let untouched = |d: &Decision| {
        d.entries
            .iter()
            .all(|e| !(e.name.ends_with(".binfmtd-new") && e.step == Step::Remove))
    };
    assert!(untouched(&d));

    let mut entries = vec![old];
    entries.extend(
        binfmt_misc::temp_names("qemu-aarch64")
            .into_iter()
            .map(|name| Rule {
                name,
                ..foreign.clone()
            }),
    );
    let d = World::new(vec![aarch64(true)])
        .with_entries(&entries)
        .decide(Mode::AllOrNothing);
    assert_eq!(why_code(of(&d, "qemu-aarch64")), "temporary-name-taken");
    assert!(untouched(&d));
}

#[test]
fn all_or_nothing_holds_every_change_when_one_fails() {
    let d = World::new(vec![
        aarch64(true),
        wanted(Target::Riscv64, true, Err(Problem::NotFound)),
    ])
    .decide(Mode::AllOrNothing);
    let e = of(&d, "qemu-aarch64");
    assert_eq!((e.step, why_code(e)), (Step::Skip, "held"));
    assert!(d.store.actions.is_empty(), "no file is written either");
    assert!(d.failed() && !d.changes());
    let d = World::new(vec![
        aarch64(true),
        wanted(Target::Riscv64, true, Err(Problem::NotFound)),
    ])
    .decide(Mode::BestEffort);
    assert_eq!(of(&d, "qemu-aarch64").step, Step::Add);
    assert_eq!(of(&d, "qemu-riscv64").step, Step::Fail);
}

#[test]
fn entries_the_daemon_backs_off_from_are_left_alone() {
    let theirs = rule_of(
        Target::Aarch64,
        "qemu-aarch64",
        &format!("{STORE}/qemu-aarch64"),
        "F",
    );
    let d = World::new(vec![
        aarch64(false),
        wanted(Target::Riscv64, false, Ok(source(Target::Riscv64, "bb"))),
    ])
    .with_entries(&[theirs])
    .decide_held(&["qemu-aarch64"]);
    let e = of(&d, "qemu-aarch64");
    assert_eq!((e.step, why_code(e)), (Step::Skip, "backing-off"));
    assert_eq!(
        of(&d, "qemu-riscv64").step,
        Step::Add,
        "the others are still restored"
    );
}

#[test]
fn a_changed_prefix_removes_the_old_names() {
    let old = rule_of(
        Target::Aarch64,
        "old-aarch64",
        &format!("{STORE}/qemu-aarch64"),
        "PF",
    );
    let d = World::new(vec![aarch64(false)])
        .with_entries(&[old])
        .decide(Mode::AllOrNothing);
    assert_eq!(of(&d, "qemu-aarch64").step, Step::Add);
    let e = of(&d, "old-aarch64");
    assert_eq!((e.step, why_code(e)), (Step::Remove, "renamed"));
}

#[test]
fn a_touched_source_with_the_same_bytes_is_only_recorded() {
    let rule = our_rule(Target::Aarch64);
    let mut old_identity = source(Target::Aarch64, SHA).file;
    old_identity.mtime.sec = 0;
    let d = World::new(vec![aarch64(false)])
        .with_entries(std::slice::from_ref(&rule))
        .pinned(&rule, SHA)
        .managed("qemu-aarch64", SHA, Some(old_identity))
        .decide(Mode::AllOrNothing);
    assert_eq!(
        of(&d, "qemu-aarch64").step,
        Step::Keep,
        "same bytes: no re-registration"
    );
    assert!(
        matches!(&d.store.actions[..], [StoreAction::Record { .. }]),
        "only the new identity is recorded"
    );
}

#[test]
fn a_disabled_instance_is_a_problem_but_entries_still_converge() {
    let mut w = World::new(vec![aarch64(false)]);
    w.facts.kernel.enabled = false;
    let d = w.decide(Mode::AllOrNothing);
    assert_eq!(of(&d, "qemu-aarch64").step, Step::Add);
    assert!(d.failed());
    assert!(d.problems[0].to_string().contains("echo 1 >"));
}

#[test]
fn an_unwritable_instance_fails_every_change_once() {
    let mut w = World::new(vec![
        aarch64(false),
        wanted(Target::Riscv64, false, Ok(source(Target::Riscv64, "bb"))),
    ]);
    w.facts.kernel.not_writable = Some(std::sync::Arc::new(binfmt_misc::Error::ReadOnly {
        path: "/m/register".into(),
    }));
    let d = w.decide(Mode::BestEffort);
    assert!(
        d.entries
            .iter()
            .all(|e| e.step == Step::Fail && why_code(e) == "cannot-write")
    );
    assert_eq!(d.problems.len(), 1, "said once");
    assert!(
        d.store.actions.is_empty(),
        "no interpreter is copied for nothing"
    );
}

#[test]
fn uninstall_removes_ours_and_skips_others_unless_forced() {
    let ours = our_rule(Target::Aarch64);
    let theirs = rule_of(
        Target::Riscv64,
        "qemu-riscv64",
        "/usr/bin/qemu-riscv64-static",
        "F",
    );
    let w = World::new(vec![]).with_entries(&[ours, theirs]);
    let selected = vec!["qemu-aarch64".to_string(), "qemu-riscv64".to_string()];
    let d = crate::engine::decide::uninstall(
        &w.facts,
        &UninstallIntent {
            selected: selected.clone(),
            any_owner: false,
        },
    );
    assert_eq!(
        names(&d),
        [
            ("qemu-aarch64".to_string(), Step::Remove),
            ("qemu-riscv64".to_string(), Step::Skip)
        ]
    );
    let d = crate::engine::decide::uninstall(
        &w.facts,
        &UninstallIntent {
            selected,
            any_owner: true,
        },
    );
    assert!(d.entries.iter().all(|e| e.step == Step::Remove));
}

/// The host's manager: the distribution's entry is adopted and its binfmt.d file masked; a
/// target left to FEX, or whose distribution entries are to be left alone, keeps its file.
#[test]
fn the_manager_adopts_distribution_entries_and_masks_their_binfmt_d_files() {
    use crate::engine::masks::{MaskFacts, VendorFile};
    let vendor = |name: &str, t: Target| VendorFile {
        name: name.into(),
        targets: Some([t].into()),
    };
    let mut riscv = wanted(Target::Riscv64, false, Ok(source(Target::Riscv64, SHA)));
    riscv.distribution = crate::config::Distribution::Leave;
    let distro_aarch64 = rule_of(
        Target::Aarch64,
        "qemu-aarch64",
        "/usr/libexec/qemu-binfmt/aarch64-binfmt-P",
        "POF",
    );
    let mut w = World::new(vec![aarch64(false), riscv]).with_entries(&[distro_aarch64]);
    w.facts.masks = Some(MaskFacts {
        etc: "/etc/binfmt.d".into(),
        vendor: vec![
            vendor("qemu-aarch64.conf", Target::Aarch64),
            vendor("qemu-riscv64.conf", Target::Riscv64),
            VendorFile {
                name: "python3.11.conf".into(),
                targets: None,
            },
        ],
        ..MaskFacts::default()
    });
    let d = w.decide(Mode::BestEffort);
    let e = of(&d, "qemu-aarch64");
    assert_eq!(e.step, Step::Replace, "adopted");
    let masked: Vec<&str> = d.masks.create.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(masked, ["qemu-aarch64.conf"]);
    // Without the manager's facts (`install`, `exec`), binfmt.d is never touched.
    w.facts.masks = None;
    assert!(!w.decide(Mode::BestEffort).masks.changes());
}

#[test]
fn a_target_served_by_fex_keeps_the_distributions_file() {
    use crate::engine::masks::{MaskFacts, VendorFile};
    let mut w = fex_on_arm64();
    w.facts.masks = Some(MaskFacts {
        etc: "/etc/binfmt.d".into(),
        vendor: vec![VendorFile {
            name: "qemu-x86_64.conf".into(),
            targets: Some([Target::X86_64].into()),
        }],
        ..MaskFacts::default()
    });
    let d = w.decide(Mode::BestEffort);
    assert_eq!(of(&d, "qemu-x86_64").step, Step::Skip);
    assert!(d.masks.create.is_empty());
}

#[test]
fn uninstall_removes_the_masks_of_the_targets_it_stops_serving() {
    use crate::engine::masks::{EtcFile, MaskFacts};
    let ours = our_rule(Target::Aarch64);
    let mut w = World::new(vec![]).with_entries(std::slice::from_ref(&ours));
    w.facts.masks = Some(MaskFacts {
        etc: "/etc/binfmt.d".into(),
        etc_files: [("qemu-aarch64.conf".to_string(), EtcFile::Mask)].into(),
        ours: ["qemu-aarch64.conf".to_string()].into(),
        vendor: vec![crate::engine::masks::VendorFile {
            name: "qemu-aarch64.conf".into(),
            targets: Some([Target::Aarch64].into()),
        }],
    });
    let keep = crate::engine::decide::uninstall(
        &w.facts,
        &UninstallIntent {
            selected: vec![],
            any_owner: false,
        },
    );
    assert!(!keep.masks.changes(), "aarch64 still served");
    let all = crate::engine::decide::uninstall(
        &w.facts,
        &UninstallIntent {
            selected: vec![ours.name.clone()],
            any_owner: false,
        },
    );
    assert_eq!(all.masks.remove, ["qemu-aarch64.conf"]);
}

/// An arm64 host that wants x86_64 (not named) where a FEX-like entry already serves it.
fn fex_on_arm64() -> World {
    let mut w = World::new(vec![wanted(
        Target::X86_64,
        false,
        Ok(source(Target::X86_64, SHA)),
    )]);
    w.facts.host = host("6.12.0");
    w.facts.host.native = Some(Target::Aarch64);
    w.facts.host.exe_header = Vec::new();
    w.facts.targets[0].nativity = Nativity::Foreign;
    let fex = rule_of(
        Target::X86_64,
        "FEX-x86_64",
        "/usr/bin/FEXInterpreter",
        "POCF",
    );
    w.with_entries(&[fex])
}
