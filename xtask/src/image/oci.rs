//! The OCI image index, built and written by maintained tools (Debian's buildah and skopeo): no
//! registry, no daemon, no hand-written JSON.
//!
//! `buildah build --platform linux/A,linux/B… --manifest` builds `packaging/container/Dockerfile`
//! once per architecture (each picks its directory of the context through `TARGETARCH`; nothing is
//! executed, so no emulation is needed) into a manifest list, twice: the `binfmtd` stage (tags
//! `latest`, `binfmtd-<v>-qemu-<v>`) and the `setuid` stage (the same tags with `-setuid`).
//! `buildah manifest push --all --format oci` writes both into the OCI layout `target/image/oci`
//! (`skopeo copy` adds the version tags), whose tarball is the OCI archive `target/image/binfmtd.oci.tar`. Each platform is then read
//! back from the layout (`buildah from --platform`) and every file checked again
//! ([`arch::check_tree`]); the host's platform is also written as `target/image/binfmtd-image.tar`
//! for `docker load`.
//!
//! buildah's storage (overlay, with `--layers` so an unchanged QEMU layer is reused) lives in
//! `target/image/buildah`. Timestamps come from the last commit, so a rebuild of the same sources
//! gives the same layers.

use anyhow::{Context, Result, ensure};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::arch::{self, Arch};
use super::context::Qemu;
use crate::run;

/// The image's name in buildah's storage and in `binfmtd-image.tar`.
pub(crate) const NAME: &str = "binfmtd";

/// What `build` produced.
#[derive(Debug)]
pub(crate) struct Built {
    /// The OCI layout directory (every tag).
    pub(crate) layout: PathBuf,
    /// `binfmtd-<v>-qemu-<v>`.
    pub(crate) version_tag: String,
    /// The upstream version of the image's QEMU.
    pub(crate) qemu_version: String,
}

/// The two variants: Dockerfile stage and tag suffix.
const VARIANTS: [(&str, &str); 2] = [("binfmtd", ""), ("setuid", "-setuid")];

/// Builds the index for `arches` from `context` and writes the layout, the archive and the
/// `docker load` tarball.
pub(crate) fn build(root: &Path, context: &Path, arches: &[&Arch], qemu: &Qemu) -> Result<Built> {
    let version = env!("CARGO_PKG_VERSION");
    let version_tag = format!("binfmtd-{version}-qemu-{}", qemu.version);
    let out = root.join("target/image");
    let layout = out.join("oci");
    if layout.exists() {
        fs::remove_dir_all(&layout).with_context(|| format!("removing {}", layout.display()))?;
    }
    let platforms: Vec<String> = arches.iter().map(|a| format!("linux/{}", a.oci)).collect();
    let epoch = source_date_epoch(root);
    for (stage, suffix) in VARIANTS {
        let list = format!("localhost/{NAME}:{stage}");
        // A list left by the previous build would collect this build's images too.
        let _ = buildah(root).args(["manifest", "rm", &list]).output();
        let mut cmd = buildah(root);
        cmd.args(["build", "--layers", "--quiet", "--target", stage])
            .args(["--platform", &platforms.join(",")])
            .args(["--manifest", &list])
            .arg("--label")
            .arg(format!("org.opencontainers.image.version={version}"))
            .arg("--label")
            .arg(format!("io.binfmtd.qemu.version={}", qemu.version))
            .arg("--label")
            .arg(format!("io.binfmtd.qemu.source={}", qemu.source))
            .args(["--label", "org.opencontainers.image.title=binfmtd"])
            .arg("-f")
            .arg(root.join("packaging/container/Dockerfile"));
        if let Some(epoch) = &epoch {
            cmd.args(["--timestamp", epoch]);
        }
        run(root, cmd.arg(context))?;
        // buildah compresses every layer again on each push: push once, then tag inside the layout.
        let latest = format!("oci:{}:latest{suffix}", layout.display());
        run(
            root,
            buildah(root)
                .args(["manifest", "push", "--all", "--format", "oci", "--quiet"])
                .arg(&list)
                .arg(&latest),
        )?;
        run(
            root,
            Command::new("skopeo")
                .args(["copy", "--all", "--quiet", &latest])
                .arg(format!("oci:{}:{version_tag}{suffix}", layout.display())),
        )?;
    }
    for arch in arches {
        for (_, suffix) in VARIANTS {
            verify(root, &layout, &format!("latest{suffix}"), arch)?;
        }
    }
    let archive = out.join("binfmtd.oci.tar");
    let mut tar = Command::new("tar");
    tar.args(["--sort=name", "--owner=0", "--group=0", "--numeric-owner"]);
    if let Some(epoch) = &epoch {
        tar.arg(format!("--mtime=@{epoch}"));
    }
    run(
        root,
        tar.arg("-cf").arg(&archive).arg("-C").arg(&layout).arg("."),
    )?;
    let docker = out.join("binfmtd-image.tar");
    let _ = fs::remove_file(&docker);
    run(
        root,
        Command::new("skopeo")
            .args(["copy", "--quiet"])
            .arg(format!("oci:{}:latest", layout.display()))
            .arg(format!("docker-archive:{}:{NAME}:latest", docker.display()))
            .args(["--additional-tag", &format!("{NAME}:{version_tag}")]),
    )?;
    eprintln!(
        "image: {} (tags latest, {version_tag}, and both with -setuid; platforms {}), {} for `docker load`",
        archive.display(),
        platforms.join(" "),
        docker.display()
    );
    Ok(Built {
        layout,
        version_tag,
        qemu_version: qemu.version.clone(),
    })
}

/// Reads `tag`'s image for `arch` back from the layout and checks its configuration and every file.
fn verify(root: &Path, layout: &Path, tag: &str, arch: &Arch) -> Result<()> {
    let platform = format!("linux/{}", arch.oci);
    let elves = with_image(root, layout, tag, arch, |container, mount| {
        let arch_field = capture(
            root,
            buildah(root).args(["inspect", "--format", "{{.OCIv1.Architecture}}", container]),
        )?;
        ensure!(
            arch_field == arch.oci,
            "{tag} for {platform} has architecture `{arch_field}` in its configuration"
        );
        let elves = arch::check_tree(arch, mount)?;
        let own = mount.join(format!("usr/libexec/binfmtd/qemu-{}", arch.qemu));
        ensure!(
            !own.exists(),
            "{tag} for {platform} ships its own architecture's QEMU"
        );
        Ok(elves)
    })?;
    eprintln!(
        "image: {tag} for {platform}: {elves} static {platform} ELF files, nothing else executable"
    );
    Ok(())
}

/// Copies the file system of `tag`'s image for `arch`, as read back from the layout, into `dest`
/// (replaced): what a container of that platform starts with.
pub(crate) fn extract(
    root: &Path,
    layout: &Path,
    tag: &str,
    arch: &Arch,
    dest: &Path,
) -> Result<()> {
    if dest.exists() {
        fs::remove_dir_all(dest).with_context(|| format!("removing {}", dest.display()))?;
    }
    fs::create_dir_all(dest)?;
    with_image(root, layout, tag, arch, |_, mount| {
        run(
            root,
            Command::new("cp").arg("-a").arg(mount.join(".")).arg(dest),
        )
    })
}

/// Creates a working container from `tag`'s image for `arch` in the layout, mounts it, runs `f`
/// with the container's name and mount point, then unmounts and removes the container.
fn with_image<T>(
    root: &Path,
    layout: &Path,
    tag: &str,
    arch: &Arch,
    f: impl FnOnce(&str, &Path) -> Result<T>,
) -> Result<T> {
    let platform = format!("linux/{}", arch.oci);
    let source = format!("oci:{}:{tag}", layout.display());
    let out = buildah(root)
        .args(["from", "--quiet", "--pull-always", "--platform", &platform])
        .arg(&source)
        .output()
        .context("cannot run buildah from")?;
    ensure!(
        out.status.success(),
        "buildah from {source} for {platform} failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let container = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let result = capture(root, buildah(root).args(["mount", &container])).and_then(|mount| {
        let result = f(&container, Path::new(&mount));
        let umount = capture(root, buildah(root).args(["umount", &container]));
        result.and_then(|value| umount.map(|_| value))
    });
    let _ = buildah(root).args(["rm", &container]).output();
    result
}

/// buildah with the image's private storage.
fn buildah(root: &Path) -> Command {
    let store = root.join("target/image/buildah");
    let mut cmd = Command::new("buildah");
    cmd.arg("--root")
        .arg(store.join("root"))
        .arg("--runroot")
        .arg(store.join("run"))
        .args(["--storage-driver", "overlay"]);
    cmd
}

/// Runs `cmd` and returns its trimmed stdout.
fn capture(root: &Path, cmd: &mut Command) -> Result<String> {
    let out = cmd
        .current_dir(root)
        .output()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    ensure!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// `SOURCE_DATE_EPOCH`, else the last commit's time (None outside a git checkout).
fn source_date_epoch(root: &Path) -> Option<String> {
    if let Ok(epoch) = std::env::var("SOURCE_DATE_EPOCH") {
        return Some(epoch);
    }
    let out = Command::new("git")
        .args(["log", "-1", "--format=%ct"])
        .current_dir(root)
        .output()
        .ok()?;
    let epoch = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !epoch.is_empty()).then_some(epoch)
}
