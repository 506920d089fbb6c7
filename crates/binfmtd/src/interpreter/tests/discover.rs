//! Discovery order: configured directories first, `-static` before plain within a directory.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use elf_magic::Target;

use super::super::{DEFAULT_DIRS, candidates, candidates_in, discover, discover_in};
use super::need;

fn touch(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, b"").unwrap();
    path
}

fn target(name: &str) -> Target {
    Target::ALL
        .iter()
        .copied()
        .find(|t| t.name() == name)
        .unwrap()
}

#[test]
fn static_name_wins_within_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let plain = touch(dir.path(), "qemu-riscv64");
    let stat = touch(dir.path(), "qemu-riscv64-static");
    let dirs = vec![dir.path().to_path_buf()];
    assert_eq!(discover_in("qemu-riscv64", &dirs), Some(stat.clone()));
    assert_eq!(candidates_in("qemu-riscv64", &dirs), vec![stat, plain]);
}

#[test]
fn earlier_directory_wins_over_static_name() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let in_a = touch(a.path(), "qemu-riscv64");
    let in_b = touch(b.path(), "qemu-riscv64-static");
    let dirs = vec![a.path().to_path_buf(), b.path().to_path_buf()];
    assert_eq!(
        candidates_in("qemu-riscv64", &dirs),
        vec![in_a.clone(), in_b.clone()]
    );
    let reversed = vec![b.path().to_path_buf(), a.path().to_path_buf()];
    assert_eq!(discover_in("qemu-riscv64", &reversed), Some(in_b));
}

#[test]
fn dangling_symlinks_and_other_names_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    symlink(
        dir.path().join("nowhere"),
        dir.path().join("qemu-riscv64-static"),
    )
    .unwrap();
    touch(dir.path(), "qemu-riscv64-static.bak");
    touch(dir.path(), "qemu-riscv32");
    let plain = touch(dir.path(), "qemu-riscv64");
    let dirs = vec![dir.path().to_path_buf()];
    assert_eq!(discover_in("qemu-riscv64", &dirs), Some(plain));
    assert_eq!(discover_in("qemu-mips", &dirs), None);
}

#[test]
fn configured_directory_comes_before_the_defaults() {
    let Some(system) = need("/usr/bin/qemu-aarch64-static") else {
        return;
    };
    let aarch64 = target("aarch64");
    assert_eq!(
        discover(aarch64, &[]),
        Some(system.clone()),
        "default dirs are searched"
    );
    let dir = tempfile::tempdir().unwrap();
    let mine = touch(dir.path(), "qemu-aarch64");
    let dirs = vec![dir.path().to_path_buf()];
    assert_eq!(discover(aarch64, &dirs), Some(mine.clone()));
    let all = candidates(aarch64, &dirs);
    assert_eq!(all.first(), Some(&mine));
    assert!(all.contains(&system), "{all:?}");
    assert_eq!(DEFAULT_DIRS[0], "/usr/bin");
}

#[test]
fn i486_is_served_by_qemu_i386() {
    let dir = tempfile::tempdir().unwrap();
    let i386 = touch(dir.path(), "qemu-i386-static");
    let dirs = vec![dir.path().to_path_buf()];
    assert_eq!(discover(target("i486"), &dirs), Some(i386));
}
