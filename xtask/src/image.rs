//! `cargo xtask image [--arch LIST]` and `cargo xtask image-test [--arch LIST]`: the container image
//! as an OCI image index, built without a registry or a daemon, then proven served from a registry.
//!
//! `image`: for each architecture (`--arch amd64,arm64,ppc64le` or `all`; default
//! [`arch::DEFAULT`]) a static binfmtd ([`cross`]) and Debian's static QEMU of the current stable
//! ([`context`]), each file checked to be a static ELF of that architecture; buildah assembles the index and writes
//! `target/image/oci` (layout), `target/image/binfmtd.oci.tar` (archive) and
//! `target/image/binfmtd-image.tar` (the host's platform, for `docker load`) ([`oci`]).
//!
//! `image-test` validates the Kubernetes manifest offline (`tests/image/kubernetes.sh`), builds the
//! image, starts Debian's dockerd in a user namespace (`tests/image/sandbox-dockerd.sh`; host
//! `docker run --privileged` cannot work on these machines, and must not touch the host's
//! binfmt_misc anyway) and runs `tests/image/test.sh`: a registry inside the sandbox serves the
//! index, the engine pulls it, setup-qemu-action's command sequence, the drop-in behaviour, the
//! visibility check, the DaemonSet's command line, `install --persist`, and every foreign
//! platform of the index run under emulation. Then, when the index has linux/arm64, that half's
//! file system (read back from the layout) boots on the VM bench's arm64 guest and runs the same
//! sequence there, natively ([`crate::vm::image`]).
//!
//! The default, and what CI builds, is linux/amd64 and linux/arm64: their binfmtd builds are
//! `cargo xtask dist`'s, shared with the `.deb` and the VM bench. `--arch all` adds ppc64le and
//! riscv64, which need a second Rust toolchain and two more builds ([`cross`]).

mod arch;
mod context;
mod cross;
mod oci;

use anyhow::{Context, Result, bail};
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use crate::run;

/// `cargo xtask image [--arch LIST]`.
pub(crate) fn image(root: &Path, args: &[String]) -> Result<()> {
    build(root, args).map(|_| ())
}

/// `cargo xtask image-test [--arch LIST]`: build, then test with a sandboxed engine and registry.
pub(crate) fn image_test(root: &Path, args: &[String]) -> Result<()> {
    let start = Instant::now();
    run(root, Command::new("bash").arg("tests/image/kubernetes.sh"))?;
    let (built, arches) = build(root, args)?;
    let built_at = start.elapsed();
    let state = root.join("target/image/engine");
    let script = root.join("tests/image/sandbox-dockerd.sh");
    if state.exists() {
        // A previous run that was killed: stop what it left, then start clean.
        let _ = Command::new(&script).arg("stop").arg(&state).status();
        fs::remove_dir_all(&state).with_context(|| format!("removing {}", state.display()))?;
    }
    run(root, Command::new(&script).arg("start").arg(&state))?;
    let platforms: Vec<&str> = arches.iter().map(|a| a.oci).collect();
    let result = run(
        root,
        Command::new("bash")
            .arg("tests/image/test.sh")
            .arg(&state)
            .arg(&built.layout)
            .env("IMAGE_VERSION_TAG", &built.version_tag)
            .env("IMAGE_PLATFORMS", platforms.join(" ")),
    );
    let stopped = run(root, Command::new(&script).arg("stop").arg(&state));
    result.and(stopped)?;
    let tested = Instant::now();
    if let Some(arm64) = arches.iter().find(|a| a.oci == "arm64") {
        let tree = root.join("target/image/rootfs-arm64");
        oci::extract(root, &built.layout, "latest", arm64, &tree)?;
        let expect = crate::vm::image::Expect {
            binfmtd: env!("CARGO_PKG_VERSION").to_string(),
            qemu: built.qemu_version.clone(),
        };
        crate::vm::image::boot_arm64(root, &tree, &expect)?;
    }
    eprintln!(
        "image-test: passed in {:.0} s (build {:.0} s, engine and registry tests {:.0} s, arm64 guest {:.0} s)",
        start.elapsed().as_secs_f64(),
        built_at.as_secs_f64(),
        (tested - start).as_secs_f64() - built_at.as_secs_f64(),
        tested.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Builds every architecture's binary, fetches QEMU, assembles and builds the index.
fn build(root: &Path, args: &[String]) -> Result<(oci::Built, Vec<&'static arch::Arch>)> {
    let arches = match args {
        [] => arch::parse_list(arch::DEFAULT)?,
        [flag, list] if flag == "--arch" => arch::parse_list(list)?,
        _ => bail!("usage: cargo xtask image [--arch amd64,arm64,ppc64le,riscv64|all]"),
    };
    let start = Instant::now();
    let mut binaries = Vec::new();
    for a in &arches {
        let binary = cross::build(root, a)?;
        a.check_elf(&binary)
            .with_context(|| format!("the binfmtd built for linux/{}", a.oci))?;
        binaries.push(binary);
    }
    let compiled = start.elapsed();
    let qemu = context::fetch_qemu(root, &arches)?;
    let dir = context::assemble(root, &arches, &binaries, &qemu)?;
    let fetched = start.elapsed();
    let built = oci::build(root, &dir, &arches, &qemu)?;
    eprintln!(
        "image: built in {:.0} s (binfmtd {:.0} s, QEMU {:.0} s, index {:.0} s)",
        start.elapsed().as_secs_f64(),
        compiled.as_secs_f64(),
        (fetched - compiled).as_secs_f64(),
        (start.elapsed() - fetched).as_secs_f64()
    );
    Ok((built, arches))
}
