//! The build context of `packaging/container/Dockerfile` (`target/image/context`), and where its
//! QEMU comes from.
//!
//! QEMU is Debian's `qemu-user` (static builds since Debian 13) of the stable release named by
//! `BINFMTD_QEMU_SUITE` (default `trixie`), fetched for each architecture by
//! `packaging/container/debian-fetch.sh` with a private apt configuration: the build host's own
//! packages play no part. Every architecture must get the same QEMU version (it is in the tags).
//!
//! Layout: `<oci arch>/binfmtd` and `<oci arch>/qemu/qemu-<target>` (hard links into the unpacked
//! packages; Debian's alias symlinks such as `qemu-arm64` and the architecture's own target left
//! out), then the files every architecture shares: `binfmtd.toml`, `setuid.toml`,
//! `binfmtd.service`, `tmp/`. Each architecture's directory is checked file by file
//! ([`arch::check_tree`]) before anything is built from it.

use anyhow::{Context, Result, bail, ensure};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::arch::{self, Arch};

/// The Debian suite whose QEMU goes into the image, unless `BINFMTD_QEMU_SUITE` says otherwise.
const DEFAULT_SUITE: &str = "trixie";

/// The QEMU that went into the image.
#[derive(Debug, Clone)]
pub(crate) struct Qemu {
    /// Upstream version (`10.0.13`), as in the tags.
    pub(crate) version: String,
    /// Where it came from (`Debian trixie qemu-user 1:10.0.13+ds-0+deb13u1`).
    pub(crate) source: String,
    /// Per architecture (same order as the arches asked for), the unpacked `usr/bin`.
    bins: Vec<PathBuf>,
}

/// Fetches (or finds in the cache) Debian's `qemu-user` for every architecture.
pub(crate) fn fetch_qemu(root: &Path, arches: &[&Arch]) -> Result<Qemu> {
    let suite = std::env::var("BINFMTD_QEMU_SUITE").unwrap_or_else(|_| DEFAULT_SUITE.into());
    let script = root.join("packaging/container/debian-fetch.sh");
    let mut cmd = Command::new("bash");
    cmd.arg(&script).arg(&suite);
    for a in arches {
        cmd.arg(format!("qemu-user:{}", a.debian));
    }
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {}", script.display()))?;
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    ensure!(
        out.status.success(),
        "{} failed with {}",
        script.display(),
        out.status
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut debian_version: Option<String> = None;
    let mut bins = Vec::new();
    for (a, line) in arches.iter().zip(stdout.lines()) {
        let [package, version, dir] = line.split('\t').collect::<Vec<_>>()[..] else {
            bail!("debian-fetch.sh printed `{line}`, expected PACKAGE:ARCH, VERSION, DIRECTORY");
        };
        ensure!(
            package == format!("qemu-user:{}", a.debian),
            "debian-fetch.sh answered {package} for qemu-user:{}",
            a.debian
        );
        match &debian_version {
            Some(v) if v != version => bail!(
                "Debian {suite} has qemu-user {v} for {} but {version} for {}: the image needs \
                 one QEMU version; retry once the mirror has every architecture",
                arches[0].debian,
                a.debian
            ),
            _ => debian_version = Some(version.to_string()),
        }
        bins.push(Path::new(dir).join("usr/bin"));
    }
    ensure!(
        bins.len() == arches.len(),
        "debian-fetch.sh answered for {} of {} architectures",
        bins.len(),
        arches.len()
    );
    let debian_version = debian_version.context("no architecture asked for")?;
    Ok(Qemu {
        version: upstream_version(&debian_version),
        source: format!("Debian {suite} qemu-user {debian_version}"),
        bins,
    })
}

/// `1:10.0.13+ds-0+deb13u1` → `10.0.13`.
fn upstream_version(debian: &str) -> String {
    let no_epoch = debian.split_once(':').map_or(debian, |(_, v)| v);
    no_epoch
        .split(['+', '-', '~'])
        .next()
        .unwrap_or(no_epoch)
        .to_string()
}

/// Builds `target/image/context` from the static binaries (one per arch, same order) and QEMU;
/// checks every architecture's files. Returns the context's path.
pub(crate) fn assemble(
    root: &Path,
    arches: &[&Arch],
    binaries: &[PathBuf],
    qemu: &Qemu,
) -> Result<PathBuf> {
    let context = root.join("target/image/context");
    if context.exists() {
        fs::remove_dir_all(&context).with_context(|| format!("removing {}", context.display()))?;
    }
    for ((arch, binary), bin) in arches.iter().zip(binaries).zip(&qemu.bins) {
        let dir = context.join(arch.oci);
        let qdir = dir.join("qemu");
        fs::create_dir_all(&qdir)?;
        link_or_copy(binary, &dir.join("binfmtd"))?;
        let own = format!("qemu-{}", arch.qemu);
        let mut count = 0;
        for entry in fs::read_dir(bin).with_context(|| format!("reading {}", bin.display()))? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            // Regular files only: Debian's symlinks are aliases (qemu-arm64 -> qemu-aarch64).
            if !name.starts_with("qemu-") || name == own || !entry.file_type()?.is_file() {
                continue;
            }
            link_or_copy(&entry.path(), &qdir.join(&name))?;
            count += 1;
        }
        ensure!(
            qdir.join("qemu-aarch64").exists() || arch.qemu == "aarch64",
            "{} has no qemu-aarch64: is it Debian's qemu-user?",
            bin.display()
        );
        let elves = arch::check_tree(arch, &dir)?;
        eprintln!(
            "image: linux/{}: binfmtd and {count} QEMU interpreters, {elves} static ELF files checked",
            arch.oci
        );
    }
    let container = root.join("packaging/container");
    for name in ["binfmtd.toml", "setuid.toml"] {
        fs::copy(container.join(name), context.join(name))?;
    }
    fs::copy(
        root.join("systemd/binfmtd.service"),
        context.join("binfmtd.service"),
    )?;
    let tmp = context.join("tmp");
    fs::create_dir_all(&tmp)?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o1777))?;
    Ok(context)
}

/// Hard-links `from` to `to` (both under target/), copying if the file systems differ.
fn link_or_copy(from: &Path, to: &Path) -> Result<()> {
    if fs::hard_link(from, to).is_err() {
        fs::copy(from, to)
            .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::upstream_version;

    #[test]
    fn debian_versions_give_the_upstream_version() {
        assert_eq!(upstream_version("1:10.0.13+ds-0+deb13u1"), "10.0.13");
        assert_eq!(upstream_version("1:11.1.3+ds-2~bpo13+1"), "11.1.3");
        assert_eq!(upstream_version("7.2-1"), "7.2");
    }
}
