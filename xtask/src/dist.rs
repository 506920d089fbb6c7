//! `cargo xtask dist`: a statically linked `binfmtd`, verified static, staged with its install tree.
//!
//! The binary is built for `x86_64-unknown-linux-musl` when rustup can add that target, else for
//! the gnu target with `-C target-feature=+crt-static` (a static-pie). `--target` keeps the
//! RUSTFLAGS away from build scripts and proc-macros. "Static" is checked on the result, not
//! assumed: no `PT_INTERP` and no `DT_NEEDED` (goblin, headers only).
//!
//! The install tree comes from one map, the `install-map` block of `packaging/README.md`
//! (source → destination → mode), so the README, the tarball and the `.deb` cannot drift apart.
//! Output: `target/dist/root/` (the tree), `target/dist/binfmtd-<version>-<arch>-linux.tar.gz`.

use anyhow::{Context, Result, bail, ensure};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{cargo, run};

/// Where `dist` stages the install tree.
pub(crate) const STAGE: &str = "target/dist/root";

/// The gnu fallback target.
const GNU: &str = "x86_64-unknown-linux-gnu";
/// The preferred target.
const MUSL: &str = "x86_64-unknown-linux-musl";

/// One line of the install map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Item {
    /// Path relative to the workspace root; `@BINARY@` is the static binary just built.
    pub(crate) source: String,
    /// Path relative to the install root (no leading `/`).
    pub(crate) destination: String,
    /// File mode.
    pub(crate) mode: u32,
}

/// Builds the static binary, verifies it, and stages the install tree; returns the binary's path.
pub(crate) fn dist(root: &Path) -> Result<PathBuf> {
    let binary = build_static(root)?;
    verify_static(&binary)?;
    eprintln!("dist: {} is statically linked", binary.display());
    let items = install_map(&fs::read_to_string(root.join("packaging/README.md"))?)?;
    let stage = root.join(STAGE);
    if stage.exists() {
        fs::remove_dir_all(&stage).with_context(|| format!("removing {}", stage.display()))?;
    }
    for item in &items {
        stage_item(root, &binary, &stage, item)?;
    }
    let tarball = root.join(format!(
        "target/dist/binfmtd-{}-{}-linux.tar.gz",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH
    ));
    run(
        root,
        Command::new("tar")
            .arg("--owner=0")
            .arg("--group=0")
            .arg("--sort=name")
            .arg("-czf")
            .arg(&tarball)
            .arg("-C")
            .arg(&stage)
            .arg("."),
    )?;
    eprintln!(
        "dist: staged {} files in {STAGE}, tarball {}",
        items.len(),
        tarball.display()
    );
    Ok(binary)
}

/// Builds `binfmtd` statically: musl if rustup can provide it, else gnu + crt-static.
fn build_static(root: &Path) -> Result<PathBuf> {
    let target = if musl_available() { MUSL } else { GNU };
    let mut build = cargo();
    build.args([
        "build",
        "--release",
        "-p",
        "binfmtd",
        "--bin",
        "binfmtd",
        "--target",
        target,
    ]);
    if target == GNU {
        let flags = std::env::var("RUSTFLAGS").unwrap_or_default();
        build.env(
            "RUSTFLAGS",
            format!("{flags} -C target-feature=+crt-static"),
        );
    }
    run(root, &mut build)?;
    Ok(root.join("target").join(target).join("release/binfmtd"))
}

/// True if the musl target is installed or rustup can add it now (never a hard dependency).
fn musl_available() -> bool {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .is_ok_and(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l == MUSL)
        });
    if installed {
        return true;
    }
    eprintln!("dist: adding the {MUSL} target (falls back to {GNU} + crt-static)");
    Command::new("rustup")
        .args(["target", "add", MUSL])
        .status()
        .is_ok_and(|s| s.success())
}

/// Fails unless `path` is an ELF without a program interpreter and without needed libraries.
pub(crate) fn verify_static(path: &Path) -> Result<()> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let elf = goblin::elf::Elf::parse(&bytes)
        .with_context(|| format!("{} is not a valid ELF file", path.display()))?;
    if let Some(interp) = elf.interpreter {
        bail!(
            "{} is dynamically linked: it asks for the loader {interp}",
            path.display()
        );
    }
    ensure!(
        elf.libraries.is_empty(),
        "{} is dynamically linked: it needs {}",
        path.display(),
        elf.libraries.join(", ")
    );
    Ok(())
}

/// Parses the fenced `install-map` block: `source  destination  mode` per line, `#` comments.
pub(crate) fn install_map(readme: &str) -> Result<Vec<Item>> {
    let block = readme
        .split("```install-map\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .context("packaging/README.md has no ```install-map block")?;
    let mut items = Vec::new();
    for (n, line) in block.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [source, destination, mode] = fields[..] else {
            bail!(
                "install-map line {}: expected `source destination mode`, got `{line}`",
                n + 1
            );
        };
        let mode = u32::from_str_radix(mode, 8)
            .with_context(|| format!("install-map line {}: bad octal mode `{mode}`", n + 1))?;
        ensure!(
            !destination.starts_with('/') && !destination.contains(".."),
            "install-map line {}: destination `{destination}` must be relative, without `..`",
            n + 1
        );
        items.push(Item {
            source: source.to_string(),
            destination: destination.to_string(),
            mode,
        });
    }
    ensure!(!items.is_empty(), "the install-map block is empty");
    Ok(items)
}

/// Copies one map item into the stage (gzip -9n for `.gz` destinations of plain sources).
fn stage_item(root: &Path, binary: &Path, stage: &Path, item: &Item) -> Result<()> {
    let source = if item.source == "@BINARY@" {
        binary.to_path_buf()
    } else {
        root.join(&item.source)
    };
    let dest = stage.join(&item.destination);
    if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let gzip = item.destination.ends_with(".gz") && !item.source.ends_with(".gz");
    if gzip {
        let out = Command::new("gzip")
            .args(["-9", "-n", "-c"])
            .arg(&source)
            .output()
            .context("cannot run gzip")?;
        ensure!(out.status.success(), "gzip {} failed", source.display());
        fs::write(&dest, out.stdout).with_context(|| format!("writing {}", dest.display()))?;
    } else {
        fs::copy(&source, &dest).with_context(|| {
            format!(
                "staging {} (listed in packaging/README.md) as {}",
                source.display(),
                item.destination
            )
        })?;
    }
    fs::set_permissions(&dest, fs::Permissions::from_mode(item.mode))
        .with_context(|| format!("chmod {}", dest.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checked_in_install_map_parses_and_every_source_exists() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let readme = fs::read_to_string(root.join("packaging/README.md")).expect("readme");
        let items = install_map(&readme).expect("map");
        assert!(items.iter().any(|i| i.destination == "usr/bin/binfmtd"));
        for item in items.iter().filter(|i| i.source != "@BINARY@") {
            assert!(
                root.join(&item.source).is_file(),
                "{} is in packaging/README.md's install map but does not exist",
                item.source
            );
        }
    }

    #[test]
    fn bad_map_lines_are_rejected() {
        let bad = "```install-map\nREADME.md /usr/share/doc/x 644\n```\n";
        assert!(install_map(bad).is_err());
        let bad = "```install-map\nREADME.md usr/share/doc/x rw\n```\n";
        assert!(install_map(bad).is_err());
        assert!(install_map("no block").is_err());
    }

    #[test]
    fn a_dynamic_binary_is_not_static() {
        let err = verify_static(Path::new("/bin/ls")).expect_err("/bin/ls is dynamic");
        assert!(err.to_string().contains("dynamically linked"), "{err}");
    }

    #[test]
    fn debian_qemu_static_is_static() {
        let qemu = Path::new("/usr/bin/qemu-aarch64-static");
        if !qemu.exists() {
            eprintln!("skipping: qemu-user-static is not installed (tests/setup.sh installs it)");
            return;
        }
        verify_static(qemu).expect("Debian's qemu-aarch64-static is static");
    }
}
