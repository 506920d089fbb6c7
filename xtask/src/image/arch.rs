//! The image's architectures: one row per platform of the OCI index, and the ELF check that every
//! file of a platform's image is a static executable of that platform.
//!
//! s390x is absent: rustup ships no `s390x-unknown-linux-musl` standard library (a tier 3
//! target), so there is no static binfmtd to put next to Debian's s390x QEMU.

use anyhow::{Context, Result, bail, ensure};
use goblin::elf::header::{EM_AARCH64, EM_PPC64, EM_RISCV, EM_X86_64};
use std::fs;
use std::path::Path;

use crate::dist;

/// One platform of the image index.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Arch {
    /// OCI/Go architecture name (`linux/<oci>`), also the build context's directory name.
    pub(crate) oci: &'static str,
    /// Debian's architecture name (for `qemu-user:<debian>`).
    pub(crate) debian: &'static str,
    /// The Rust target of the static binfmtd.
    pub(crate) rust: &'static str,
    /// Built by `cargo xtask dist` (same target directory and flags), shared with the `.deb` and
    /// the VM bench; `None`: built by [`super::cross`] in the image's own target directory.
    pub(crate) dist: Option<dist::Arch>,
    /// QEMU's name for this architecture: its own interpreter is left out of the image, because
    /// binfmtd never registers the machine's native target.
    pub(crate) qemu: &'static str,
    /// ELF `e_machine`.
    machine: u16,
    /// ELF class and data encoding.
    is_64: bool,
    little_endian: bool,
}

/// Every architecture the image can be built for, in index order.
pub(crate) const ALL: &[Arch] = &[
    Arch {
        oci: "amd64",
        debian: "amd64",
        rust: "x86_64-unknown-linux-musl",
        dist: Some(dist::Arch::X86_64),
        qemu: "x86_64",
        machine: EM_X86_64,
        is_64: true,
        little_endian: true,
    },
    Arch {
        oci: "arm64",
        debian: "arm64",
        rust: "aarch64-unknown-linux-musl",
        dist: Some(dist::Arch::Aarch64),
        qemu: "aarch64",
        machine: EM_AARCH64,
        is_64: true,
        little_endian: true,
    },
    Arch {
        oci: "ppc64le",
        debian: "ppc64el",
        rust: "powerpc64le-unknown-linux-musl",
        dist: None,
        qemu: "ppc64le",
        machine: EM_PPC64,
        is_64: true,
        little_endian: true,
    },
    Arch {
        oci: "riscv64",
        debian: "riscv64",
        rust: "riscv64gc-unknown-linux-musl",
        dist: None,
        qemu: "riscv64",
        machine: EM_RISCV,
        is_64: true,
        little_endian: true,
    },
];

/// The platforms built without `--arch` (and by CI): their binfmtd builds are `cargo xtask dist`'s
/// and need no second toolchain; `--arch all` adds ppc64le and riscv64.
pub(crate) const DEFAULT: &str = "amd64,arm64";

/// Parses `--arch amd64,arm64` (OCI names, or `all`).
pub(crate) fn parse_list(list: &str) -> Result<Vec<&'static Arch>> {
    if list == "all" {
        return Ok(ALL.iter().collect());
    }
    let mut out = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let Some(arch) = ALL.iter().find(|a| a.oci == name) else {
            let valid: Vec<&str> = ALL.iter().map(|a| a.oci).collect();
            bail!(
                "--arch {name}: not an image architecture; valid: {} or all",
                valid.join(", ")
            );
        };
        if !out.contains(&arch) {
            out.push(arch);
        }
    }
    ensure!(!out.is_empty(), "--arch needs at least one architecture");
    Ok(out)
}

impl Arch {
    /// Fails unless `path` is a static ELF executable for this architecture.
    pub(crate) fn check_elf(&self, path: &Path) -> Result<()> {
        dist::verify_static(path)?;
        let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let header = goblin::elf::Elf::parse_header(&bytes)
            .with_context(|| format!("{} has no valid ELF header", path.display()))?;
        let (is_64, little) = (
            header.e_ident[goblin::elf::header::EI_CLASS] == goblin::elf::header::ELFCLASS64,
            header.e_ident[goblin::elf::header::EI_DATA] == goblin::elf::header::ELFDATA2LSB,
        );
        ensure!(
            header.e_machine == self.machine && is_64 == self.is_64 && little == self.little_endian,
            "{} is an ELF for {} ({}-bit, {} endian), not for linux/{}",
            path.display(),
            goblin::elf::header::machine_to_str(header.e_machine),
            if is_64 { 64 } else { 32 },
            if little { "little" } else { "big" },
            self.oci
        );
        Ok(())
    }
}

/// Checks every file under `root` (an image's file system): ELF files must be static executables
/// of `arch`; anything else must be a plain, non-executable file (configuration, unit).
/// Returns the number of ELF files checked.
pub(crate) fn check_tree(arch: &Arch, root: &Path) -> Result<usize> {
    use std::os::unix::fs::PermissionsExt;
    let mut elves = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = entry?.path();
            let meta = fs::symlink_metadata(&path)?;
            if meta.is_dir() {
                stack.push(path);
            } else if !meta.is_file() {
                bail!(
                    "{} is not a regular file: the image holds only files",
                    path.display()
                );
            } else if is_elf(&path)? {
                arch.check_elf(&path)?;
                elves += 1;
            } else {
                ensure!(
                    meta.permissions().mode() & 0o111 == 0,
                    "{} is executable but not an ELF file (a script would need an interpreter)",
                    path.display()
                );
            }
        }
    }
    Ok(elves)
}

/// True if the file starts with the ELF magic (reads four bytes).
fn is_elf(path: &Path) -> Result<bool> {
    use std::io::Read;
    let mut magic = [0u8; 4];
    let mut file = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let n = file.read(&mut magic)?;
    Ok(n == 4 && &magic == b"\x7fELF")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arch_lists_parse_and_reject_unknown_names() {
        let two = parse_list("amd64,arm64,amd64").expect("valid");
        assert_eq!(
            two.iter().map(|a| a.oci).collect::<Vec<_>>(),
            ["amd64", "arm64"]
        );
        assert_eq!(parse_list("all").expect("all").len(), ALL.len());
        let default = parse_list(DEFAULT).expect("default");
        assert!(
            default.iter().all(|a| a.dist.is_some()),
            "CI's platforms share dist's builds"
        );
        let err = parse_list("s390x").expect_err("not built").to_string();
        assert!(err.contains("s390x") && err.contains("amd64"), "{err}");
    }

    #[test]
    fn the_host_loader_is_rejected_as_dynamic_and_foreign_machines_are_named() {
        let amd64 = &ALL[0];
        let err = amd64.check_elf(Path::new("/bin/ls")).expect_err("dynamic");
        assert!(err.to_string().contains("dynamically linked"), "{err}");
        let qemu = Path::new("/usr/bin/qemu-aarch64-static");
        if qemu.exists() {
            amd64
                .check_elf(qemu)
                .expect("Debian's qemu-aarch64-static is a static amd64 ELF");
            let err = ALL[1].check_elf(qemu).expect_err("not arm64").to_string();
            assert!(
                err.contains("X86_64") && err.contains("linux/arm64"),
                "{err}"
            );
        }
    }

    #[test]
    fn a_tree_with_a_script_or_a_dynamic_elf_is_rejected() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("binfmtd-xtask-tree-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("etc")).expect("mkdir");
        fs::write(dir.join("etc/config.toml"), "flags = \"PF\"\n").expect("write");
        assert_eq!(check_tree(&ALL[0], &dir).expect("data only"), 0);
        let script = dir.join("etc/run.sh");
        fs::write(&script, "#!/bin/sh\n").expect("write");
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).expect("chmod");
        let err = check_tree(&ALL[0], &dir).expect_err("a script").to_string();
        assert!(err.contains("not an ELF"), "{err}");
        fs::remove_file(&script).expect("rm");
        fs::copy("/bin/ls", dir.join("ls")).expect("copy");
        let err = check_tree(&ALL[0], &dir).expect_err("dynamic").to_string();
        assert!(err.contains("dynamically linked"), "{err}");
        let _ = fs::remove_dir_all(&dir);
    }
}
