//! Bugs 6 and 9 of issue 14: space. A failed manifest write must not strand a copy the retry
//! can neither reuse nor fit; interpreters already in a binfmtd-managed place are used where
//! they are, and a store too small for every copy still serves what it can, saying why once.

use binfmtd_tests::fixtures::qemu_static;

use super::{have_strace, store_names, tmpfs, under_strace};
use crate::cli_env::Env;

/// Bug 6: the manifest's rename fails with ENOSPC after the copy was renamed into place; the
/// store (20 MB) has no room for a second copy, so the retry must reuse the first one.
#[test]
fn bug6_a_failed_manifest_write_is_recovered_by_the_next_run() {
    if !have_strace("regressions::bug6") {
        return;
    }
    let Some(env) = Env::new("regressions::bug6", "") else {
        return;
    };
    tmpfs(&env, &env.store, "20m");
    let mut failed = None;
    for when in 1..=4 {
        let inject = format!("inject=rename,renameat,renameat2:error=ENOSPC:when={when}");
        let out = under_strace(
            &env,
            &["-e", "trace=rename,renameat,renameat2", "-e", &inject],
            &["-q", "install", "aarch64"],
        )
        .output()
        .unwrap();
        if !out.status.success() && store_names(&env).iter().any(|n| n == "qemu-aarch64") {
            failed = Some(String::from_utf8_lossy(&out.stderr).into_owned());
            break;
        }
        // Start again from an empty store and instance.
        env.sh_ok(&format!(
            "rm -rf {s}/* {s}/.[!.]* ; for e in {m}/qemu-*; do [ -e \"$e\" ] && echo -1 > \"$e\"; done; true",
            s = env.store.display(),
            m = env.sb.mount().display()
        ));
    }
    let failed = failed.unwrap_or_else(|| {
        panic!(
            "no injected ENOSPC left a copy without its manifest record: {:?}",
            store_names(&env)
        )
    });
    let again = env.run(&["-q", "install", "aarch64"]);
    assert_eq!(
        again.code,
        0,
        "the retry after {failed:?} failed: {again:?} (store: {:?})",
        store_names(&env)
    );
    let want = format!("interpreter {}", env.store.join("qemu-aarch64").display());
    assert!(
        env.entry_texts()
            .get("qemu-aarch64")
            .is_some_and(|t| t.lines().any(|l| l == want)),
        "{:?}",
        env.entry_texts()
    );
}

const TARGETS: [&str; 3] = ["aarch64", "arm", "riscv64"];

/// Bug 9, first half: `install --persist` left the interpreters in /usr/local/lib/binfmtd/qemu;
/// with 1 MB free under /var/lib they are used where they are, nothing is copied.
#[test]
fn bug9_interpreters_in_a_managed_place_are_used_where_they_are() {
    let Some(env) = Env::new("regressions::bug9_managed", "") else {
        return;
    };
    tmpfs(&env, std::path::Path::new("/usr/local/lib"), "64m");
    tmpfs(&env, std::path::Path::new("/var/lib"), "1m");
    let persisted = "/usr/local/lib/binfmtd/qemu";
    env.sh_ok(&format!("mkdir -p {persisted}"));
    for t in TARGETS {
        env.sh_ok(&format!(
            "cp {} {persisted}/qemu-{t}",
            qemu_static(t).display()
        ));
    }
    let config = env.config_file(
        "persisted.toml",
        std::path::Path::new("/var/lib/binfmtd/interpreters"),
        &format!(
            "interpreter_dirs = [\"{persisted}\"]\ntargets = [\"aarch64\", \"arm\", \"riscv64\"]\n"
        ),
    );
    let install = env.run_with(&config, &["-q", "install"]);
    assert_eq!(install.code, 0, "{install:?}");
    let texts = env.entry_texts();
    for t in TARGETS {
        let want = format!("interpreter {persisted}/qemu-{t}");
        assert!(
            texts
                .get(&format!("qemu-{t}"))
                .is_some_and(|e| e.lines().any(|l| l == want)),
            "qemu-{t} does not run {persisted}/qemu-{t}: {texts:?}"
        );
    }
}

/// Bug 9, second half: a 16 MB store holds one of three copies: that entry is served, the others
/// fail, and the cause is said once in a short message.
#[test]
fn bug9_a_store_too_small_for_every_copy_serves_what_fits_and_says_why_once() {
    let Some(env) = Env::new("regressions::bug9_small", "") else {
        return;
    };
    tmpfs(&env, &env.store, "16m");
    let install = env.run(&["-q", "install", "aarch64", "arm", "riscv64"]);
    assert_eq!(install.code, 1, "{install:?}");
    let served = env.entry_texts().len();
    assert!(served >= 1, "nothing registered: {install:?}");
    assert!(
        install.stderr.len() < 1000,
        "{} bytes of errors: {install:?}",
        install.stderr.len()
    );
    let lower = install.stderr.to_lowercase();
    let said = lower.matches("space").count();
    assert!(
        (1..=2).contains(&said),
        "the lack of space is said {said} times: {install:?}"
    );
}
