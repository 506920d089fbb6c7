//! Classification without a kernel: observations and instance views built by hand, with entries
//! that match (or not) the real probe bytes.

use std::path::PathBuf;

use binfmt_misc::{Entry, EntryInfo, Flags, Matcher, RegistrationStamp};
use elf_magic::Target;
use nix::errno::Errno;
use nix::sys::signal::Signal;

use super::{
    Facts, Failure, InstanceStatus, InstanceView, Observation, Outcome, Scope, State, TargetCheck,
    all_execute, classify,
};

const MOUNT: &str = "/proc/sys/fs/binfmt_misc";

/// An entry for `target`'s primary row, registered at `stamp`.
fn entry(name: &str, target: Target, enabled: bool, flags: &str, stamp: i64) -> EntryInfo {
    let row = target.primary_row();
    EntryInfo {
        entry: Entry {
            name: name.into(),
            enabled,
            interpreter: PathBuf::from(format!("/usr/bin/{}-static", target.qemu_binary())),
            flags: flags.parse::<Flags>().expect("valid flags"),
            matcher: Matcher::Magic {
                offset: usize::from(row.offset),
                magic: row.magic.to_vec(),
                mask: Some(row.mask.to_vec()),
            },
        },
        registered: RegistrationStamp {
            ctime_sec: stamp,
            ctime_nsec: 0,
            inode: 100 + stamp as u64,
        },
    }
}

fn view(status: InstanceStatus, entries: Vec<EntryInfo>) -> InstanceView {
    InstanceView {
        mount: PathBuf::from(MOUNT),
        status,
        entries,
    }
}

fn enabled(entries: Vec<EntryInfo>) -> InstanceView {
    view(InstanceStatus::Enabled, entries)
}

/// Facts on an x86_64 host, seen from the initial user namespace.
fn facts(view: &InstanceView) -> Facts {
    Facts {
        instance: view.clone(),
        scope: Scope::Host,
        host: Some(Target::X86_64),
    }
}

fn run(target: Target, outcome: Outcome, view: &InstanceView) -> TargetCheck {
    classify(target, &Observation::of(outcome), &facts(view))
}

fn fails_with(check: &TargetCheck, failure: Failure, words: &[&str]) {
    assert_eq!(check.state, State::Fails, "{check:?}");
    assert_eq!(check.failure, Some(failure), "{check:?}");
    let text = format!(
        "{} {}",
        check.reason.as_deref().unwrap_or(""),
        check.fix.as_deref().unwrap_or("")
    );
    for word in words {
        assert!(text.contains(word), "{word:?} missing from {text:?}");
    }
    assert!(!text.contains('\n'), "one line each: {text:?}");
}

#[test]
fn exit_zero_through_the_newest_enabled_matching_entry_works() {
    let v = enabled(vec![
        entry("old-aarch64", Target::Aarch64, true, "F", 1),
        entry("qemu-aarch64", Target::Aarch64, true, "PF", 2),
        entry("newest-but-off", Target::Aarch64, false, "F", 3),
        entry("qemu-riscv64", Target::Riscv64, true, "F", 4),
    ]);
    let c = run(Target::Aarch64, Outcome::Exited(0), &v);
    assert_eq!(c.state, State::Works);
    assert_eq!(c.entry.as_deref(), Some("qemu-aarch64"));
    assert_eq!(
        c.interpreter,
        Some(PathBuf::from("/usr/bin/qemu-aarch64-static"))
    );
    assert!(c.failure.is_none() && c.reason.is_none() && c.fix.is_none());
    assert!(c.executes());
}

#[test]
fn exit_zero_with_no_entry_that_could_serve_it_is_native() {
    let v = enabled(vec![entry("qemu-aarch64", Target::Aarch64, true, "F", 1)]);
    let c = run(Target::X86_64, Outcome::Exited(0), &v);
    assert_eq!((c.state, c.entry), (State::Native, None));
    // A disabled instance serves nothing: what still runs is native.
    let off = view(
        InstanceStatus::Disabled,
        vec![entry("qemu-i386", Target::I386, true, "F", 1)],
    );
    let c = run(Target::I386, Outcome::Exited(0), &off);
    assert_eq!((c.state, c.entry), (State::Native, None));
    // An entry of another target never counts, even one whose row is the same e_machine.
    let v = enabled(vec![entry("qemu-armeb", Target::Armeb, true, "F", 1)]);
    assert_eq!(
        run(Target::Arm, Outcome::Exited(0), &v).state,
        State::Native
    );
}

#[test]
fn exit_zero_with_an_unreadable_mount_works_with_the_doubt_said() {
    for status in [
        InstanceStatus::NotMounted,
        InstanceStatus::Unreadable("EACCES".into()),
    ] {
        let c = run(Target::Aarch64, Outcome::Exited(0), &view(status, vec![]));
        assert_eq!((c.state, c.entry.as_deref()), (State::Works, None));
        assert!(
            c.reason
                .as_deref()
                .is_some_and(|r| r.contains(MOUNT) && r.contains("unknown"))
        );
    }
}

#[test]
fn enoexec_is_explained_by_the_instance_then_the_entries() {
    let off = view(
        InstanceStatus::Disabled,
        vec![entry("qemu-aarch64", Target::Aarch64, true, "F", 1)],
    );
    let c = run(Target::Aarch64, Outcome::ExecFailed(Errno::ENOEXEC), &off);
    fails_with(
        &c,
        Failure::InstanceDisabled,
        &["disabled", &format!("echo 1 > {MOUNT}/status")],
    );
    assert_eq!(c.entry, None, "a disabled instance serves no entry");

    let v = enabled(vec![
        entry("a64-old", Target::Aarch64, false, "F", 1),
        entry("a64-new", Target::Aarch64, false, "F", 2),
    ]);
    let c = run(Target::Aarch64, Outcome::ExecFailed(Errno::ENOEXEC), &v);
    fails_with(
        &c,
        Failure::EntryDisabled,
        &["a64-old, a64-new", &format!("echo 1 > {MOUNT}/a64-new")],
    );

    let v = enabled(vec![entry("qemu-riscv64", Target::Riscv64, true, "F", 1)]);
    let c = run(Target::Aarch64, Outcome::ExecFailed(Errno::ENOEXEC), &v);
    fails_with(
        &c,
        Failure::NoEntry,
        &["no binfmt_misc entry", "`binfmtd install aarch64`"],
    );

    let c = run(
        Target::Aarch64,
        Outcome::ExecFailed(Errno::ENOEXEC),
        &view(InstanceStatus::NotMounted, vec![]),
    );
    fails_with(
        &c,
        Failure::NoEntry,
        &["no binfmt_misc is mounted", "mount -t binfmt_misc"],
    );

    // An enabled entry matches, yet the kernel refused: its interpreter is the problem.
    let v = enabled(vec![entry("qemu-aarch64", Target::Aarch64, true, "F", 1)]);
    let c = run(Target::Aarch64, Outcome::ExecFailed(Errno::ENOEXEC), &v);
    fails_with(
        &c,
        Failure::ExecError,
        &["qemu-aarch64", "install --force aarch64"],
    );
}

#[test]
fn eloop_and_enoent_name_the_entry_and_its_interpreter() {
    let v = enabled(vec![entry("loop", Target::Aarch64, true, "F", 1)]);
    let c = run(Target::Aarch64, Outcome::ExecFailed(Errno::ELOOP), &v);
    fails_with(
        &c,
        Failure::Loop,
        &["ELOOP", "entry loop", &format!("echo -1 > {MOUNT}/loop")],
    );
    assert_eq!(c.entry.as_deref(), Some("loop"));

    let v = enabled(vec![entry("no-f", Target::Aarch64, true, "P", 1)]);
    let c = run(Target::Aarch64, Outcome::ExecFailed(Errno::ENOENT), &v);
    fails_with(
        &c,
        Failure::InterpreterMissing,
        &["/usr/bin/qemu-aarch64-static", "no F flag"],
    );

    let v = enabled(vec![entry("pinned", Target::Aarch64, true, "F", 1)]);
    let c = run(Target::Aarch64, Outcome::ExecFailed(Errno::ENOENT), &v);
    fails_with(&c, Failure::InterpreterMissing, &["pinned (F)", "static"]);

    let v = enabled(vec![entry("no-x", Target::Aarch64, true, "", 1)]);
    let c = run(Target::Aarch64, Outcome::ExecFailed(Errno::EACCES), &v);
    fails_with(&c, Failure::ExecError, &["EACCES", "not executable"]);
}

#[test]
fn a_signal_or_a_status_is_the_interpreter_failing() {
    let v = enabled(vec![entry("qemu-aarch64", Target::Aarch64, true, "F", 1)]);
    let observation = Observation {
        outcome: Outcome::Signaled(Signal::SIGSEGV),
        stderr: "\nqemu: uncaught target signal 11 (Segmentation fault) - core dumped\n".into(),
    };
    let c = classify(Target::Aarch64, &observation, &facts(&v));
    fails_with(
        &c,
        Failure::Crashed,
        &["SIGSEGV", "qemu-aarch64-static", "it said: qemu: uncaught"],
    );

    let c = run(Target::Aarch64, Outcome::Exited(1), &v);
    fails_with(
        &c,
        Failure::ExitStatus,
        &["status 1", "entry qemu-aarch64", "by hand"],
    );

    let c = run(Target::Aarch64, Outcome::TimedOut, &v);
    fails_with(&c, Failure::TimedOut, &["hangs"]);

    let c = run(
        Target::Aarch64,
        Outcome::Error("memfd_create: EPERM".into()),
        &v,
    );
    fails_with(&c, Failure::ExecError, &["could not be run: memfd_create"]);
}

#[test]
fn exit_status_zero_only_when_everything_executes() {
    let v = enabled(vec![entry("qemu-aarch64", Target::Aarch64, true, "F", 1)]);
    let works = run(Target::Aarch64, Outcome::Exited(0), &v);
    let native = run(Target::X86_64, Outcome::Exited(0), &v);
    let fails = run(Target::Riscv64, Outcome::ExecFailed(Errno::ENOEXEC), &v);
    assert!(all_execute(&[works.clone(), native.clone()]));
    assert!(!all_execute(&[works, native, fails]));
    assert!(all_execute(&[]));
}

#[test]
fn json_uses_lowercase_words_and_the_target_name() {
    let v = enabled(vec![]);
    let mut c = run(Target::Aarch64Be, Outcome::ExecFailed(Errno::ENOEXEC), &v);
    c.scope = Scope::Namespace;
    let json = serde_json::to_value(&c).expect("serializable");
    assert_eq!(json["target"], "aarch64_be");
    assert_eq!(json["state"], "fails");
    assert_eq!(json["failure"], "no_entry");
    assert_eq!(json["scope"], "namespace");
    assert!(json["entry"].is_null() && json["fix"].is_string());
}
