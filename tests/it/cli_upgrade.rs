//! Two concurrent installs, and a package upgrade (the source interpreter replaced on disk)
//! picked up by the next run (issue 4).
#![allow(clippy::unwrap_used)] // Test helpers may unwrap, as the tests do.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use binfmtd_tests::fixtures::{Kind, foreign_binaries, qemu_newer, qemu_static};

use crate::cli_env::{Env, by_name, sha256};

/// A source directory holding bookworm's qemu-aarch64-static, and a configuration reading it:
/// (the configuration file, the source interpreter).
fn upgradable_source(env: &Env) -> (PathBuf, PathBuf) {
    let src = env.sb.scratch().join("src");
    std::fs::create_dir(&src).expect("creating the source directory");
    let config = env.config_file(
        "upgrade.toml",
        &env.store,
        &format!("interpreter_dirs = [{:?}]\n", src.display().to_string()),
    );
    let source = src.join("qemu-aarch64-static");
    std::fs::copy(qemu_static("aarch64"), &source).expect("copying qemu-aarch64-static");
    (config, source)
}

/// Installs `from` over `path` the way dpkg does: a new file beside it, renamed over it (a new
/// inode; `from` may be `path` itself, for a reinstall of the same bytes).
fn install_over(path: &Path, from: &Path) {
    let staged = path.with_extension("dpkg-new");
    std::fs::copy(from, &staged).unwrap();
    std::fs::rename(&staged, path).unwrap();
}

#[test]
fn two_concurrent_installs_serialize_and_both_succeed() {
    let Some(env) = Env::new("cli_upgrade::concurrent", "") else {
        return;
    };
    let spawn = || {
        env.command_with(&env.config, &["install", "all", "--json"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let mut added = 0;
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stdout}\n{stderr}");
        for word in ["EEXIST", "ENOENT", "exists", "No such file"] {
            assert!(
                !stdout.contains(word) && !stderr.contains(word),
                "{word}: {stdout}\n{stderr}"
            );
        }
        let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        added += by_name(&json)
            .values()
            .filter(|e| e["action"] == "added")
            .count();
    }
    // The table is complete and consistent: a third run has nothing to do.
    let third = env.run(&["install", "all", "--json"]);
    assert_eq!(third.code, 0, "{third:?}");
    let json = third.json();
    assert_eq!(json["changed"], false, "{json}");
    let kept = by_name(&json)
        .values()
        .filter(|e| e["action"] == "kept")
        .count();
    assert!(kept >= 30, "{json}");
    assert_eq!(added, kept, "each entry was added exactly once");
    assert_eq!(env.entry_texts().len(), kept);
}

#[test]
fn a_replaced_source_interpreter_is_linked_and_re_registered() {
    replaced_source("cli_upgrade::upgrade", Placement::Linked);
}

#[test]
fn a_replaced_source_interpreter_is_copied_and_re_registered() {
    replaced_source("cli_upgrade::upgrade_copied", Placement::Copied);
}

/// How the store holds the interpreter: the scratch directory shares the sources' filesystem
/// (a hard link), or the store is a tmpfs of its own (a copy).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Placement {
    Linked,
    Copied,
}

/// Install, replace the source as a package upgrade does, install again: the new build is in
/// the store, re-registered, and what the kernel runs; a deleted managed file is restored.
fn replaced_source(test: &str, placement: Placement) {
    let Some(env) = Env::new(test, "") else {
        return;
    };
    if placement == Placement::Copied {
        crate::regressions::tmpfs(&env, &env.store, "256m");
    }
    let (config, source) = upgradable_source(&env);
    let (old_sha, new_sha) = (sha256(&source), sha256(&qemu_newer("aarch64")));
    assert_ne!(old_sha, new_sha);
    let busybox = foreign_binaries()
        .into_iter()
        .find(|b| b.target.as_deref() == Some("aarch64") && b.kind == Kind::Busybox)
        .unwrap()
        .path;
    // QEMU_VERSION in the environment makes qemu-user print its version: it says which
    // interpreter file the kernel really runs.
    let kernel_runs = || {
        let out = env
            .sb
            .command(&busybox)
            .env("QEMU_VERSION", "1")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let managed = env.host_view(&env.store.join("qemu-aarch64"));
    // A link is the source's inode and is never read whole (no digest); a copy is its own
    // inode, recorded with its digest.
    let placed_as = |e: &serde_json::Value, sha: &str| {
        let (store, src) = (
            std::fs::metadata(&managed).unwrap(),
            std::fs::metadata(&source).unwrap(),
        );
        match placement {
            Placement::Linked => {
                assert_eq!((store.dev(), store.ino()), (src.dev(), src.ino()), "{e}");
                assert!(e["sha256"].is_null(), "{e}");
            }
            Placement::Copied => {
                assert_ne!(store.dev(), src.dev(), "{e}");
                assert_eq!(e["sha256"], sha, "{e}");
            }
        }
        assert_eq!(sha256(&managed), sha);
    };

    let out = env.run_with(&config, &["install", "aarch64", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let e = &by_name(&out.json())["qemu-aarch64"];
    assert_eq!(e["action"], "added");
    placed_as(e, &old_sha);
    let old_version = e["version"].as_str().unwrap().to_string();
    assert!(kernel_runs().contains(&old_version), "{old_version}");

    // The distro upgrade: a different static build renamed over the source.
    install_over(&source, &qemu_newer("aarch64"));

    let out = env.run_with(&config, &["install", "aarch64", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let e = &by_name(&out.json())["qemu-aarch64"];
    assert_eq!(e["action"], "replaced", "{e}");
    assert!(!e["reason"].as_str().unwrap_or("").is_empty(), "{e}");
    placed_as(e, &new_sha);
    let new_version = e["version"].as_str().unwrap().to_string();
    assert_ne!(new_version, old_version);

    // The kernel pins the new file: status says so, and QEMU itself says so.
    let status = env.run_with(&config, &["status", "--json"]);
    assert_eq!(status.code, 0, "{status:?}");
    let json = status.json();
    let entry = json["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "qemu-aarch64")
        .unwrap();
    let ino = std::fs::metadata(&managed).unwrap().ino();
    assert_eq!(entry["pinned_inode"].as_u64(), Some(ino), "{entry}");
    assert_eq!(entry["pinned_version"], new_version.as_str(), "{entry}");
    match placement {
        Placement::Linked => assert!(entry["pinned_sha256"].is_null(), "{entry}"),
        Placement::Copied => assert_eq!(entry["pinned_sha256"], new_sha.as_str(), "{entry}"),
    }
    assert_eq!(entry["owner"], "binfmtd");
    let runs = kernel_runs();
    assert!(
        runs.contains(&new_version) && !runs.contains(&old_version),
        "{runs}"
    );

    // With F the kernel holds the file open: the managed file can go, exec still works.
    std::fs::remove_file(&managed).unwrap();
    let out = env.exec(&busybox, &["uname", "-m"]);
    assert_eq!((out.code, out.stdout.trim()), (0, "aarch64"), "{out:?}");
    // The next run restores it.
    let out = env.run_with(&config, &["install", "aarch64"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(sha256(Path::new(&managed)), new_sha);
}

/// An upgrade found while the entry is disabled: re-enabling alone would keep the kernel pinned to
/// the old file (while the record claimed the new one); the entry must be registered anew.
#[test]
fn an_upgrade_of_a_disabled_entry_re_registers_it() {
    use std::os::unix::fs::MetadataExt;
    let Some(env) = Env::new("cli_upgrade::disabled_upgrade", "") else {
        return;
    };
    let (config, source) = upgradable_source(&env);
    assert_eq!(env.run_with(&config, &["install", "aarch64"]).code, 0);
    let entry = env.mount_view().join("qemu-aarch64");
    let inode_before = std::fs::metadata(&entry).unwrap().ino();

    env.sh_ok(&format!(
        "echo 0 > {}",
        env.sb.mount().join("qemu-aarch64").display()
    ));
    install_over(&source, &qemu_newer("aarch64"));
    let new_sha = sha256(&source);

    let out = env.run_with(&config, &["install", "aarch64", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let e = &by_name(&out.json())["qemu-aarch64"];
    assert_eq!(e["action"], "replaced", "{e}");
    assert_eq!(sha256(&env.store.join("qemu-aarch64")), new_sha);
    assert!(
        std::fs::read_to_string(&entry)
            .unwrap()
            .starts_with("enabled\n")
    );
    assert_ne!(
        std::fs::metadata(&entry).unwrap().ino(),
        inode_before,
        "re-registered (a new entry), not only re-enabled"
    );
}

/// A reinstall of the same package version (the same bytes under a new inode, as dpkg does) or
/// a `touch`, with the store on its own filesystem: the copy has identical bytes (by digest) and
/// the kernel already pins them, so nothing is re-registered.
#[test]
fn a_reinstalled_identical_interpreter_changes_nothing_in_a_copied_store() {
    let Some(env) = Env::new("cli_upgrade::same_bytes", "") else {
        return;
    };
    crate::regressions::tmpfs(&env, &env.store, "256m");
    let (config, source) = upgradable_source(&env);
    assert_eq!(env.run_with(&config, &["install", "aarch64"]).code, 0);
    let entry = env.mount_view().join("qemu-aarch64");
    let inode_before = std::fs::metadata(&entry).unwrap().ino();

    install_over(&source, &source);
    assert_kept(&env, &config, "a reinstall");
    env.sh_ok(&format!("touch {}", source.display()));
    assert_kept(&env, &config, "a touch");
    assert_eq!(std::fs::metadata(&entry).unwrap().ino(), inode_before);
}

/// A hard-linked store: a `touch` of the source touches the store's file too (one inode), and
/// the kernel pins that inode, so nothing is re-registered. A reinstall of the same bytes is a
/// new inode, not read to compare: it is linked and registered gaplessly (which lets the old
/// inode go, instead of keeping a second copy of QEMU alive).
#[test]
fn a_touched_linked_interpreter_changes_nothing_and_a_reinstall_is_relinked() {
    let Some(env) = Env::new("cli_upgrade::same_bytes_linked", "") else {
        return;
    };
    let (config, source) = upgradable_source(&env);
    assert_eq!(env.run_with(&config, &["install", "aarch64"]).code, 0);
    let entry = env.mount_view().join("qemu-aarch64");
    let inode_before = std::fs::metadata(&entry).unwrap().ino();
    let managed = env.store.join("qemu-aarch64");
    let ino = |p: &Path| std::fs::metadata(p).unwrap().ino();
    assert_eq!(ino(&managed), ino(&source), "linked");

    env.sh_ok(&format!("touch {}", source.display()));
    assert_kept(&env, &config, "a touch");
    assert_eq!(std::fs::metadata(&entry).unwrap().ino(), inode_before);

    install_over(&source, &source);
    let out = env.run_with(&config, &["install", "aarch64", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let json = out.json();
    assert_eq!(
        by_name(&json)["qemu-aarch64"]["action"],
        "replaced",
        "{json}"
    );
    assert_eq!(ino(&managed), ino(&source), "linked to the new inode");
    let status = env.run_with(&config, &["status", "--json"]).json();
    let pinned = status["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "qemu-aarch64")
        .map(|e| e["pinned_inode"].clone());
    assert_eq!(
        pinned.and_then(|p| p.as_u64()),
        Some(ino(&source)),
        "{status}"
    );
    assert_kept(&env, &config, "the run after");
}

/// `install aarch64` changes nothing and keeps the entry.
fn assert_kept(env: &Env, config: &Path, after: &str) {
    let out = env.run_with(config, &["install", "aarch64", "--json"]);
    assert_eq!(out.code, 0, "{after}: {out:?}");
    let json = out.json();
    assert_eq!(json["changed"], false, "{after}: {json}");
    assert_eq!(
        by_name(&json)["qemu-aarch64"]["action"],
        "kept",
        "{after}: {json}"
    );
}

/// The sources on another mount of the store's filesystem (what a hardened service sees:
/// `ProtectSystem=strict` makes `/usr` a read-only bind mount): link(2) refuses with `EXDEV`, so
/// the store copies, and knows it copies: a reinstall of identical bytes is compared, not
/// copied and registered again.
#[test]
fn sources_on_another_mount_of_the_same_filesystem_are_copied_and_compared() {
    use std::os::unix::fs::MetadataExt;
    let Some(env) = Env::new("cli_upgrade::bind_mounted_sources", "") else {
        return;
    };
    let (config, source) = upgradable_source(&env);
    let src = source.parent().unwrap();
    env.sh_ok(&format!(
        "mount --bind {d} {d} && mount -o remount,bind,ro {d}",
        d = src.display()
    ));
    let out = env.run_with(&config, &["install", "aarch64", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let managed = env.host_view(&env.store.join("qemu-aarch64"));
    let ino = |p: &Path| std::fs::metadata(p).unwrap().ino();
    assert_ne!(ino(&managed), ino(&source), "a copy");
    assert_eq!(sha256(&managed), sha256(&source));

    install_over(&source, &source);
    assert_kept(&env, &config, "a reinstall");
    assert_kept(&env, &config, "the run after");
}
