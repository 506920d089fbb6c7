//! `cargo xtask dist [--target ARCH]`: a statically linked `binfmtd`, verified static, staged
//! with its install tree.
//!
//! ARCH is `x86_64` (`amd64`) or `aarch64` (`arm64`); the default is the machine's own. The
//! binary is built for `<arch>-unknown-linux-musl` when rustup can add that target; for the
//! machine's own architecture the gnu target with `-C target-feature=+crt-static` (a static-pie)
//! is the fallback. Another architecture is cross-built with musl and `rust-lld` as the linker
//! (no cross gcc needed). `--target` keeps the RUSTFLAGS away from build scripts and
//! proc-macros. "Static" and "for ARCH" are checked on the result, not assumed: no `PT_INTERP`,
//! no `DT_NEEDED`, and the ELF machine of ARCH (goblin, headers only).
//!
//! The install tree comes from one map, the `install-map` block of `packaging/README.md`
//! (source → destination → mode), so the README, the tarball and the `.deb` cannot drift apart.
//! Output: `target/dist/root/` (the tree of the last build),
//! `target/dist/binfmtd-<version>-<arch>-linux.tar.gz`.

use anyhow::{Context, Result, bail, ensure};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{cargo, run};

/// Where `dist` stages the install tree.
pub(crate) const STAGE: &str = "target/dist/root";

/// An architecture binfmtd is built and packaged for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arch {
    /// x86-64 (Debian `amd64`).
    X86_64,
    /// 64-bit Arm (Debian `arm64`).
    Aarch64,
}

impl Arch {
    /// The machine this xtask runs on.
    pub(crate) fn host() -> Arch {
        if cfg!(target_arch = "aarch64") {
            Arch::Aarch64
        } else {
            Arch::X86_64
        }
    }

    /// Parses `--target`: the Rust/uname name or Debian's.
    pub(crate) fn parse(name: &str) -> Result<Arch> {
        match name {
            "x86_64" | "amd64" => Ok(Arch::X86_64),
            "aarch64" | "arm64" => Ok(Arch::Aarch64),
            other => bail!("--target {other}: use x86_64 (amd64) or aarch64 (arm64)"),
        }
    }

    /// `--target ARCH` from a task's arguments (default: [`Arch::host`]).
    pub(crate) fn from_args(args: &[String]) -> Result<Arch> {
        match args {
            [] => Ok(Arch::host()),
            [flag, name] if flag == "--target" => Arch::parse(name),
            [flag] if flag.starts_with("--target=") => Arch::parse(&flag["--target=".len()..]),
            _ => bail!("usage: [--target x86_64|aarch64]"),
        }
    }

    /// `x86_64` / `aarch64`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }

    /// Debian's architecture name.
    pub(crate) fn debian(self) -> &'static str {
        match self {
            Arch::X86_64 => "amd64",
            Arch::Aarch64 => "arm64",
        }
    }

    /// The preferred (musl) Rust target.
    pub(crate) fn musl(self) -> String {
        format!("{}-unknown-linux-musl", self.name())
    }

    fn gnu(self) -> String {
        format!("{}-unknown-linux-gnu", self.name())
    }

    /// The ELF `e_machine` of its binaries.
    fn elf_machine(self) -> u16 {
        match self {
            Arch::X86_64 => goblin::elf::header::EM_X86_64,
            Arch::Aarch64 => goblin::elf::header::EM_AARCH64,
        }
    }
}

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

/// Builds the static binary for `arch`, verifies it, and stages the install tree; returns the
/// binary's path.
pub(crate) fn dist(root: &Path, arch: Arch) -> Result<PathBuf> {
    let binary = static_binary(root, arch)?;
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
        arch.name()
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

/// Builds the static binary for `arch` and verifies it (static, for `arch`) without staging
/// anything; returns its path. The container image's amd64 and arm64 halves use this too, so CI
/// compiles each of these two binaries once for the image, the `.deb` and the VM bench.
pub(crate) fn static_binary(root: &Path, arch: Arch) -> Result<PathBuf> {
    let binary = build_static(root, arch)?;
    verify_static(&binary)?;
    verify_machine(&binary, arch)?;
    eprintln!(
        "dist: {} is statically linked for {}",
        binary.display(),
        arch.name()
    );
    Ok(binary)
}

/// Builds `binfmtd` statically: musl if rustup can provide it, else (for the host's own
/// architecture only) gnu + crt-static; another architecture links with `rust-lld`.
fn build_static(root: &Path, arch: Arch) -> Result<PathBuf> {
    let musl = arch.musl();
    let gnu = arch.gnu();
    let cross = arch != Arch::host();
    let target = if musl_available(&musl) {
        musl.as_str()
    } else if cross {
        bail!("cannot add the {musl} target with rustup: `rustup target add {musl}`, then retry")
    } else {
        gnu.as_str()
    };
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
    let linker = format!(
        "CARGO_TARGET_{}_LINKER",
        target.to_uppercase().replace('-', "_")
    );
    if cross && std::env::var_os(&linker).is_none() {
        build.env(&linker, "rust-lld");
    }
    if target == gnu {
        let flags = std::env::var("RUSTFLAGS").unwrap_or_default();
        build.env(
            "RUSTFLAGS",
            format!("{flags} -C target-feature=+crt-static"),
        );
    }
    run(root, &mut build)?;
    Ok(root.join("target").join(target).join("release/binfmtd"))
}

/// True if the `musl` target is installed or rustup can add it now.
fn musl_available(musl: &str) -> bool {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .is_ok_and(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l == musl)
        });
    if installed {
        return true;
    }
    eprintln!("dist: adding the {musl} target");
    Command::new("rustup")
        .args(["target", "add", musl])
        .status()
        .is_ok_and(|s| s.success())
}

/// Fails unless `path` is an ELF executable for `arch` (its header's `e_machine`).
pub(crate) fn verify_machine(path: &Path, arch: Arch) -> Result<()> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let elf = goblin::elf::Elf::parse(&bytes)
        .with_context(|| format!("{} is not a valid ELF file", path.display()))?;
    ensure!(
        elf.header.e_machine == arch.elf_machine() && elf.is_64,
        "{} is built for ELF machine {}, not {}",
        path.display(),
        elf.header.e_machine,
        arch.name()
    );
    Ok(())
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
    fn the_machine_check_tells_architectures_apart() {
        let host = std::env::current_exe().expect("test binary");
        verify_machine(&host, Arch::host()).expect("the test binary is for this machine");
        let other = match Arch::host() {
            Arch::X86_64 => Arch::Aarch64,
            Arch::Aarch64 => Arch::X86_64,
        };
        let err = verify_machine(&host, other).expect_err("not for the other architecture");
        assert!(err.to_string().contains(other.name()), "{err}");
    }

    #[test]
    fn target_names() {
        assert_eq!(Arch::parse("arm64").expect("arm64"), Arch::Aarch64);
        assert_eq!(Arch::parse("aarch64").expect("aarch64"), Arch::Aarch64);
        assert_eq!(Arch::parse("amd64").expect("amd64"), Arch::X86_64);
        assert!(Arch::parse("riscv64").is_err());
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(Arch::from_args(&args(&[])).expect("default"), Arch::host());
        assert_eq!(
            Arch::from_args(&args(&["--target", "arm64"])).expect("arm64"),
            Arch::Aarch64
        );
        assert_eq!(
            Arch::from_args(&args(&["--target=x86_64"])).expect("x86_64"),
            Arch::X86_64
        );
        assert!(Arch::from_args(&args(&["--targte", "arm64"])).is_err());
    }

    #[test]
    fn debian_qemu_static_is_static() {
        let qemu = Path::new("/usr/bin/qemu-aarch64-static");
        if !qemu.exists() {
            // xtask has no dev-dependency on binfmtd-tests: its `skip`, inline (CI must not skip).
            let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false");
            assert!(
                !ci,
                "qemu-user-static is not installed (tests/setup.sh installs it), and CI must not skip"
            );
            eprintln!("skipping: qemu-user-static is not installed (tests/setup.sh installs it)");
            return;
        }
        verify_static(qemu).expect("Debian's qemu-aarch64-static is static");
    }
}
