//! Two concurrent installs, and a package upgrade (the source interpreter replaced on disk)
//! picked up by the next run (issue 4).

use std::path::{Path, PathBuf};

use binfmtd_tests::fixtures::{Kind, foreign_binaries, qemu_newer, qemu_static};

use crate::cli_env::{Env, by_name, sha256};

/// A source directory holding bookworm's qemu-aarch64-static, and a configuration reading it:
/// (the directory, the configuration file, the source interpreter).
fn upgradable_source(env: &Env) -> (PathBuf, PathBuf, PathBuf) {
    let src = env.sb.scratch().join("src");
    std::fs::create_dir(&src).expect("creating the source directory");
    let config = env.config_file(
        "upgrade.toml",
        &env.store,
        &format!("interpreter_dirs = [{:?}]\n", src.display().to_string()),
    );
    let source = src.join("qemu-aarch64-static");
    std::fs::copy(qemu_static("aarch64"), &source).expect("copying qemu-aarch64-static");
    (src, config, source)
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
fn a_replaced_source_interpreter_is_installed_and_re_registered() {
    let Some(env) = Env::new("cli_upgrade::upgrade", "") else {
        return;
    };
    let (src, config, source) = upgradable_source(&env);
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

    let out = env.run_with(&config, &["install", "aarch64", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let e = &by_name(&out.json())["qemu-aarch64"];
    assert_eq!(e["action"], "added");
    assert_eq!(e["sha256"], old_sha.as_str());
    let old_version = e["version"].as_str().unwrap().to_string();
    assert!(kernel_runs().contains(&old_version), "{old_version}");

    // The distro upgrade: a different static build renamed over the source.
    let staged = src.join(".qemu-aarch64-static.new");
    std::fs::copy(qemu_newer("aarch64"), &staged).unwrap();
    std::fs::rename(&staged, &source).unwrap();

    let out = env.run_with(&config, &["install", "aarch64", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let e = &by_name(&out.json())["qemu-aarch64"];
    assert_eq!(e["action"], "replaced", "{e}");
    assert!(!e["reason"].as_str().unwrap_or("").is_empty(), "{e}");
    assert_eq!(e["sha256"], new_sha.as_str(), "{e}");
    let new_version = e["version"].as_str().unwrap().to_string();
    assert_ne!(new_version, old_version);
    let managed = env.store.join("qemu-aarch64");
    assert_eq!(sha256(&managed), new_sha);

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
    assert_eq!(entry["pinned_sha256"], new_sha.as_str(), "{entry}");
    assert_eq!(entry["owner"], "binfmtd");
    let runs = kernel_runs();
    assert!(
        runs.contains(&new_version) && !runs.contains(&old_version),
        "{runs}"
    );

    // With F the kernel holds the file open: the managed copy can go, exec still works.
    std::fs::remove_file(&managed).unwrap();
    let out = env.exec(&busybox, &["uname", "-m"]);
    assert_eq!((out.code, out.stdout.trim()), (0, "aarch64"), "{out:?}");
    // The next run restores the copy.
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
    let (src, config, source) = upgradable_source(&env);
    assert_eq!(env.run_with(&config, &["install", "aarch64"]).code, 0);
    let entry = env.mount_view().join("qemu-aarch64");
    let inode_before = std::fs::metadata(&entry).unwrap().ino();

    env.sh_ok(&format!(
        "echo 0 > {}",
        env.sb.mount().join("qemu-aarch64").display()
    ));
    let staged = src.join(".qemu-aarch64-static.new");
    std::fs::copy(qemu_newer("aarch64"), &staged).unwrap();
    std::fs::rename(&staged, &source).unwrap();
    let new_sha = sha256(&source);

    let out = env.run_with(&config, &["install", "aarch64", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let e = &by_name(&out.json())["qemu-aarch64"];
    assert_eq!(e["action"], "replaced", "{e}");
    assert_eq!(e["sha256"], new_sha.as_str(), "{e}");
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

/// A reinstall of the same package version (the same bytes under a new inode, as dpkg does) or a
/// `touch`: the store sees identical bytes and the kernel already pins them, so nothing is
/// re-registered.
#[test]
fn a_reinstalled_identical_interpreter_changes_nothing() {
    use std::os::unix::fs::MetadataExt;
    let Some(env) = Env::new("cli_upgrade::same_bytes", "") else {
        return;
    };
    let (src, config, source) = upgradable_source(&env);
    assert_eq!(env.run_with(&config, &["install", "aarch64"]).code, 0);
    let entry = env.mount_view().join("qemu-aarch64");
    let inode_before = std::fs::metadata(&entry).unwrap().ino();

    let staged = src.join(".qemu-aarch64-static.again");
    std::fs::copy(&source, &staged).unwrap();
    std::fs::rename(&staged, &source).unwrap();

    let out = env.run_with(&config, &["install", "aarch64", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let json = out.json();
    assert_eq!(json["changed"], false, "{json}");
    assert_eq!(by_name(&json)["qemu-aarch64"]["action"], "kept", "{json}");
    assert_eq!(std::fs::metadata(&entry).unwrap().ino(), inode_before);
}
