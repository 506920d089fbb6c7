//! The one-shot CLI end to end (issue 4): `plan`, `install all`, real foreign binaries, an
//! idempotent second run, `uninstall` and its tonistiigi form, the flags, the no-argument status.
//! Every test runs the built binary in a private binfmt_misc instance.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use binfmt_misc::watch::Watcher;
use binfmtd_tests::bin::binfmtd;
use binfmtd_tests::fixtures::{Kind, fixtures_dir, foreign_binaries, qemu_static};
use elf_magic::Target;

use crate::cli_env::{Env, assert_unchanged, by_name, foreign_aarch64_line};

/// Targets this host runs natively: `install all` skips them.
const NATIVE: &[&str] = binfmtd_tests::fixtures::HOST_NATIVE;

/// bookworm's QEMU 7.2 dies with SIGILL on loong64 binaries (kernel notes): configure sid's.
fn loongarch_override() -> String {
    format!(
        "[target.loongarch64]\ninterpreter = {:?}\n",
        fixtures_dir()
            .join("qemu-sid/usr/bin/qemu-loongarch64")
            .display()
            .to_string()
    )
}

fn aarch64_busybox() -> std::path::PathBuf {
    foreign_binaries()
        .into_iter()
        .find(|b| b.target.as_deref() == Some("aarch64") && b.kind == Kind::Busybox)
        .expect("an arm64 busybox fixture")
        .path
}

#[test]
fn plan_then_install_all_runs_foreign_binaries_and_a_second_install_writes_nothing() {
    let Some(env) = Env::new("cli::install_all", &loongarch_override()) else {
        return;
    };
    let empty = env.snapshot();
    assert!(empty.entries.is_empty() && empty.store.is_none());

    // plan on an empty instance: everything would be added, nothing is written.
    let plan = env.run(&["plan", "all", "--json"]);
    assert_eq!(plan.code, 0, "{plan:?}");
    let json = plan.json();
    assert_eq!(json["dry_run"], true);
    assert_eq!(json["changed"], true);
    let planned = by_name(&json);
    assert_eq!(planned["qemu-aarch64"]["action"], "added", "{json:#}");
    assert_unchanged(&empty, &env.snapshot(), "plan");

    // install all.
    let install = env.run(&["install", "all", "--json"]);
    assert_eq!(install.code, 0, "{install:?}");
    let json = install.json();
    assert_eq!(json["changed"], true);
    assert_eq!(json["dry_run"], false);
    let entries = by_name(&json);
    for native in NATIVE {
        let e = &entries[&format!("qemu-{native}")];
        assert_eq!(e["action"], "skipped", "{e}");
        assert!(e["reason"].as_str().unwrap().contains("native"), "{e}");
    }
    let added: Vec<_> = entries
        .values()
        .filter(|e| e["action"] == "added")
        .collect();
    assert!(
        added.len() >= 30,
        "only {} entries added: {json}",
        added.len()
    );
    let usr_bin = std::fs::metadata("/usr/bin").unwrap().dev();
    for e in &added {
        assert_eq!(e["flags"], "PF", "{e}");
        let interp = Path::new(e["interpreter"].as_str().unwrap());
        assert_eq!(interp.parent(), Some(env.store.as_path()), "{e}");
        // Where the store shares a filesystem with the sources, an interpreter is hard-linked
        // and never read whole (no digest); a copy is recorded with its digest.
        let same_fs = std::fs::metadata(interp).unwrap().dev() == usr_bin;
        let links = std::fs::metadata(interp).unwrap().nlink();
        if same_fs {
            assert!(links >= 2 && e["sha256"].is_null(), "linked, not read: {e}");
        } else {
            assert_eq!(e["sha256"].as_str().unwrap().len(), 64, "{e}");
        }
        assert!(!e["version"].as_str().unwrap_or("").is_empty(), "{e}");
        assert!(e["target"].is_string(), "{e}");
    }
    assert!(entries.values().all(|e| e["action"] != "failed"), "{json}");
    // The plan announced exactly what install did.
    for (name, e) in &entries {
        assert_eq!(planned[name]["action"], e["action"], "{name}");
    }

    // Real foreign binaries now run.
    let mut ran = 0;
    for bin in foreign_binaries() {
        let Some(target) = bin.target.as_deref() else {
            continue;
        };
        if NATIVE.contains(&target) {
            continue;
        }
        let run = env.exec(&bin.path, bin.probe_args());
        assert_eq!(run.code, 0, "{}: {run:?}", bin.package);
        match bin.kind {
            Kind::Busybox => {
                let machine = run.stdout.trim();
                let t: Target = target.parse().unwrap();
                assert!(
                    t.uname_machines().contains(&machine),
                    "{}: uname -m printed {machine:?}, expected one of {:?}",
                    bin.package,
                    t.uname_machines()
                );
            }
            Kind::LdSo | Kind::Negative => assert!(
                run.stdout.contains("ld.so") || run.stdout.contains("GNU C Library"),
                "{}: {run:?}",
                bin.package
            ),
        }
        ran += 1;
    }
    assert!(ran >= 25, "ran only {ran} foreign binaries");

    // A second install: nothing changed, nothing written (no inotify event on the mount, same
    // entry inodes and ctimes, same store files).
    let before = env.snapshot();
    let watcher = Watcher::new(&env.mount_view()).expect("watching the sandbox's binfmt_misc");
    let again = env.run(&["install", "--json"]);
    assert_eq!(again.code, 0, "{again:?}");
    let json = again.json();
    assert_eq!(json["changed"], false, "{json}");
    for (name, e) in by_name(&json) {
        let expected = if e["reason"].as_str().is_some_and(|r| r.contains("native")) {
            "skipped"
        } else {
            "kept"
        };
        assert_eq!(e["action"], expected, "{name}: {e}");
    }
    assert_eq!(
        watcher.read_events().unwrap(),
        [],
        "the second install wrote to binfmt_misc"
    );
    assert_unchanged(&before, &env.snapshot(), "the second install");

    // plan after install: nothing to do, nothing written.
    let plan = env.run(&["plan", "--json"]);
    assert_eq!(plan.code, 0, "{plan:?}");
    assert_eq!(plan.json()["changed"], false);
    assert_eq!(watcher.read_events().unwrap(), []);
    assert_unchanged(&before, &env.snapshot(), "plan");

    // Control: a real change is seen by both the watcher and the snapshot.
    let change = env.run(&["install", "aarch64", "--flags", "F"]);
    assert_eq!(change.code, 0, "{change:?}");
    assert_ne!(watcher.read_events().unwrap(), []);
    let after = env.snapshot();
    assert_ne!(
        after.entries["qemu-aarch64"],
        before.entries["qemu-aarch64"]
    );
    assert_eq!(
        after.entries["qemu-riscv64"],
        before.entries["qemu-riscv64"]
    );
}

#[test]
fn uninstall_removes_only_ours_unless_forced_and_the_tonistiigi_form() {
    let Some(env) = Env::new("cli::uninstall", "") else {
        return;
    };
    let distro = foreign_aarch64_line("qemu-aarch64-distro", &env.other_tool_qemu());
    env.register_by_hand(&distro);
    let install = env.run(&["install", "aarch64", "riscv64", "--json"]);
    assert_eq!(install.code, 0, "{install:?}");
    let names: Vec<String> = env.entry_texts().into_keys().collect();
    assert_eq!(
        names,
        ["qemu-aarch64", "qemu-aarch64-distro", "qemu-riscv64"]
    );

    // Plain uninstall: ours go, the distro's entry stays.
    let out = env.run(&["uninstall", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let json = out.json();
    assert_eq!(json["changed"], true);
    let removed = by_name(&json);
    assert_eq!(removed["qemu-aarch64"]["action"], "removed");
    assert_eq!(removed["qemu-riscv64"]["action"], "removed");
    assert!(!removed.contains_key("qemu-aarch64-distro"), "{json}");
    let texts = env.entry_texts();
    assert_eq!(texts.keys().collect::<Vec<_>>(), ["qemu-aarch64-distro"]);
    assert!(texts["qemu-aarch64-distro"].contains("other-tool/qemu-aarch64"));

    // Named without --force: left alone, with the reason.
    let out = env.run(&["uninstall", "qemu-aarch64-distro", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let json = out.json();
    assert_eq!(json["changed"], false);
    let e = &by_name(&json)["qemu-aarch64-distro"];
    assert_eq!(e["action"], "skipped");
    assert!(e["reason"].as_str().unwrap().contains("--force"), "{e}");
    assert!(env.entry_texts().contains_key("qemu-aarch64-distro"));

    // --force removes it.
    let out = env.run(&["uninstall", "--force", "qemu-aarch64-distro", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        by_name(&out.json())["qemu-aarch64-distro"]["action"],
        "removed"
    );
    assert!(env.entry_texts().is_empty());

    // tonistiigi's `--uninstall qemu-*` removes every matching entry, whoever registered it,
    // then prints the status JSON.
    let out = env.run(&["--install", "arm64,riscv64"]);
    assert_eq!(out.code, 0, "{out:?}");
    let mut emulators: Vec<String> = out.json()["emulators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    emulators.sort();
    assert_eq!(emulators, ["qemu-aarch64", "qemu-riscv64"], "{out:?}");
    env.register_by_hand(&distro);
    assert_eq!(env.entry_texts().len(), 3);
    let out = env.run(&["--uninstall", "qemu-*"]);
    assert_eq!(out.code, 0, "{out:?}");
    let status = out.json();
    assert_eq!(status["emulators"].as_array().unwrap().len(), 0, "{status}");
    assert!(env.entry_texts().is_empty());
    for name in ["qemu-aarch64", "qemu-aarch64-distro", "qemu-riscv64"] {
        assert!(out.stderr.contains(name), "{out:?}");
    }

    // As in tonistiigi/binfmt: `all` is no keyword there (only an entry named so would match),
    // and WSL's interop entry survives even a `*` glob.
    env.register_by_hand(":WSLInterop:E::wslinterop::/bin/true:");
    env.register_by_hand(":box64:E::box64x::/bin/true:");
    let out = env.run(&["--uninstall", "all"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(env.entry_texts().len(), 2, "`all` removed entries: {out:?}");
    let out = env.run(&["--uninstall", "*"]);
    assert_eq!(out.code, 0, "{out:?}");
    let left: Vec<String> = env.entry_texts().into_keys().collect();
    assert_eq!(left, ["WSLInterop"], "{out:?}");
}

#[test]
fn flags_default_pf_preserves_argv0_f_does_not_ocf_warns() {
    let Some(env) = Env::new("cli::flags", "") else {
        return;
    };
    let busybox = aarch64_busybox();
    let exec_a = format!("exec -a uname {} -m", busybox.display());

    // Default PF: busybox sees argv[0] = "uname" only because P preserved it.
    let out = env.run(&["install", "aarch64", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(by_name(&out.json())["qemu-aarch64"]["flags"], "PF");
    assert!(env.entry_texts()["qemu-aarch64"].contains("flags: PF"));
    let run = env.exec("bash", &["-c", &exec_a]);
    assert_eq!((run.code, run.stdout.trim()), (0, "aarch64"), "{run:?}");

    // F alone: argv[0] is lost, busybox gets its path and looks for an applet "-m".
    let out = env.run(&["install", "aarch64", "--flags", "F", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let e = &by_name(&out.json())["qemu-aarch64"];
    assert_eq!(
        (e["action"].as_str(), e["flags"].as_str()),
        (Some("replaced"), Some("F"))
    );
    assert!(e["reason"].as_str().unwrap().contains("flags"), "{e}");
    let run = env.exec("bash", &["-c", &exec_a]);
    assert_ne!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("applet not found"), "{run:?}");

    // OCF: allowed, with a warning about C, and the entry reads back OCF.
    let out = env.run(&["install", "aarch64", "--flags", "OCF", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(by_name(&out.json())["qemu-aarch64"]["flags"], "OCF");
    let warning = out
        .stderr
        .lines()
        .find(|l| l.contains("include C"))
        .unwrap_or_else(|| panic!("no warning about C: {out:?}"));
    assert!(warning.contains("setuid"), "{warning}");
    assert_eq!(
        out.stderr.matches("include C").count(),
        1,
        "the C warning is printed once: {out:?}"
    );
    assert!(env.entry_texts()["qemu-aarch64"].contains("flags: OCF"));

    // No arguments: tonistiigi's status JSON, plus richer fields.
    let out = env.run(&[]);
    assert_eq!(out.code, 0, "{out:?}");
    let status = out.json();
    let supported: Vec<&str> = status["supported"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(supported.contains(&"linux/arm64"), "{status}");
    assert!(supported.contains(&"linux/amd64"), "{status}");
    assert!(!supported.contains(&"linux/riscv64"), "{status}");
    assert_eq!(status["emulators"], serde_json::json!(["qemu-aarch64"]));
    assert!(status["entries"].is_array() && status["targets"].is_array());
}

#[test]
fn version_exits_zero_in_both_spellings() {
    for flag in ["--version", "-version"] {
        let out = std::process::Command::new(binfmtd())
            .arg(flag)
            .output()
            .unwrap();
        assert!(out.status.success(), "{flag}: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.starts_with("binfmtd "), "{flag}: {text}");
    }
}

/// Issue 12: the distribution's QEMU entries (systemd-binfmt's `qemu-<t>` running
/// `/usr/bin/qemu-<t>-static`) are adopted by default, and left with `distribution = "leave"`.
#[test]
fn the_distributions_qemu_entries_are_adopted_unless_left() {
    let Some(env) = Env::new("cli::distribution", "") else {
        return;
    };
    let distro = foreign_aarch64_line("qemu-aarch64", &qemu_static("aarch64"));
    env.register_by_hand(&distro);
    let leave = env.config_file("leave.toml", &env.store, "distribution = \"leave\"\n");
    let out = env.run_with(&leave, &["install", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let e = &by_name(&out.json())["qemu-aarch64"];
    assert_eq!(
        (e["action"].as_str(), e["reason_code"].as_str()),
        (Some("skipped"), Some("owned-by-other")),
        "{e}"
    );
    assert!(env.entry_texts()["qemu-aarch64"].contains("/usr/bin/qemu-aarch64-static"));

    let out = env.run(&["install", "aarch64", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let e = &by_name(&out.json())["qemu-aarch64"];
    assert_eq!(
        (e["action"].as_str(), e["reason_code"].as_str()),
        (Some("replaced"), Some("take-over")),
        "{e}"
    );
    assert!(
        e["reason"].as_str().unwrap_or("").contains("distribution"),
        "{e}"
    );
    assert!(env.entry_texts()["qemu-aarch64"].contains(env.store.to_str().unwrap()));
    // Adopted: binfmtd's from now on, so a plain uninstall removes it.
    assert_eq!(env.run(&["uninstall"]).code, 0);
    assert!(env.entry_texts().is_empty());
}
