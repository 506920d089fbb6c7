//! The QEMU builds the machine has: Debian 12's `qemu-user-static` 7.2 in `/usr/bin`, and the
//! `qemu-user` builds `tests/fixtures.sh` unpacks (bookworm-backports if the mirror has it, Debian
//! 13, sid), plus the container image's interpreters when an image was built and they differ from
//! every other build (the image is built from one of them: then it is named, not measured twice).

use anyhow::{Context, Result, bail};
use elf_magic::Target;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One QEMU build: where its interpreters are and what it says it is.
pub(crate) struct Build {
    /// Column label, e.g. "Debian 13 `qemu-user` 10.0.13".
    pub(crate) label: String,
    /// Where the interpreters are, for the caption.
    pub(crate) dir: PathBuf,
    suffix: &'static str,
}

impl Build {
    /// The interpreter this build has for `target`.
    pub(crate) fn interpreter(&self, target: Target) -> PathBuf {
        self.dir
            .join(format!("{}{}", target.qemu_binary(), self.suffix))
    }
}

/// A build that may be on this machine, and whether its absence is an error.
struct Candidate {
    name: &'static str,
    dir: PathBuf,
    suffix: &'static str,
    required: bool,
    missing: &'static str,
}

/// Finds every build that has an interpreter for each of `targets`; returns them (oldest
/// distribution first) and notes on the builds that are absent or duplicates.
pub(crate) fn discover(
    root: &Path,
    fixtures: &Path,
    targets: &[Target],
) -> Result<(Vec<Build>, Vec<String>)> {
    let fetched = |suite: &str| fixtures.join(format!("qemu-{suite}/usr/bin"));
    let candidates = [
        Candidate {
            name: "Debian 12 `qemu-user-static`",
            dir: PathBuf::from("/usr/bin"),
            suffix: "-static",
            required: true,
            missing: "install qemu-user-static",
        },
        Candidate {
            name: "bookworm-backports `qemu-user`",
            dir: fetched("bookworm-backports"),
            suffix: "",
            required: false,
            missing: "not on the Debian mirror (tests/fixtures.sh fetches it when it is)",
        },
        Candidate {
            name: "Debian 13 `qemu-user`",
            dir: fetched("trixie"),
            suffix: "",
            required: true,
            missing: "run tests/fixtures.sh",
        },
        Candidate {
            name: "sid `qemu-user`",
            dir: fetched("sid"),
            suffix: "",
            required: true,
            missing: "run tests/fixtures.sh",
        },
        Candidate {
            name: "container image",
            dir: root.join("target/image/context"),
            suffix: "",
            required: false,
            missing: "no image built here (`cargo xtask image` builds one)",
        },
    ];
    let mut builds: Vec<Build> = Vec::new();
    let mut notes = Vec::new();
    for c in candidates {
        let lacking: Vec<&str> = targets
            .iter()
            .filter(|t| {
                !c.dir
                    .join(format!("{}{}", t.qemu_binary(), c.suffix))
                    .is_file()
            })
            .map(|t| t.name())
            .collect();
        if !c.dir.is_dir() && !c.required {
            notes.push(format!("{}: not measured, {}", c.name, c.missing));
            continue;
        }
        if !lacking.is_empty() {
            if c.required {
                bail!(
                    "{}: no interpreter for {} in {}: {}",
                    c.name,
                    lacking.join(", "),
                    c.dir.display(),
                    c.missing
                );
            }
            notes.push(format!(
                "{}: not measured, no interpreter for {} in {}; {}",
                c.name,
                lacking.join(", "),
                c.dir.display(),
                c.missing
            ));
            continue;
        }
        let build = Build {
            label: String::new(),
            dir: c.dir,
            suffix: c.suffix,
        };
        if let Some(same) = builds
            .iter()
            .find(|b| same_files(b, &build, targets).unwrap_or(false))
        {
            notes.push(format!(
                "{} ({}): the same files as {}, not measured twice",
                c.name,
                build.dir.display(),
                same.label
            ));
            continue;
        }
        let version = version(&build.interpreter(Target::Aarch64))?;
        builds.push(Build {
            label: format!("{} {version}", c.name),
            ..build
        });
    }
    Ok((builds, notes))
}

/// Whether two builds have byte-identical interpreters for every target.
fn same_files(a: &Build, b: &Build, targets: &[Target]) -> Result<bool> {
    for &t in targets {
        let (x, y) = (a.interpreter(t), b.interpreter(t));
        if std::fs::metadata(&x)?.len() != std::fs::metadata(&y)?.len()
            || std::fs::read(&x)? != std::fs::read(&y)?
        {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The version an interpreter reports (`qemu-aarch64 version 10.0.13 (Debian …)` → `10.0.13`).
fn version(qemu: &Path) -> Result<String> {
    let out = Command::new(qemu)
        .arg("--version")
        .output()
        .with_context(|| format!("running {} --version", qemu.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut words = text.split_whitespace();
    words
        .find(|w| *w == "version")
        .and_then(|_| words.next())
        .map(str::to_string)
        .with_context(|| format!("{} --version printed {text:?}", qemu.display()))
}
