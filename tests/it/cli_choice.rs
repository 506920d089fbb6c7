//! Choosing between two real QEMU builds of different versions (issue 15): Debian 12's 7.2 and
//! Debian 13's 10.0 (`tests/fixtures.sh` fetches the latter).
//!
//! The rule: an explicit `[target.X] interpreter` wins, even if older, and is never switched;
//! otherwise the newest verified candidate that runs the target's probe. `plan` and `install`
//! say which and why, `status` says which (the pinned version); the slow-aarch64 warning (QEMU
//! older than 10.0) is said once by `install` and by `status`, in text and JSON.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use binfmtd_tests::fixtures::{Kind, QemuBuild, foreign_binaries, qemu_build};

use crate::cli_env::{Env, Run, by_name, sha256};

/// The words every slow-aarch64 warning carries (crates/binfmtd/src/advice.rs).
const SLOW: &str = "older than 10.0";

/// Copies `build`'s qemu-aarch64 into `<scratch>/<dir>/<name>` and returns that directory and
/// file (the copies keep the test independent of the build's own location and search order).
fn staged(env: &Env, build: &QemuBuild, dir: &str, name: &str) -> (PathBuf, PathBuf) {
    let dir = env.sb.scratch().join(dir);
    std::fs::create_dir_all(&dir).expect("creating a source directory");
    let path = dir.join(name);
    std::fs::copy(build.interpreter("aarch64"), &path).expect("copying qemu-aarch64");
    (dir, path)
}

/// The two builds, each with its version: (old 7.2, new 10.0).
fn builds() -> ((QemuBuild, String), (QemuBuild, String)) {
    let (old, new) = (qemu_build("bookworm"), qemu_build("trixie"));
    let (vo, vn) = (old.version(), new.version());
    assert!(vo.starts_with("7.2"), "bookworm's QEMU is {vo}");
    assert!(vn.starts_with("10."), "trixie's QEMU is {vn}");
    ((old, vo), (new, vn))
}

fn toml_list(dirs: &[&Path]) -> String {
    let quoted: Vec<String> = dirs
        .iter()
        .map(|d| format!("{:?}", d.display().to_string()))
        .collect();
    format!("interpreter_dirs = [{}]\n", quoted.join(", "))
}

/// The version QEMU itself prints when the kernel runs an arm64 busybox through the entry.
fn kernel_runs(env: &Env) -> String {
    let busybox = foreign_binaries()
        .into_iter()
        .find(|b| b.target.as_deref() == Some("aarch64") && b.kind == Kind::Busybox)
        .expect("an arm64 busybox in the fixtures")
        .path;
    let out = env
        .sb
        .command(&busybox)
        .env("QEMU_VERSION", "1")
        .output()
        .expect("running nsenter(1)");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The first word of a QEMU version string (`10.0.13` of `10.0.13 (Debian 1:10.0.13+ds-0+deb13u1)`).
fn short(version: Option<&str>) -> Option<&str> {
    version.and_then(|v| v.split_whitespace().next())
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// The JSON `warnings` that name the slow aarch64 interpreter.
fn slow_warnings(json: &serde_json::Value) -> Vec<String> {
    json["warnings"]
        .as_array()
        .map(|ws| {
            ws.iter()
                .filter_map(|w| w.as_str())
                .filter(|w| w.contains(SLOW))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn install_registers_the_newer_of_two_configured_builds() {
    let Some(env) = Env::new("cli_choice::newer", "") else {
        return;
    };
    let ((old, vo), (new, vn)) = builds();
    // The older build comes first in search order: only the version can put the newer first.
    let (old_dir, old_path) = staged(&env, &old, "old", "qemu-aarch64-static");
    let (new_dir, new_path) = staged(&env, &new, "new", "qemu-aarch64");
    let config = env.config_file("choice.toml", &env.store, &toml_list(&[&old_dir, &new_dir]));

    let out = env.run_with(&config, &["install", "aarch64", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let json = out.json();
    let e = &by_name(&json)["qemu-aarch64"];
    assert_eq!(e["action"], "added", "{e}");
    assert_eq!(short(e["version"].as_str()), Some(vn.as_str()), "{e}");
    assert_eq!(sha256(&env.store.join("qemu-aarch64")), sha256(&new_path));
    let chosen = e["chosen"].as_str().unwrap_or_default();
    assert!(chosen.starts_with("the newest of several"), "{e}");
    assert!(
        chosen.contains(&old_path.display().to_string()) && chosen.contains(&vo),
        "the older build must be named as passed over: {e}"
    );
    // What the kernel really runs is the newer build.
    let runs = kernel_runs(&env);
    assert!(runs.contains(&vn) && !runs.contains(&vo), "{runs}");
    assert!(slow_warnings(&json).is_empty(), "{json}");
}

#[test]
fn plan_and_status_say_which_build_and_why() {
    let Some(env) = Env::new("cli_choice::plan_status", "") else {
        return;
    };
    let ((old, vo), (new, vn)) = builds();
    let (old_dir, old_path) = staged(&env, &old, "old", "qemu-aarch64-static");
    let (new_dir, _) = staged(&env, &new, "new", "qemu-aarch64");
    let config = env.config_file("choice.toml", &env.store, &toml_list(&[&old_dir, &new_dir]));

    // plan: nothing written, but the choice and its reason are said.
    let before = env.snapshot();
    let out = env.run_with(&config, &["plan", "aarch64", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        before.diff(&env.snapshot()).is_empty(),
        "plan changed something"
    );
    let json = out.json();
    let e = &by_name(&json)["qemu-aarch64"];
    assert_eq!(e["action"], "added", "{e}");
    assert_eq!(short(e["version"].as_str()), Some(vn.as_str()), "{e}");
    let chosen = e["chosen"].as_str().unwrap_or_default();
    assert!(
        chosen.contains("newest") && chosen.contains(&old_path.display().to_string()),
        "{e}"
    );
    assert!(chosen.contains(&format!("({vo}")), "{e}");

    // status after install: the entry pins the newer build and says so.
    let out = env.run_with(&config, &["install", "aarch64"]);
    assert_eq!(out.code, 0, "{out:?}");
    let out = env.run_with(&config, &["status", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let status = out.json();
    let entry = aarch64_entry(&status);
    assert_eq!(
        short(entry["pinned_version"].as_str()),
        Some(vn.as_str()),
        "{entry}"
    );
    let why = entry["chosen"].as_str().unwrap_or_default();
    assert!(
        why.starts_with("the newest of several") && why.contains(&old_path.display().to_string()),
        "{entry}"
    );
    assert!(slow_warnings(&status).is_empty(), "{status}");
    // The text says it too: the entry, its QEMU version and why.
    let text = env.run_with(&config, &["status"]);
    assert_eq!(text.code, 0, "{text:?}");
    let line = text
        .stdout
        .lines()
        .skip_while(|l| *l != "INTERPRETERS")
        .find(|l| l.starts_with("qemu-aarch64 "))
        .unwrap_or_else(|| panic!("no INTERPRETERS line for qemu-aarch64:\n{}", text.stdout));
    assert!(
        line.contains(&format!("QEMU {vn}")) && line.contains("the newest of several"),
        "{line}"
    );

    // A second plan keeps it: the choice is stable.
    let out = env.run_with(&config, &["plan", "aarch64", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let e = &by_name(&out.json())["qemu-aarch64"];
    assert_eq!(e["action"], "kept", "{e}");
    assert_eq!(short(e["version"].as_str()), Some(vn.as_str()), "{e}");
}

#[test]
fn an_explicit_older_interpreter_wins_and_is_never_switched() {
    let Some(env) = Env::new("cli_choice::explicit", "") else {
        return;
    };
    let ((old, vo), (new, vn)) = builds();
    let (_, old_path) = staged(&env, &old, "pinned", "qemu-aarch64-static");
    let (new_dir, _) = staged(&env, &new, "new", "qemu-aarch64");
    let extra = format!(
        "{}[target.aarch64]\ninterpreter = {:?}\n",
        toml_list(&[&new_dir]),
        old_path.display().to_string()
    );
    let config = env.config_file("explicit.toml", &env.store, &extra);

    let out = env.run_with(&config, &["install", "aarch64", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let e = &by_name(&out.json())["qemu-aarch64"];
    assert_eq!(e["action"], "added", "{e}");
    assert_eq!(short(e["version"].as_str()), Some(vo.as_str()), "{e}");
    assert_eq!(sha256(&env.store.join("qemu-aarch64")), sha256(&old_path));
    assert!(
        e["chosen"]
            .as_str()
            .unwrap_or_default()
            .starts_with("configured"),
        "{e}"
    );
    assert!(kernel_runs(&env).contains(&vo));

    // Again, with the newer build still in interpreter_dirs: nothing switches.
    for args in [
        &["install", "aarch64", "--json"][..],
        &["plan", "aarch64", "--json"],
    ] {
        let out = env.run_with(&config, args);
        assert_eq!(out.code, 0, "{out:?}");
        let e = &by_name(&out.json())["qemu-aarch64"];
        assert_eq!(e["action"], "kept", "{args:?}: {e}");
        assert_eq!(
            short(e["version"].as_str()),
            Some(vo.as_str()),
            "{args:?}: {e}"
        );
    }
    let runs = kernel_runs(&env);
    assert!(runs.contains(&vo) && !runs.contains(&vn), "{runs}");
    // status says which and why.
    let status = env.run_with(&config, &["status", "--json"]).json();
    let entry = aarch64_entry(&status);
    assert_eq!(
        short(entry["pinned_version"].as_str()),
        Some(vo.as_str()),
        "{entry}"
    );
    assert!(
        entry["chosen"]
            .as_str()
            .unwrap_or_default()
            .starts_with("configured"),
        "{entry}"
    );
}

/// `install` (text) and `install --json`, then `status` (text) and `status --json`: the number of
/// slow-aarch64 warnings in each.
fn warnings_said(env: &Env, config: &Path) -> [usize; 4] {
    let text: Run = env.run_with(config, &["install", "aarch64"]);
    assert_eq!(text.code, 0, "{text:?}");
    let json = env.run_with(config, &["install", "aarch64", "--json"]);
    assert_eq!(json.code, 0, "{json:?}");
    let status_text = env.run_with(config, &["status"]);
    assert_eq!(status_text.code, 0, "{status_text:?}");
    let status_json = env.run_with(config, &["status", "--json"]);
    assert_eq!(status_json.code, 0, "{status_json:?}");
    [
        count(&text.stdout, SLOW) + count(&text.stderr, SLOW),
        slow_warnings(&json.json()).len() + count(&json.stderr, SLOW),
        count(&status_text.stdout, SLOW) + count(&status_text.stderr, SLOW),
        slow_warnings(&status_json.json()).len(),
    ]
}

#[test]
fn the_slow_aarch64_warning_is_said_once_with_7_2() {
    let Some(env) = Env::new("cli_choice::slow", "") else {
        return;
    };
    let ((old, vo), _) = builds();
    let (dir, _) = staged(&env, &old, "old", "qemu-aarch64-static");
    let config = env.config_file("old.toml", &env.store, &toml_list(&[&dir]));
    // install text: once on stderr (the log); install JSON: once in `warnings` (and the log line
    // on stderr); status text and JSON: once each.
    assert_eq!(warnings_said(&env, &config), [1, 2, 1, 1]);
    let status = env.run_with(&config, &["status", "--json"]).json();
    let w = &slow_warnings(&status)[0];
    assert!(w.contains(&format!("QEMU {vo},")), "{w}");
    assert!(
        w.contains("bookworm-backports") && w.contains("[target.aarch64]"),
        "the warning names the fixes: {w}"
    );
}

#[test]
fn no_slow_aarch64_warning_with_10_0() {
    let Some(env) = Env::new("cli_choice::fast", "") else {
        return;
    };
    let ((old, _), (new, vn)) = builds();
    let (new_dir, new_path) = staged(&env, &new, "new", "qemu-aarch64");
    // Also with the older build explicitly passed over: only the chosen one counts.
    let (old_dir, _) = staged(&env, &old, "old", "qemu-aarch64-static");
    let config = env.config_file("new.toml", &env.store, &toml_list(&[&old_dir, &new_dir]));
    assert_eq!(warnings_said(&env, &config), [0, 0, 0, 0]);
    let status = env.run_with(&config, &["status", "--json"]).json();
    let entry = aarch64_entry(&status);
    assert_eq!(
        short(entry["pinned_version"].as_str()),
        Some(vn.as_str()),
        "{entry}"
    );
    // The kernel holds the store's file, which has the chosen build's bytes.
    let managed = env.store.join("qemu-aarch64");
    assert_eq!(
        entry["pinned_inode"].as_u64(),
        Some(std::fs::metadata(&managed).unwrap().ino()),
        "{entry}"
    );
    assert_eq!(sha256(&managed), sha256(&new_path));
}

/// The `qemu-aarch64` entry of `status --json`.
fn aarch64_entry(status: &serde_json::Value) -> serde_json::Value {
    status["entries"]
        .as_array()
        .and_then(|es| es.iter().find(|e| e["name"] == "qemu-aarch64"))
        .unwrap_or_else(|| panic!("no qemu-aarch64 in {status}"))
        .clone()
}
