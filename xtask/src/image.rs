//! `cargo xtask image` and `cargo xtask image-test`: the container image, built and proven with a
//! real engine.
//!
//! `image` runs `dist` (the static binary), assembles the build context in
//! `target/image/context` (the binary, Debian's `qemu-*-static` each verified static and renamed
//! `qemu-<target>`, `packaging/container/*`, the systemd unit), builds
//! `packaging/container/Dockerfile` with Debian's dockerd running in a user namespace
//! (`tests/image/sandbox-dockerd.sh`; host `docker run --privileged` cannot work on these
//! machines, and must not touch the host's binfmt_misc anyway) and saves the image as
//! `target/image/binfmtd-image.tar` for `docker load`.
//!
//! `image-test` validates the Kubernetes manifest offline (`tests/image/kubernetes.sh`), builds
//! the image the same way, then runs `tests/image/test.sh` (the drop-in behaviour, the
//! visibility check, the DaemonSet's command line, `install --persist`).

use anyhow::{Context, Result, bail, ensure};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{dist, run};

/// The image's name in the sandboxed engine.
pub(crate) const TAG: &str = "binfmtd:latest";
/// Where Debian's qemu-user-static puts its interpreters.
const QEMU_DIR: &str = "/usr/bin";

/// `cargo xtask image`: build and save the image.
pub(crate) fn image(root: &Path) -> Result<()> {
    let state = root.join("target/image/engine");
    build(root, &state, |docker| {
        let tar = root.join("target/image/binfmtd-image.tar");
        run(
            root,
            &mut docker(&["save", "-o", &tar.display().to_string(), TAG]),
        )?;
        eprintln!(
            "image: {TAG} saved as {} (`docker load -i` it)",
            tar.display()
        );
        Ok(())
    })
}

/// `cargo xtask image-test`: build the image, run the image tests, validate the DaemonSet.
pub(crate) fn image_test(root: &Path) -> Result<()> {
    run(root, Command::new("bash").arg("tests/image/kubernetes.sh"))?;
    let state = root.join("target/image/engine");
    build(root, &state, |_| {
        run(
            root,
            Command::new("bash")
                .arg("tests/image/test.sh")
                .arg(&state)
                .arg(TAG),
        )
    })
}

/// Assembles the context, starts the sandboxed engine, builds, runs `then`, and always stops the
/// engine.
fn build(
    root: &Path,
    state: &Path,
    then: impl FnOnce(&dyn Fn(&[&str]) -> Command) -> Result<()>,
) -> Result<()> {
    let binary = dist::dist(root, dist::Arch::host())?;
    let context = assemble(root, &binary)?;
    let script = root.join("tests/image/sandbox-dockerd.sh");
    if state.exists() {
        // A previous run that was killed: stop what it left, then start clean.
        let _ = Command::new(&script).arg("stop").arg(state).status();
        fs::remove_dir_all(state).with_context(|| format!("removing {}", state.display()))?;
    }
    run(root, Command::new(&script).arg("start").arg(state))?;
    let docker = |args: &[&str]| {
        let mut cmd = Command::new(&script);
        cmd.arg("docker").arg(state).args(args);
        cmd
    };
    let dockerfile = root.join("packaging/container/Dockerfile");
    let result = run(
        root,
        docker(&[
            "build",
            "-q",
            "-t",
            TAG,
            "-f",
            &dockerfile.display().to_string(),
            &context.display().to_string(),
        ])
        .env("DOCKER_BUILDKIT", "1"),
    )
    .and_then(|()| then(&docker));
    let stopped = run(root, Command::new(&script).arg("stop").arg(state));
    result.and(stopped)
}

/// Builds `target/image/context`; returns its path.
fn assemble(root: &Path, binary: &Path) -> Result<PathBuf> {
    let context = root.join("target/image/context");
    if context.exists() {
        fs::remove_dir_all(&context).with_context(|| format!("removing {}", context.display()))?;
    }
    let qemu = context.join("qemu");
    fs::create_dir_all(&qemu)?;
    let tmp = context.join("tmp");
    fs::create_dir_all(&tmp)?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o1777))?;
    fs::copy(binary, context.join("binfmtd"))?;
    fs::copy(
        root.join("packaging/container/binfmtd.toml"),
        context.join("binfmtd.toml"),
    )?;
    fs::copy(
        root.join("systemd/binfmtd.service"),
        context.join("binfmtd.service"),
    )?;
    let mut count = 0;
    for entry in fs::read_dir(QEMU_DIR)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(target) = name
            .strip_prefix("qemu-")
            .and_then(|n| n.strip_suffix("-static"))
        else {
            continue;
        };
        let source = entry.path();
        dist::verify_static(&source)
            .with_context(|| format!("{} cannot go into the image", source.display()))?;
        let dest = qemu.join(format!("qemu-{target}"));
        fs::copy(&source, &dest)?;
        fs::set_permissions(&dest, fs::Permissions::from_mode(0o755))?;
        count += 1;
    }
    if count == 0 {
        bail!("no {QEMU_DIR}/qemu-*-static: install qemu-user-static (tests/setup.sh does)");
    }
    ensure!(
        qemu.join("qemu-aarch64").is_file(),
        "qemu-aarch64-static is missing from {QEMU_DIR}"
    );
    eprintln!(
        "image: context {} with {count} verified static interpreters",
        context.display()
    );
    Ok(context)
}
