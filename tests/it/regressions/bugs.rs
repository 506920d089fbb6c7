//! Bugs 1–5 and 8 of issue 14: own extras, the host-executable guard for extras, an interrupted
//! replace, another tool's `<ours>.binfmtd-new`, a copy killed half-way, a disabled instance.

use binfmtd_tests::skip;

use super::{have_strace, store_names, tmpfs, under_strace};
use crate::cli_env::Env;

const MYEXT: &str = "targets = [\"aarch64\"]\n[[entry]]\nname = \"myext\"\nextension = \"zzz\"\n\
                     interpreter = \"/bin/cat\"\n";

/// Bug 1: a configured `[[entry]]` is binfmtd's: a second install keeps it, `plan --check`
/// passes, `uninstall` removes it.
#[test]
fn bug1_own_extra_entries_are_recognised_as_ours() {
    let Some(env) = Env::new("regressions::bug1", MYEXT) else {
        return;
    };
    let first = env.run(&["-q", "install"]);
    assert_eq!(first.code, 0, "first install: {first:?}");
    assert!(env.entry_texts().contains_key("myext"), "{first:?}");
    let second = env.run(&["-q", "install"]);
    assert_eq!(second.code, 0, "second install: {second:?}");
    let check = env.run(&["-q", "plan", "--check"]);
    assert_eq!(check.code, 0, "plan --check: {check:?}");
    let gone = env.run(&["-q", "uninstall"]);
    assert_eq!(gone.code, 0, "uninstall: {gone:?}");
    assert!(
        env.entry_texts().is_empty(),
        "uninstall left {:?}",
        env.entry_texts().keys()
    );
}

/// Bug 2: an `[[entry]]` whose magic matches this host's own executables, with flag F (the box64
/// example of default.toml with `/bin/true`), is refused: executables still run afterwards.
#[test]
fn bug2_extra_entries_pass_the_host_executable_guard() {
    if !cfg!(target_arch = "x86_64") {
        skip(
            "regressions::bug2",
            "the box64 example matches x86_64 executables only",
        );
        return;
    }
    let extra = "targets = []\n[[entry]]\nname = \"box64\"\n\
                 magic = \"7f454c46020101000000000000000000 0200 3e00\"\n\
                 mask  = \"fffffffffffefe00ffffffffffffffff feff ffff\"\n\
                 interpreter = \"/bin/true\"\nflags = \"F\"\n";
    let Some(env) = Env::new("regressions::bug2", extra) else {
        return;
    };
    let install = env.run(&["-q", "install"]);
    let after = env.exec("/bin/sh", &["-c", "echo alive"]);
    assert_eq!(
        after.stdout.trim(),
        "alive",
        "host executables no longer run after {install:?}: {after:?}"
    );
    assert!(
        !env.entry_texts().contains_key("box64"),
        "registered: {install:?}"
    );
    assert_ne!(install.code, 0, "the refusal is reported: {install:?}");
    assert!(install.stderr.contains("box64"), "{install:?}");
}

/// Bug 3: a replace killed at any of its first writes leaves a state the next run converges from
/// (exit 0, no temporary entry left).
#[test]
fn bug3_an_interrupted_replace_is_finished_by_the_next_run() {
    if !have_strace("regressions::bug3") {
        return;
    }
    let Some(env) = Env::new("regressions::bug3", "") else {
        return;
    };
    let first = env.run(&["-q", "install", "aarch64"]);
    assert_eq!(first.code, 0, "{first:?}");
    for (when, flags) in (1..=4).zip(["F", "PF", "F", "PF"]) {
        let inject = format!("inject=write:signal=KILL:when={when}");
        let killed = under_strace(
            &env,
            &["-e", "trace=write", "-e", &inject],
            &["-q", "install", "--flags", flags, "aarch64"],
        )
        .output()
        .unwrap();
        let again = env.run(&["-q", "install", "--flags", flags, "aarch64"]);
        assert_eq!(
            again.code,
            0,
            "after a kill at write {when} ({}): {again:?}",
            String::from_utf8_lossy(&killed.stderr)
        );
        let texts = env.entry_texts();
        let names: Vec<_> = texts.keys().collect();
        assert_eq!(names, ["qemu-aarch64"], "after a kill at write {when}");
        let want = format!("flags: {flags}");
        assert!(
            texts["qemu-aarch64"].lines().any(|l| l == want),
            "{want} after a kill at write {when}: {}",
            texts["qemu-aarch64"]
        );
    }
}

/// Bug 4: a replace never removes another tool's entry that happens to be called
/// `<ours>.binfmtd-new`, and a configured `[[entry]]` may not take such a name.
#[test]
fn bug4_another_tools_binfmtd_new_entry_survives_a_replace() {
    let Some(env) = Env::new("regressions::bug4", "") else {
        return;
    };
    env.register_by_hand(":qemu-aarch64.binfmtd-new:E::zzz::/bin/cat:");
    let first = env.run(&["-q", "install", "aarch64"]);
    assert_eq!(first.code, 0, "{first:?}");
    let replace = env.run(&["-q", "install", "--flags", "F", "aarch64"]);
    let texts = env.entry_texts();
    let theirs = texts.get("qemu-aarch64.binfmtd-new");
    assert!(
        theirs.is_some_and(|t| t.contains("interpreter /bin/cat")),
        "another tool's entry was removed by {replace:?}: {texts:?}"
    );
    assert!(
        texts
            .get("qemu-aarch64")
            .is_some_and(|t| t.lines().any(|l| l == "flags: F")),
        "{replace:?}: {texts:?}"
    );

    let config = env.config_file(
        "temporary-name.toml",
        &env.store,
        "[[entry]]\nname = \"myext.binfmtd-new\"\nextension = \"yyy\"\ninterpreter = \"/bin/cat\"\n",
    );
    let refused = env.run_with(&config, &["-q", "install"]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(refused.stderr.contains("binfmtd-new"), "{refused:?}");
    assert!(!env.entry_texts().contains_key("myext.binfmtd-new"));
}

/// Bug 5: a copy killed before its rename leaves a temporary file; the next run deletes it.
#[test]
fn bug5_a_killed_copy_leaves_no_temporary_file_behind() {
    if !have_strace("regressions::bug5") {
        return;
    }
    let Some(env) = Env::new("regressions::bug5", "") else {
        return;
    };
    // A store on its own filesystem: a copy, not a hard link.
    tmpfs(&env, &env.store, "128m");
    let is_tmp = |n: &String| n.starts_with('.') && n.ends_with(".tmp");
    let mut left = Vec::new();
    for when in 1..=3 {
        let inject = format!("inject=rename,renameat,renameat2:signal=KILL:when={when}");
        under_strace(
            &env,
            &["-e", "trace=rename,renameat,renameat2", "-e", &inject],
            &["-q", "install", "aarch64", "arm"],
        )
        .output()
        .unwrap();
        left = store_names(&env).into_iter().filter(is_tmp).collect();
        if !left.is_empty() {
            break;
        }
    }
    assert!(
        !left.is_empty(),
        "no kill left a temporary file: {:?}",
        store_names(&env)
    );
    let again = env.run(&["-q", "install", "aarch64", "arm"]);
    assert_eq!(again.code, 0, "{again:?}");
    let names = store_names(&env);
    assert!(
        !names.iter().any(is_tmp),
        "temporary files {left:?} left: {names:?}"
    );
}

/// Bug 8: a globally disabled instance is reported, and the readiness probe fails.
#[test]
fn bug8_a_disabled_instance_is_reported_and_fails_readiness() {
    let Some(env) = Env::new("regressions::bug8", "") else {
        return;
    };
    let first = env.run(&["-q", "install", "aarch64"]);
    assert_eq!(first.code, 0, "{first:?}");
    env.sh_ok(&format!("echo 0 > {}/status", env.sb.mount().display()));
    let install = env.run(&["install", "aarch64"]);
    assert!(
        install.stderr.contains("disabled") || install.stdout.contains("disabled"),
        "install does not say the instance is disabled: {install:?}"
    );
    let check = env.run(&["-q", "plan", "--check", "aarch64"]);
    assert_ne!(
        check.code, 0,
        "plan --check passes while nothing executes: {check:?}"
    );
    assert!(check.stderr.contains("disabled"), "{check:?}");
}
