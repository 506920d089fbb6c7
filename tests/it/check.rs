//! `binfmtd check` on the real kernel (issue 13), in a private binfmt_misc instance: every
//! registered target works after `install all`; a disabled instance, a disabled entry, an
//! interpreter that crashes or fails, a missing interpreter, a loop of interpreters and a target
//! with no entry each fail with their own reason; the exit status follows every time.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use binfmtd_tests::fixtures::qemu_static;
use serde_json::Value;

use crate::cli_env::{Env, Run, foreign_aarch64_line};

/// `check ARGS… --json` in the sandbox: the exit code and the results by target.
fn check(env: &Env, targets: &[&str]) -> (Run, BTreeMap<String, Value>) {
    let mut args = vec!["check", "--json"];
    args.extend_from_slice(targets);
    let run = env.run(&args);
    let json = run.json();
    assert_eq!(
        json["scope"], "namespace",
        "a sandbox is not the host: {json}"
    );
    assert_eq!(json["all_execute"], run.code == 0, "{run:?}");
    let by_target = json["targets"]
        .as_array()
        .unwrap_or_else(|| panic!("no targets: {json}"))
        .iter()
        .map(|t| {
            (
                t["target"].as_str().expect("a target name").to_string(),
                t.clone(),
            )
        })
        .collect();
    (run, by_target)
}

/// The one result of `check TARGET --json`, asserting the exit status.
fn check_one(env: &Env, target: &str, code: i32) -> Value {
    let (run, results) = check(env, &[target]);
    assert_eq!(run.code, code, "{run:?}");
    assert_eq!(results.len(), 1, "{results:?}");
    results[target].clone()
}

fn assert_fails(result: &Value, failure: &str, words: &[&str]) {
    assert_eq!(result["state"], "fails", "{result}");
    assert_eq!(result["failure"], failure, "{result}");
    let text = format!("{} {}", result["reason"], result["fix"]);
    for word in words {
        assert!(text.contains(word), "{word:?} missing: {result}");
    }
}

/// An executable file in the sandbox's scratch directory.
fn script(env: &Env, name: &str, content: &[u8]) -> PathBuf {
    let path = env.sb.scratch().join(name);
    std::fs::write(&path, content).expect("writing an interpreter into the scratch directory");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .expect("making it executable");
    path
}

#[test]
fn every_target_fails_before_and_works_after_install_all() {
    let Some(env) = Env::new("check::install_all", "") else {
        return;
    };
    let (before, results) = check(&env, &[]);
    assert_eq!(before.code, 1, "{before:?}");
    assert_eq!(results.len(), 34, "default: every target");
    assert_eq!(results["x86_64"]["state"], "native");
    let native: Vec<&String> = results
        .iter()
        .filter(|(_, r)| r["state"] == "native")
        .map(|(t, _)| t)
        .collect();
    for (target, r) in &results {
        if r["state"] != "native" {
            assert_fails(r, "no_entry", &["no binfmt_misc entry", "binfmtd install"]);
            assert!(
                before
                    .errors()
                    .iter()
                    .any(|l| l.starts_with(&format!("error: {target}: ")))
            );
        }
    }

    let install = env.run(&["install", "all"]);
    assert_eq!(install.code, 0, "{install:?}");
    let (after, results) = check(&env, &[]);
    assert_eq!(after.code, 0, "{after:?}");
    assert!(after.errors().is_empty(), "{after:?}");
    for (target, r) in &results {
        if native.contains(&target) {
            assert_eq!(r["state"], "native", "{r}");
            continue;
        }
        assert_eq!(r["state"], "works", "{r}");
        assert_eq!(r["entry"], format!("qemu-{target}"), "{r}");
        let interp = Path::new(r["interpreter"].as_str().unwrap());
        assert_eq!(interp.parent(), Some(env.store.as_path()), "{r}");
        assert!(r["failure"].is_null() && r["reason"].is_null(), "{r}");
    }

    // Text: one line per target asked for, then the summary.
    let text = env.run(&["check", "arm64", "linux/riscv64", "x86_64"]);
    assert_eq!(text.code, 0, "{text:?}");
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{text:?}");
    let words = |line: &str| {
        line.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(words(lines[0]), "aarch64 works qemu-aarch64", "{text:?}");
    assert_eq!(words(lines[1]), "riscv64 works qemu-riscv64", "{text:?}");
    assert_eq!(words(lines[2]), "x86_64 native", "{text:?}");
    assert_eq!(lines[3], "check: 2 works, 1 native, 0 fails");
    assert!(
        text.stderr.contains("user namespace"),
        "the scope is said: {text:?}"
    );

    let unknown = env.run(&["check", "aarch46"]);
    assert_eq!(unknown.code, 2, "{unknown:?}");
}

#[test]
fn each_failure_has_its_reason_and_exit_status_one() {
    let Some(env) = Env::new("check::failures", "") else {
        return;
    };
    let mount = env.sb.mount().display().to_string();
    env.register_by_hand(&foreign_aarch64_line("distro", &qemu_static("aarch64")));
    let r = check_one(&env, "aarch64", 0);
    assert_eq!(
        (&r["state"], &r["entry"]),
        (&"works".into(), &"distro".into()),
        "{r}"
    );

    // A target with no entry.
    let r = check_one(&env, "riscv64", 1);
    assert_fails(&r, "no_entry", &["riscv64", "`binfmtd install riscv64`"]);
    assert!(r["entry"].is_null(), "{r}");

    // The whole instance disabled: nothing foreign runs; native still does.
    env.sh_ok(&format!("echo 0 > {mount}/status"));
    let r = check_one(&env, "aarch64", 1);
    assert_fails(
        &r,
        "instance_disabled",
        &["disabled", &format!("echo 1 > {mount}/status")],
    );
    assert_eq!(check_one(&env, "x86_64", 0)["state"], "native");
    env.sh_ok(&format!("echo 1 > {mount}/status"));

    // The only matching entry disabled.
    env.sh_ok(&format!("echo 0 > {mount}/distro"));
    let r = check_one(&env, "aarch64", 1);
    assert_fails(
        &r,
        "entry_disabled",
        &["distro", &format!("echo 1 > {mount}/distro")],
    );
    env.sh_ok(&format!("echo 1 > {mount}/distro"));
    assert_eq!(check_one(&env, "aarch64", 0)["state"], "works");

    // A newer entry whose interpreter kills itself with SIGSEGV: it is the one used.
    let crash = script(&env, "crash", b"#!/bin/sh\nkill -SEGV $$\n");
    env.register_by_hand(&foreign_aarch64_line("crash", &crash));
    let r = check_one(&env, "aarch64", 1);
    assert_fails(&r, "crashed", &["SIGSEGV", "entry crash"]);
    assert_eq!(r["interpreter"], crash.display().to_string(), "{r}");
    env.sh_ok(&format!("echo -1 > {mount}/crash"));

    // An interpreter that exits 1 (and says why on stderr).
    let fail = script(
        &env,
        "fail",
        b"#!/bin/sh\necho 'cannot emulate' >&2\nexit 1\n",
    );
    env.register_by_hand(&foreign_aarch64_line("fail", &fail));
    let r = check_one(&env, "aarch64", 1);
    assert_fails(
        &r,
        "exit_status",
        &["status 1", "entry fail", "cannot emulate"],
    );
    env.sh_ok(&format!("echo -1 > {mount}/fail"));

    // An entry without F whose interpreter does not exist.
    let missing = foreign_aarch64_line("missing", Path::new("/nonexistent/qemu-aarch64"));
    env.register_by_hand(missing.strip_suffix('F').unwrap());
    let r = check_one(&env, "aarch64", 1);
    assert_fails(
        &r,
        "interpreter_missing",
        &["/nonexistent/qemu-aarch64", "no F flag"],
    );
    env.sh_ok(&format!("echo -1 > {mount}/missing"));

    // An interpreter that is itself an aarch64 binary: the entry matches it again and again.
    let looping = script(
        &env,
        "loop",
        elf_magic::probe_elf(elf_magic::Target::Aarch64),
    );
    env.register_by_hand(&foreign_aarch64_line("loop", &looping));
    let r = check_one(&env, "aarch64", 1);
    assert_fails(&r, "loop", &["ELOOP", "entry loop"]);
    env.sh_ok(&format!("echo -1 > {mount}/loop"));

    // Back to the distribution's entry; several targets at once, one failing: exit 1.
    let (run, results) = check(&env, &["aarch64", "riscv64"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(results["aarch64"]["state"], "works");
    assert_eq!(results["riscv64"]["state"], "fails");
    assert_eq!(run.errors().len(), 1, "{run:?}");
}
