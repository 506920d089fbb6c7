//! Shared set-up of the CLI tests: one sandbox (a private binfmt_misc instance), a configuration
//! whose `install_dir` lives in the sandbox's scratch directory, the built binary run inside it,
//! and snapshots of the kernel's entries and the store to prove that something did not change.

#![allow(clippy::unwrap_used)] // Test helpers may unwrap, as the tests do.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use binfmtd_tests::bin::binfmtd;
use binfmtd_tests::sandbox::Sandbox;
use serde_json::Value;

/// A sandbox with a binfmtd configuration.
pub(crate) struct Env {
    /// The sandbox (its binfmt_misc is `sb.mount()`).
    pub(crate) sb: Sandbox,
    /// The default configuration file (`install_dir` = [`Env::store`]).
    pub(crate) config: PathBuf,
    /// The install directory of that configuration (not created by the set-up).
    pub(crate) store: PathBuf,
}

/// One finished run of the binary.
#[derive(Debug)]
pub(crate) struct Run {
    /// Exit status code (-1 when killed by a signal).
    pub(crate) code: i32,
    /// Standard output.
    pub(crate) stdout: String,
    /// Standard error.
    pub(crate) stderr: String,
}

impl Run {
    pub(crate) fn from_output(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Standard output parsed as JSON.
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }

    /// The `error:` lines of standard error.
    pub(crate) fn errors(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("error:"))
            .collect()
    }
}

/// What must not change: every entry's (inode, ctime, content) and every store file's
/// (inode, size, mtime).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Snapshot {
    pub(crate) entries: BTreeMap<String, (u64, i64, i64, Vec<u8>)>,
    pub(crate) store: Option<BTreeMap<String, (u64, u64, i64, i64)>>,
}

impl Snapshot {
    /// What differs from `other`, one line per entry or store file (empty: identical).
    pub(crate) fn diff(&self, other: &Snapshot) -> Vec<String> {
        fn keys<V: PartialEq>(
            what: &str,
            a: &BTreeMap<String, V>,
            b: &BTreeMap<String, V>,
        ) -> Vec<String> {
            let mut out = Vec::new();
            for (name, value) in a {
                match b.get(name) {
                    None => out.push(format!("{what} {name} removed")),
                    Some(v) if v != value => out.push(format!("{what} {name} changed")),
                    Some(_) => {}
                }
            }
            out.extend(
                b.keys()
                    .filter(|n| !a.contains_key(*n))
                    .map(|n| format!("{what} {n} added")),
            );
            out
        }
        let mut out = keys("entry", &self.entries, &other.entries);
        match (&self.store, &other.store) {
            (Some(a), Some(b)) => out.extend(keys("store file", a, b)),
            (None, None) => {}
            (a, _) => out.push(format!(
                "install directory {}",
                if a.is_some() { "removed" } else { "created" }
            )),
        }
        out
    }
}

impl Env {
    /// Another tool's aarch64 interpreter (not binfmtd's, not a distribution's path): a copy of
    /// qemu-aarch64-static in the scratch directory.
    pub(crate) fn other_tool_qemu(&self) -> PathBuf {
        let dir = self.sb.scratch().join("other-tool");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("qemu-aarch64");
        if !path.exists() {
            std::fs::copy(binfmtd_tests::fixtures::qemu_static("aarch64"), &path).unwrap();
        }
        path
    }

    /// A new sandbox whose configuration is `install_dir = <scratch>/store` plus `extra` TOML.
    /// `None` (after printing why) when the kernel cannot give a private instance.
    pub(crate) fn new(test: &str, extra: &str) -> Option<Env> {
        let sb = Sandbox::new(test)?;
        let store = sb.scratch().join("store");
        let config = sb.scratch().join("binfmtd.toml");
        write_config(&config, &store, extra);
        Some(Env { sb, config, store })
    }

    /// Writes another configuration file in the scratch directory.
    pub(crate) fn config_file(&self, name: &str, install_dir: &Path, extra: &str) -> PathBuf {
        let path = self.sb.scratch().join(name);
        write_config(&path, install_dir, extra);
        path
    }

    /// `binfmtd --mount <sandbox mount> --config <config> ARGS…` inside the sandbox.
    pub(crate) fn command_with(&self, config: &Path, args: &[&str]) -> Command {
        let mut cmd = self.sb.command(binfmtd());
        cmd.arg("--mount")
            .arg(self.sb.mount())
            .arg("--config")
            .arg(config)
            .args(args);
        cmd
    }

    /// Runs the binary with the default configuration.
    pub(crate) fn run(&self, args: &[&str]) -> Run {
        self.run_with(&self.config, args)
    }

    /// Runs the binary with another configuration.
    pub(crate) fn run_with(&self, config: &Path, args: &[&str]) -> Run {
        Run::from_output(
            self.command_with(config, args)
                .output()
                .expect("running nsenter(1)"),
        )
    }

    /// Runs `program ARGS…` inside the sandbox.
    pub(crate) fn exec(&self, program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Run {
        Run::from_output(
            self.sb
                .command(program)
                .args(args)
                .output()
                .expect("running nsenter(1)"),
        )
    }

    /// Runs a shell script inside the sandbox and asserts that it succeeded.
    pub(crate) fn sh_ok(&self, script: &str) -> String {
        let out = self.sb.sh(script);
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A path inside the sandbox's mount namespace, seen from this (host) process.
    pub(crate) fn host_view(&self, inside: &Path) -> PathBuf {
        let relative = inside.strip_prefix("/").unwrap_or(inside);
        PathBuf::from(format!("/proc/{}/root", self.sb.pid())).join(relative)
    }

    /// The binfmt_misc mount, seen from this process.
    pub(crate) fn mount_view(&self) -> PathBuf {
        self.host_view(self.sb.mount())
    }

    /// Entry name → its file's content (`enabled`, `interpreter …`, `flags: …`).
    pub(crate) fn entry_texts(&self) -> BTreeMap<String, String> {
        self.snapshot()
            .entries
            .into_iter()
            .map(|(name, (.., content))| (name, String::from_utf8_lossy(&content).into_owned()))
            .collect()
    }

    /// Registers an entry by hand, as another tool would (`line` is the register string).
    pub(crate) fn register_by_hand(&self, line: &str) {
        let register = self.sb.mount().join("register");
        self.sh_ok(&format!("printf '%s' '{line}' > {}", register.display()));
    }

    /// The state that "nothing changed" compares.
    pub(crate) fn snapshot(&self) -> Snapshot {
        self.snapshot_of(&self.store)
    }

    /// Like [`Env::snapshot`], for another install directory (a path inside the sandbox).
    pub(crate) fn snapshot_of(&self, store: &Path) -> Snapshot {
        let mount = self.mount_view();
        let mut entries = BTreeMap::new();
        for item in std::fs::read_dir(&mount).expect("listing the sandbox's binfmt_misc") {
            let item = item.unwrap();
            let name = item.file_name().into_string().unwrap();
            if name == "register" || name == "status" {
                continue;
            }
            let meta = item.metadata().unwrap();
            let content = std::fs::read(item.path()).unwrap();
            entries.insert(name, (meta.ino(), meta.ctime(), meta.ctime_nsec(), content));
        }
        let store_view = self.host_view(store);
        let store = std::fs::read_dir(&store_view).ok().map(|dir| {
            // The host-probe cache is not an interpreter: written once when missing.
            dir.filter(|item| {
                item.as_ref()
                    .map_or(true, |i| i.file_name() != "host-probes")
            })
            .map(|item| {
                let item = item.unwrap();
                let meta = item.metadata().unwrap();
                (
                    item.file_name().into_string().unwrap(),
                    (meta.ino(), meta.size(), meta.mtime(), meta.mtime_nsec()),
                )
            })
            .collect()
        });
        Snapshot { entries, store }
    }
}

fn write_config(path: &Path, install_dir: &Path, extra: &str) {
    let text = format!(
        "install_dir = {:?}\n{extra}",
        install_dir.display().to_string()
    );
    std::fs::File::create(path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
        .expect("writing a test configuration");
}

/// Asserts that nothing changed between two snapshots, listing what did otherwise.
pub(crate) fn assert_unchanged(before: &Snapshot, after: &Snapshot, what: &str) {
    let diff = before.diff(after);
    assert!(diff.is_empty(), "{what} changed: {}", diff.join("; "));
}

/// The entry objects of a report, by name.
pub(crate) fn by_name(report: &Value) -> BTreeMap<String, Value> {
    report["entries"]
        .as_array()
        .unwrap_or_else(|| panic!("no entries in {report}"))
        .iter()
        .map(|e| (e["name"].as_str().unwrap().to_string(), e.clone()))
        .collect()
}

/// `sha256sum FILE` (the test crate has no hashing dependency).
pub(crate) fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    assert!(out.status.success(), "sha256sum {}", path.display());
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// The register string of another tool's aarch64 entry named `name`, running `interpreter` with F.
pub(crate) fn foreign_aarch64_line(name: &str, interpreter: &Path) -> String {
    let row = elf_magic::Target::Aarch64.primary_row();
    let hex = |bytes: &[u8]| {
        bytes
            .iter()
            .map(|b| format!("\\x{b:02x}"))
            .collect::<String>()
    };
    format!(
        ":{name}:M:{}:{}:{}:{}:F",
        row.offset,
        hex(row.magic),
        hex(row.mask),
        interpreter.display()
    )
}
