//! Kernel generations and resources: flags by release, space for copies, the 7.3 interpreter
//! limit.

use elf_magic::Target;

use super::*;
use crate::engine::plan::{InstanceProblem, Step, StoreAction};

fn copy(target: Target, size: u64) -> TargetFacts {
    let mut s = source(target, "cc");
    s.placement = Placement::Store { linkable: false };
    s.file.size = size;
    wanted(target, false, Ok(s))
}

#[test]
fn p_is_dropped_before_5_12_with_one_warning() {
    let mut w = World::new(vec![
        wanted(Target::Aarch64, false, Ok(source(Target::Aarch64, "a"))),
        wanted(Target::Riscv64, false, Ok(source(Target::Riscv64, "b"))),
    ]);
    w.facts.host = host("5.10.223");
    let d = w.decide(Mode::AllOrNothing);
    let flags: Vec<String> = d
        .entries
        .iter()
        .filter_map(|e| e.rule.as_ref().map(|r| r.flags.to_string()))
        .collect();
    assert_eq!(flags, ["F", "F"]);
    assert_eq!(d.warnings.len(), 1);
    assert!(d.warnings[0].contains("5.12"));
}

#[test]
fn flags_the_kernel_does_not_know_fail() {
    let mut t = wanted(Target::Aarch64, true, Ok(source(Target::Aarch64, "a")));
    t.flags = flags("PFT");
    let d = World::new(vec![t.clone()]).decide(Mode::AllOrNothing);
    let e = of(&d, "qemu-aarch64");
    assert_eq!((e.step, why_code(e)), (Step::Fail, "flags-unsupported"));
    let mut w = World::new(vec![t]);
    w.facts.host = host("7.3.0");
    assert_eq!(
        of(&w.decide(Mode::AllOrNothing), "qemu-aarch64").step,
        Step::Add
    );
}

/// Bug 9: copies that do not fit fail their entries with one cause; links need no space, so
/// they are still served (best effort, the daemon at boot).
#[test]
fn copies_that_do_not_fit_fail_once_and_links_go_on() {
    let mut w = World::new(vec![
        copy(Target::Aarch64, 40 << 20),
        wanted(Target::Riscv64, false, Ok(source(Target::Riscv64, "bb"))),
        copy(Target::S390x, 40 << 20),
    ]);
    w.facts.store.free = Some(50 << 20);
    let d = w.decide(Mode::BestEffort);
    assert_eq!(of(&d, "qemu-aarch64").step, Step::Add);
    assert_eq!(
        of(&d, "qemu-riscv64").step,
        Step::Add,
        "a link needs no space"
    );
    let e = of(&d, "qemu-s390x");
    assert_eq!((e.step, why_code(e)), (Step::Fail, "no-space"));
    assert_eq!(d.problems.len(), 1);
    assert!(
        matches!(&d.problems[0], InstanceProblem::NoSpace { binaries, .. } if binaries == &["qemu-s390x"])
    );
    assert_eq!(d.store.actions.len(), 2);
}

/// Bug 9 for `install` (all or nothing): a lack of space fails only the copies that do not fit;
/// the entries that can be served are, while any other failure still holds everything.
#[test]
fn all_or_nothing_still_serves_what_fits_in_the_store() {
    let world = || {
        let mut w = World::new(vec![
            copy(Target::Aarch64, 40 << 20),
            copy(Target::S390x, 40 << 20),
        ]);
        w.facts.store.free = Some(50 << 20);
        w
    };
    let d = world().decide(Mode::AllOrNothing);
    assert_eq!(of(&d, "qemu-aarch64").step, Step::Add);
    let e = of(&d, "qemu-s390x");
    assert_eq!((e.step, why_code(e)), (Step::Fail, "no-space"));
    assert_eq!(d.store.actions.len(), 1);
    assert!(d.failed());

    let mut with_other = world();
    with_other
        .facts
        .targets
        .push(wanted(Target::Riscv64, true, Err(Problem::NotFound)));
    let d = with_other.decide(Mode::AllOrNothing);
    assert_eq!(
        of(&d, "qemu-aarch64").step,
        Step::Skip,
        "another failure holds everything"
    );
    assert!(d.store.actions.is_empty());
}

/// Bug 6: what an interrupted run left in the store counts as space once deleted, and the
/// next run deletes it.
#[test]
fn leftovers_count_as_free_space_and_are_cleaned() {
    let mut w = World::new(vec![copy(Target::Aarch64, 40 << 20)]);
    w.facts.store.free = Some(10 << 20);
    w.facts.store.leftovers = vec![(
        "/var/lib/binfmtd/interpreters/.qemu-aarch64.1-0.tmp".into(),
        40 << 20,
    )];
    let d = w.decide(Mode::AllOrNothing);
    assert_eq!(of(&d, "qemu-aarch64").step, Step::Add);
    assert_eq!(d.store.clean.len(), 1);
}

/// Bug 6 (the other half): a copy renamed into place without its record has the source's bytes:
/// it is recorded, not copied again.
#[test]
fn an_unrecorded_copy_with_the_right_bytes_is_only_recorded() {
    let w = World::new(vec![copy(Target::Aarch64, 40 << 20)]).managed("qemu-aarch64", "cc", None);
    let d = w.decide(Mode::AllOrNothing);
    assert_eq!(of(&d, "qemu-aarch64").step, Step::Add);
    assert!(
        matches!(&d.store.actions[..], [StoreAction::Record { .. }]),
        "{:?}",
        d.store.actions
    );
}

#[test]
fn the_interpreter_limit_of_7_3_registers_nothing_new_past_it() {
    let targets = vec![
        wanted(Target::Aarch64, false, Ok(source(Target::Aarch64, "a"))),
        wanted(Target::Riscv64, false, Ok(source(Target::Riscv64, "b"))),
        wanted(Target::S390x, false, Ok(source(Target::S390x, "c"))),
    ];
    let mut w = World::new(targets);
    w.facts.host = host("7.3.0");
    w.facts.kernel.max_interpreters = Some(2);
    let d = w.decide(Mode::AllOrNothing);
    assert!(
        d.entries.iter().all(|e| e.step != Step::Add),
        "{:?}",
        names(&d)
    );
    assert_eq!(d.problems.len(), 1);
    let text = d.problems[0].to_string();
    assert!(
        text.contains("max_binfmt_misc_interpreters")
            && text.contains("sysctl")
            && text.contains('3'),
        "{text}"
    );
    w.facts.kernel.max_interpreters = Some(3);
    assert!(!w.decide(Mode::AllOrNothing).failed());
}
