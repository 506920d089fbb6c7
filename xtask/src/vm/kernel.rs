//! Debian kernels for the VM bench: resolved through a private apt configuration, downloaded,
//! and reduced to what a guest needs (the kernel image and the `binfmt_misc` module).
//!
//! Resolution starts at the meta package `linux-image-<arch>` and follows its `Depends` to the
//! versioned packages (`linux-image-6.12.117+deb13-amd64`; on experimental the image is split
//! into `linux-binary-7.3-amd64` and `linux-modules-7.3-amd64`), so a new point release or
//! package split needs no change here. Only `vmlinuz*` and `binfmt_misc.ko*` are extracted.

use anyhow::{Context, Result, bail, ensure};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::apt::{self, Apt};

/// A kernel ready to boot.
#[derive(Debug, Clone)]
pub(crate) struct Kernel {
    /// `major.minor` of the upstream version (`5.10`, `7.3`), for result lines.
    pub(crate) label: String,
    /// Debian architecture (`amd64`, `arm64`).
    pub(crate) arch: String,
    /// The modules directory name, which is what `uname -r` prints in the guest.
    pub(crate) release: String,
    /// The kernel image.
    pub(crate) vmlinuz: PathBuf,
    /// `binfmt_misc.ko`, decompressed (busybox `insmod` reads plain modules only).
    pub(crate) binfmt_misc: PathBuf,
    /// Whether Debian's changelog lists the stable backport of "binfmt_misc: cleanup on
    /// filesystem umount" (upstream in 6.7; in 6.1 since 6.1.107): then an unmount frees the
    /// entries although the version is older than 6.7.
    pub(crate) umount_cleanup_backported: bool,
}

/// What is extracted from the kernel packages: the image, the module, Debian's changelog.
const EXTRACT: [&str; 3] = [
    "*vmlinuz*",
    "*/binfmt_misc.ko*",
    "./usr/share/doc/*/changelog*.gz",
];

/// The upstream commit (1c5976ef0f7a, Linux 6.7) that makes the last unmount free every entry.
const UMOUNT_CLEANUP: &str = "binfmt_misc: cleanup on filesystem umount";

/// Resolves, downloads (once) and extracts (once) the newest kernel of `arch` in `apt`.
pub(crate) fn fetch(apt: &Apt, cache: &Path, arch: &str) -> Result<Kernel> {
    let meta = format!("linux-image-{arch}:{arch}");
    let (meta_version, _) = apt.candidate(&meta)?;
    let label = label(&meta_version)
        .with_context(|| format!("{meta} has an unexpected version {meta_version}"))?;
    let packages = versioned_packages(apt, &meta, arch)?;
    ensure!(
        !packages.is_empty(),
        "{meta} {meta_version} depends on no versioned linux-image/-binary/-modules package: \
         Debian changed its kernel packaging; adapt xtask/src/vm/kernel.rs"
    );
    let debs = apt.download(&packages)?;
    let dir = cache.join("kernels").join(format!("{arch}-{meta_version}"));
    // The stamp names the packages and what was extracted from them: a change to either
    // extracts again.
    let mut stamp: String = debs.iter().map(|d| format!("{}\n", d.display())).collect();
    stamp.push_str(&EXTRACT.join(" "));
    if fs::read_to_string(dir.join(".done")).ok() != Some(stamp.clone()) {
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        for deb in &debs {
            apt::extract(deb, &dir.join("tree"), &EXTRACT)?;
        }
        let module = find(&dir.join("tree"), "binfmt_misc.ko")?;
        decompress(&module, &dir.join("binfmt_misc.ko"))?;
        fs::write(dir.join(".done"), &stamp)?;
    }
    let module = find(&dir.join("tree"), "binfmt_misc.ko")?;
    let release = module
        .ancestors()
        .find(|p| p.parent().and_then(Path::file_name) == Some("modules".as_ref()))
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .with_context(|| format!("{} is not under a modules/<release>/", module.display()))?;
    Ok(Kernel {
        label,
        arch: arch.to_string(),
        release,
        vmlinuz: find(&dir.join("tree"), "vmlinuz")?,
        binfmt_misc: dir.join("binfmt_misc.ko"),
        umount_cleanup_backported: changelog_mentions(&dir.join("tree"), UMOUNT_CLEANUP)?,
    })
}

/// Whether a Debian changelog unpacked under `tree` mentions `needle` (`zcat`, then a search).
fn changelog_mentions(tree: &Path, needle: &str) -> Result<bool> {
    let Ok(changelog) = find(tree, "changelog") else {
        return Ok(false);
    };
    let out = Command::new("zcat")
        .arg(&changelog)
        .output()
        .context("cannot run zcat")?;
    ensure!(out.status.success(), "zcat {} failed", changelog.display());
    Ok(String::from_utf8_lossy(&out.stdout).contains(needle))
}

/// The versioned kernel packages `meta` pulls in, following `Depends` through intermediate
/// meta packages (`linux-image-7.3-amd64` → `linux-binary-7.3-amd64`).
fn versioned_packages(apt: &Apt, meta: &str, arch: &str) -> Result<Vec<String>> {
    let mut queue = vec![meta.to_string()];
    let mut found: Vec<String> = Vec::new();
    while let Some(package) = queue.pop() {
        for dep in apt.depends(&package)? {
            let qualified = format!("{dep}:{arch}");
            if is_versioned_kernel_package(&dep) && !found.contains(&qualified) {
                found.push(qualified.clone());
                queue.push(qualified);
            }
        }
    }
    // Only the packages with files matter; metas like linux-image-7.3-amd64 are tiny anyway.
    Ok(found)
}

/// `linux-image-5.10.0-32-amd64`, `linux-binary-7.3-amd64`, `linux-modules-7.3-amd64`; not the
/// unversioned metas (`linux-image-amd64`, `linux-modules-amd64`) nor debug symbols.
fn is_versioned_kernel_package(name: &str) -> bool {
    ["linux-image-", "linux-binary-", "linux-modules-"]
        .iter()
        .filter_map(|p| name.strip_prefix(p))
        .any(|rest| rest.starts_with(|c: char| c.is_ascii_digit()) && !rest.ends_with("-dbg"))
}

/// `major.minor` from a Debian version: `6.12.117-1` → `6.12`, `7.3~rc7-1~exp1` → `7.3`.
fn label(version: &str) -> Option<String> {
    let upstream = version.split_once(':').map_or(version, |(_, v)| v);
    let mut parts = upstream
        .split(|c: char| !c.is_ascii_digit())
        .take(2)
        .filter(|p| !p.is_empty());
    let (major, minor) = (parts.next()?, parts.next()?);
    Some(format!("{major}.{minor}"))
}

/// The first file under `dir` whose name starts with `prefix` (sorted, so deterministic).
fn find(dir: &Path, prefix: &str) -> Result<PathBuf> {
    let mut stack = vec![dir.to_path_buf()];
    let mut hits = Vec::new();
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                stack.push(path);
            } else if entry.file_name().to_string_lossy().starts_with(prefix) {
                hits.push(path);
            }
        }
    }
    hits.sort();
    hits.into_iter().next().with_context(|| {
        format!(
            "no {prefix}* in the kernel packages unpacked at {}",
            dir.display()
        )
    })
}

/// Writes `module` decompressed (`.ko`, `.ko.xz`, `.ko.zst`) to `dest`.
fn decompress(module: &Path, dest: &Path) -> Result<()> {
    let name = module.to_string_lossy();
    let tool = if name.ends_with(".ko") {
        fs::copy(module, dest)?;
        return Ok(());
    } else if name.ends_with(".xz") {
        "xz"
    } else if name.ends_with(".zst") {
        "zstd"
    } else {
        bail!("{name}: unknown module compression");
    };
    let out = Command::new(tool)
        .arg("-dc")
        .arg(module)
        .output()
        .with_context(|| format!("cannot run {tool} (apt-get install xz-utils zstd)"))?;
    ensure!(out.status.success(), "{tool} -dc {name} failed");
    fs::write(dest, out.stdout)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_the_upstream_version() {
        assert_eq!(label("5.10.223-1").as_deref(), Some("5.10"));
        assert_eq!(label("6.12.117-1").as_deref(), Some("6.12"));
        assert_eq!(label("7.3~rc7-1~exp1").as_deref(), Some("7.3"));
        assert_eq!(label("1:7.3-1").as_deref(), Some("7.3"));
        assert_eq!(label("rc"), None);
    }

    #[test]
    fn only_versioned_packages_are_followed() {
        for yes in [
            "linux-image-5.10.0-32-amd64",
            "linux-image-6.12.117+deb13-arm64",
            "linux-binary-7.3-amd64",
            "linux-modules-7.3-amd64",
        ] {
            assert!(is_versioned_kernel_package(yes), "{yes}");
        }
        for no in [
            "linux-image-amd64",
            "linux-modules-amd64",
            "linux-base-7.3-amd64",
            "linux-image-7.3-amd64-dbg",
            "kmod",
        ] {
            assert!(!is_versioned_kernel_package(no), "{no}");
        }
    }
}
