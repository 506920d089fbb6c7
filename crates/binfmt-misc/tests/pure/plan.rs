//! `plan`: each action and reason, ordering, and what is left out.

use binfmt_misc::{Action, Difference, Entry, Plan, plan};

use crate::common::{magic, rule};

fn rules() -> Vec<binfmt_misc::Rule> {
    vec![
        rule("keep", magic(0, b"k", None), "/i/keep", "F"),
        rule("add", magic(0, b"a", None), "/i/add", "F"),
        rule("interp", magic(0, b"i", None), "/i/new", "F"),
        rule("flags", magic(0, b"f", None), "/i/flags", "POF"),
        rule("mask", magic(0, b"m", Some(b"\xfe")), "/i/mask", "F"),
        rule("off", magic(0, b"o", None), "/i/off", "F"),
    ]
}

fn current() -> Vec<Entry> {
    let r = rules();
    vec![
        Entry::from_rule(&r[0]),
        Entry {
            interpreter: "/i/old".into(),
            ..Entry::from_rule(&r[2])
        },
        Entry {
            flags: "F".parse().unwrap(),
            ..Entry::from_rule(&r[3])
        },
        Entry {
            matcher: magic(0, b"m", None),
            ..Entry::from_rule(&r[4])
        },
        Entry {
            enabled: false,
            ..Entry::from_rule(&r[5])
        },
        Entry::from_rule(&rule("stale", magic(0, b"s", None), "/i/s", "")),
        Entry::from_rule(&rule("foreign", magic(0, b"x", None), "/i/x", "")),
    ]
}

#[test]
fn each_action_with_its_reason() {
    let p = plan(&rules(), &current(), &["stale", "missing"]);
    let got: Vec<(&str, &Action)> = p
        .steps
        .iter()
        .map(|s| (s.name.as_str(), &s.action))
        .collect();
    let replace = |d| Action::Replace { reasons: vec![d] };
    assert_eq!(
        got,
        [
            ("keep", &Action::Keep),
            ("add", &Action::Add),
            ("interp", &replace(Difference::Interpreter)),
            ("flags", &replace(Difference::Flags)),
            ("mask", &replace(Difference::Matcher)),
            ("off", &replace(Difference::Disabled)),
            ("stale", &Action::Remove),
        ]
    );
    // "foreign" is neither desired nor listed, "missing" has no entry: not mentioned.
    assert!(
        !p.steps
            .iter()
            .any(|s| s.name == "foreign" || s.name == "missing")
    );
}

#[test]
fn steps_carry_rule_and_current_entry() {
    let p = plan(&rules(), &current(), &["stale"]);
    let by = |n: &str| p.steps.iter().find(|s| s.name == n).unwrap();
    assert!(by("add").current.is_none() && by("add").rule.is_some());
    assert_eq!(
        by("interp").current.as_ref().unwrap().interpreter.to_str(),
        Some("/i/old")
    );
    assert!(by("stale").rule.is_none() && by("stale").current.is_some());
}

#[test]
fn emptiness_and_changes() {
    assert!(Plan::default().is_empty());
    let r = rules();
    let all_there: Vec<Entry> = r.iter().map(Entry::from_rule).collect();
    let p = plan(&r, &all_there, &[]);
    assert_eq!(p.steps.len(), r.len());
    assert!(p.is_empty());
    assert_eq!(p.changes().count(), 0);
    let p = plan(&r, &current(), &[]);
    assert!(!p.is_empty());
    assert_eq!(p.changes().count(), 5);
}

#[test]
fn a_desired_name_is_never_also_removed() {
    let r = rules();
    let p = plan(&r[..1], &current(), &["keep"]);
    assert_eq!(p.steps.len(), 1);
    assert_eq!(p.steps[0].action, Action::Keep);
}
