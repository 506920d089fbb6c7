//! One initramfs per guest architecture: busybox as the userland, the static binfmtd, QEMU
//! user-mode interpreters, foreign test binaries, every kernel's `binfmt_misc.ko`, and the
//! scenario scripts of `tests/vm/` with `tests/vm/init` as PID 1.
//!
//! Layout inside the guest:
//! - `/init`, `/bin/busybox` (init installs the applet links), `/usr/bin/binfmtd`;
//! - interpreters where a distribution puts them (`/usr/bin/qemu-<t>-static`, `/usr/bin/qemu-<t>`
//!   or `/usr/local/bin/qemu-<t>`), so binfmtd's own discovery finds them;
//! - `/lib/modules/<release>/binfmt_misc.ko` per kernel of that architecture;
//! - `/vm/*.sh` (the scenario), `/vm/fixtures/<n>/<name>` (foreign binaries) and `/vm/fixtures.tsv`:
//!   `target TAB kind TAB path TAB accepted uname -m outputs (comma-separated) TAB package`.

use anyhow::{Context, Result};
use elf_magic::Target;
use std::fs;
use std::path::{Path, PathBuf};

use super::cpio::Writer;
use super::kernel::Kernel;

/// How a foreign binary is exercised in the guest (the kinds of `tests/fixtures.sh`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A static busybox: `busybox uname -m`.
    Busybox,
    /// glibc's dynamic loader: `ld.so --version`.
    LdSo,
}

/// A foreign (or, on this guest, native) test binary.
#[derive(Debug, Clone)]
pub(crate) struct Fixture {
    /// The QEMU target it is built for.
    pub(crate) target: Target,
    /// How to run it.
    pub(crate) kind: Kind,
    /// The file on the host.
    pub(crate) source: PathBuf,
    /// Its Debian package, for result lines.
    pub(crate) package: String,
}

/// Everything one guest's initramfs holds.
#[derive(Debug, Clone)]
pub(crate) struct Guest {
    /// A static busybox for the guest's architecture.
    pub(crate) busybox: PathBuf,
    /// A static binfmtd for the guest's architecture.
    pub(crate) binfmtd: PathBuf,
    /// Kernels whose `binfmt_misc.ko` go in.
    pub(crate) kernels: Vec<Kernel>,
    /// Interpreters: absolute guest path and host source.
    pub(crate) interpreters: Vec<(String, PathBuf)>,
    /// Test binaries.
    pub(crate) fixtures: Vec<Fixture>,
    /// The scenario directory (`tests/vm`).
    pub(crate) scenario: PathBuf,
}

impl Guest {
    /// Writes the initramfs to `out`.
    pub(crate) fn write(&self, out: &Path) -> Result<()> {
        let mut w = Writer::create(out)?;
        for dir in [
            "bin", "dev", "proc", "sys", "tmp", "run", "var/lib", "etc", "root",
        ] {
            w.dir(dir)?;
        }
        w.copy("init", 0o755, &self.scenario.join("init"))?;
        w.copy("bin/busybox", 0o755, &self.busybox)?;
        w.symlink("bin/sh", "busybox")?;
        w.copy("usr/bin/binfmtd", 0o755, &self.binfmtd)?;
        for kernel in &self.kernels {
            w.copy(
                &format!("lib/modules/{}/binfmt_misc.ko", kernel.release),
                0o644,
                &kernel.binfmt_misc,
            )?;
        }
        for (path, source) in &self.interpreters {
            w.copy(path, 0o755, source)?;
        }
        let mut names: Vec<_> = fs::read_dir(&self.scenario)
            .with_context(|| format!("reading {}", self.scenario.display()))?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sh"))
            .collect();
        names.sort();
        for name in names {
            w.copy(&format!("vm/{name}"), 0o755, &self.scenario.join(&name))?;
        }
        let mut table = String::new();
        for (n, f) in self.fixtures.iter().enumerate() {
            // One directory per binary: busybox picks its applet from argv[0]'s file name.
            let path = format!("/vm/fixtures/{n:02}/{}", file_name(&f.source));
            w.copy(&path, 0o755, &f.source)?;
            let kind = match f.kind {
                Kind::Busybox => "busybox",
                Kind::LdSo => "ldso",
            };
            table.push_str(&format!(
                "{}\t{kind}\t{path}\t{}\t{}\n",
                f.target,
                f.target.uname_machines().join(","),
                f.package
            ));
        }
        w.file("vm/fixtures.tsv", 0o644, table.as_bytes())?;
        w.finish()?;
        Ok(())
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "binary".to_string())
}

/// Reads `tests/fixtures.sh`'s manifest: the busybox and ld.so binaries (negative vectors are
/// not runnable and are left out).
pub(crate) fn manifest(fixtures: &Path) -> Result<Vec<Fixture>> {
    let path = fixtures.join("manifest.tsv");
    let text = fs::read_to_string(&path)
        .with_context(|| format!("reading {} (run tests/fixtures.sh)", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let fields: Vec<&str> = line.split('\t').collect();
        let [target, kind, file, package] = fields[..] else {
            anyhow::bail!(
                "{}:{}: expected 4 tab-separated fields",
                path.display(),
                n + 1
            );
        };
        let kind = match kind {
            "busybox" => Kind::Busybox,
            "ldso" => Kind::LdSo,
            _ => continue,
        };
        let target: Target = target.parse().map_err(|_| {
            anyhow::anyhow!("{}:{}: unknown target {target}", path.display(), n + 1)
        })?;
        out.push(Fixture {
            target,
            kind,
            source: fixtures.join(file),
            package: package.to_string(),
        });
    }
    Ok(out)
}

/// Bookworm's static QEMU (under `qemu_root`) for each fixture target plus x86_64 and i386;
/// sid's for loongarch64.
pub(crate) fn amd64_interpreters(
    fixtures: &[Fixture],
    dir: &Path,
    qemu_root: &Path,
) -> Result<Vec<(String, PathBuf)>> {
    let mut targets: Vec<Target> = fixtures.iter().map(|f| f.target).collect();
    targets.extend([Target::X86_64, Target::I386]);
    let mut out: Vec<(String, PathBuf)> = Vec::new();
    for t in targets {
        let binary = t.qemu_binary();
        let (path, source) = if t == Target::Loongarch64 {
            (
                format!("usr/local/bin/{binary}"),
                dir.join(format!("qemu-sid/usr/bin/{binary}")),
            )
        } else {
            (
                format!("usr/bin/{binary}-static"),
                qemu_root.join(format!("usr/bin/{binary}-static")),
            )
        };
        if !source.is_file() {
            anyhow::bail!(
                "{} is missing: tests/setup.sh installs qemu-user-static, tests/fixtures.sh sid's qemu",
                source.display()
            );
        }
        if !out.iter().any(|(p, _)| *p == path) {
            out.push((path, source));
        }
    }
    Ok(out)
}

/// The arm64 guest's test binaries: an amd64 busybox, and the fixtures' i386 and armhf ones.
pub(crate) fn arm64_fixtures(fixtures: &[Fixture], amd64_busybox: &Path) -> Result<Vec<Fixture>> {
    let mut out = vec![Fixture {
        target: Target::X86_64,
        kind: Kind::Busybox,
        source: amd64_busybox.to_path_buf(),
        package: "busybox-static:amd64 (bookworm)".to_string(),
    }];
    for (target, package) in [
        (Target::I386, "busybox-static:i386"),
        (Target::Arm, "busybox-static:armhf"),
    ] {
        let f = fixtures
            .iter()
            .find(|f| {
                f.target == target && f.kind == Kind::Busybox && f.package.starts_with(package)
            })
            .with_context(|| format!("the fixtures have no {package}; re-run tests/fixtures.sh"))?;
        out.push(f.clone());
    }
    Ok(out)
}
