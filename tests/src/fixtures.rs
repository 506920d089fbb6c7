//! Real foreign binaries and QEMU interpreters for the tests.
//!
//! `tests/fixtures.sh` downloads the binaries from Debian's archive into `target/fixtures` and
//! writes `manifest.tsv`; this module reads it. A missing manifest is a test failure with the fix in
//! the message, never a silent skip.

use std::path::{Path, PathBuf};

/// How a foreign binary is exercised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A static busybox: run `busybox uname -m`.
    Busybox,
    /// glibc's dynamic loader: run `ld.so --version`.
    LdSo,
    /// An ABI no QEMU row may match (x32, ARC): a negative vector.
    Negative,
}

/// One real binary from a Debian package.
#[derive(Debug, Clone)]
pub struct ForeignBinary {
    /// The QEMU target name (`aarch64`, `mipsn32el`, …); `None` for a negative vector.
    pub target: Option<String>,
    /// How to run it.
    pub kind: Kind,
    /// Absolute path of the binary.
    pub path: PathBuf,
    /// The Debian package (and suite) it came from.
    pub package: String,
}

impl ForeignBinary {
    /// The arguments that make it print something checkable, and a substring the output must contain
    /// (`None` for busybox: its `uname -m` output is checked against the target's names).
    pub fn probe_args(&self) -> &'static [&'static str] {
        match self.kind {
            Kind::Busybox => &["uname", "-m"],
            Kind::LdSo | Kind::Negative => &["--version"],
        }
    }
}

/// QEMU targets this machine runs without an emulator for certain, by the architecture the tests
/// were built for: x86-64 runs i386 and i486 too; an aarch64 CPU runs arm only if it has AArch32,
/// which varies, so arm is not listed (the tests neither register nor skip it on that basis).
/// No test may register these rows (they would match the host's own executables).
pub const HOST_NATIVE: &[&str] = if cfg!(target_arch = "x86_64") {
    &["x86_64", "i386", "i486"]
} else if cfg!(target_arch = "aarch64") {
    &["aarch64"]
} else {
    &[std::env::consts::ARCH]
};

/// What `uname -m` prints on this machine (for asserting a binary did *not* run natively).
pub const HOST_UNAME: &str = std::env::consts::ARCH;

/// The workspace root (the directory holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Where `tests/fixtures.sh` puts its downloads (`$BINFMTD_FIXTURES` or `target/fixtures`).
pub fn fixtures_dir() -> PathBuf {
    std::env::var_os("BINFMTD_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/fixtures"))
}

/// Every binary listed in the fixtures manifest.
///
/// # Panics
/// When the manifest is missing or malformed: run `tests/fixtures.sh` (the README's test command
/// does).
pub fn foreign_binaries() -> Vec<ForeignBinary> {
    let dir = fixtures_dir();
    let manifest = dir.join("manifest.tsv");
    let text = std::fs::read_to_string(&manifest).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}; run tests/fixtures.sh (or tests/setup.sh) first",
            manifest.display()
        )
    });
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            assert!(
                f.len() == 4,
                "malformed line in {}: {line:?}",
                manifest.display()
            );
            let kind = match f[1] {
                "busybox" => Kind::Busybox,
                "ldso" => Kind::LdSo,
                "none" => Kind::Negative,
                other => panic!("unknown kind {other:?} in {}", manifest.display()),
            };
            let path = dir.join(f[2]);
            assert!(
                path.is_file(),
                "{} is missing; re-run tests/fixtures.sh",
                path.display()
            );
            ForeignBinary {
                target: (f[0] != "-").then(|| f[0].to_string()),
                kind,
                path,
                package: f[3].to_string(),
            }
        })
        .collect()
}

/// Debian bookworm's static QEMU for a QEMU target name, e.g. `qemu_static("aarch64")` is
/// `/usr/bin/qemu-aarch64-static` (`i486` maps to `qemu-i386-static`).
///
/// # Panics
/// When it is not installed: `apt-get install qemu-user-static` (tests/setup.sh does).
pub fn qemu_static(target: &str) -> PathBuf {
    qemu_build("bookworm").interpreter(target)
}

/// A newer static QEMU (Debian sid's `qemu-user`, unpacked by `tests/fixtures.sh`), needed for
/// targets bookworm's QEMU 7.2 cannot run correctly (loongarch64).
pub fn qemu_newer(target: &str) -> PathBuf {
    qemu_build("sid").interpreter(target)
}

/// The interpreter the tests should use for `target`: bookworm's, or sid's where bookworm's is
/// known not to work (loongarch64, see the kernel notes).
pub fn qemu_for(target: &str) -> PathBuf {
    if target == "loongarch64" {
        qemu_newer(target)
    } else {
        qemu_static(target)
    }
}

/// The Debian suites whose QEMU build [`qemu_build`] knows, oldest first.
pub const QEMU_SUITES: [&str; 4] = ["bookworm", "bookworm-backports", "trixie", "sid"];

/// One real build of QEMU's user-mode emulators (all static), from one Debian suite.
#[derive(Debug, Clone)]
pub struct QemuBuild {
    /// The suite: `bookworm` (the machine's own `qemu-user-static` 7.2), `bookworm-backports`
    /// (10.0.x), `trixie` (Debian 13, 10.0.x) or `sid` (the newest).
    pub suite: &'static str,
    /// The directory holding its interpreters.
    pub dir: PathBuf,
    /// What follows `qemu-<target>` in the file names (`-static` for bookworm's package).
    pub suffix: &'static str,
}

impl QemuBuild {
    /// The interpreter for a QEMU target name (`i486` maps to `qemu-i386`).
    ///
    /// # Panics
    /// When this build has no such interpreter.
    pub fn interpreter(&self, target: &str) -> PathBuf {
        let target = if target == "i486" { "i386" } else { target };
        let path = self.dir.join(format!("qemu-{target}{}", self.suffix));
        assert!(
            path.is_file(),
            "{} is missing; {}",
            path.display(),
            self.fix()
        );
        path
    }

    /// The version the build reports (`7.2.22`, `10.0.13`), read from `qemu-aarch64 --version`.
    ///
    /// # Panics
    /// When the interpreter does not run or prints no version.
    pub fn version(&self) -> String {
        let qemu = self.interpreter("aarch64");
        let out = std::process::Command::new(&qemu)
            .arg("--version")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", qemu.display()));
        let text = String::from_utf8_lossy(&out.stdout);
        let mut words = text.split_whitespace();
        words
            .find(|w| *w == "version")
            .and_then(|_| words.next())
            .map(str::to_string)
            .unwrap_or_else(|| panic!("{} --version printed {text:?}", qemu.display()))
    }

    fn fix(&self) -> &'static str {
        match self.suite {
            "bookworm" => "install Debian's qemu-user-static (tests/setup.sh does)",
            "bookworm-backports" => {
                "re-run tests/fixtures.sh (it fetches this build only when the mirror has \
                 bookworm-backports)"
            }
            _ => "re-run tests/fixtures.sh",
        }
    }
}

/// The QEMU build of a Debian suite ([`QEMU_SUITES`]): `qemu_build("bookworm")` is the machine's
/// `/usr/bin/qemu-*-static` (7.2), the others are `qemu-user` packages unpacked by
/// `tests/fixtures.sh` into `$BINFMTD_FIXTURES/qemu-<suite>/usr/bin`.
///
/// Two real versions for tests that choose between interpreters:
/// `qemu_build("bookworm").interpreter("aarch64")` (7.2) and
/// `qemu_build("trixie").interpreter("aarch64")` (10.0).
///
/// # Panics
/// For an unknown suite, or when the build is not on this machine (the message says how to get
/// it).
pub fn qemu_build(suite: &str) -> QemuBuild {
    let Some(&suite) = QEMU_SUITES.iter().find(|s| **s == suite) else {
        panic!("unknown QEMU build {suite:?}: use one of {QEMU_SUITES:?}");
    };
    let build = if suite == "bookworm" {
        QemuBuild {
            suite,
            dir: PathBuf::from("/usr/bin"),
            suffix: "-static",
        }
    } else {
        QemuBuild {
            suite,
            dir: fixtures_dir().join(format!("qemu-{suite}/usr/bin")),
            suffix: "",
        }
    };
    assert!(
        build.dir.is_dir(),
        "{} is missing; {}",
        build.dir.display(),
        build.fix()
    );
    build
}
