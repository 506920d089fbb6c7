//! `binfmtd daemon` in a private binfmt_misc sandbox, and its systemd unit file.
//!
//! This module is the harness: [`Daemon`] runs the built binary inside a [`Sandbox`] with
//! `NOTIFY_SOCKET` pointing at a datagram socket the test owns, and reads the private instance
//! from outside through `/proc/<daemon>/root`. The tests are in `heal.rs` (readiness protocol,
//! self-healing, EBUSY on unmount, lazy unmount, reload with a broken configuration, no idle
//! wake-ups, SIGTERM), `lifecycle.rs` (interpreter upgrade, other tools' entries and the loop
//! guard, watchdog, `--remove-on-stop`, start-up failure) and `unit.rs` (the unit file's keys).
#![allow(clippy::unwrap_used)] // Test helpers may unwrap, as the tests do.

mod distro;
mod heal;
mod lifecycle;
mod review;
mod storm;
mod unit;

use binfmtd_tests::{bin, fixtures, sandbox::Sandbox};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Restorations must take milliseconds; this bound only absorbs a loaded CI machine.
pub(super) const HEAL: Duration = Duration::from_secs(3);

/// A daemon running in its own sandbox, its notify socket, log and configuration.
pub(super) struct Daemon {
    pub(super) sb: Sandbox,
    pub(super) child: Child,
    pub(super) sock: UnixDatagram,
    pub(super) log: PathBuf,
    pub(super) config: PathBuf,
    /// Every notification so far, in order.
    pub(super) seen: Vec<String>,
}

impl Daemon {
    /// Starts `binfmtd daemon` for aarch64, arm and riscv64 with sources copied into the sandbox.
    pub(super) fn start(test: &str, extra_args: &[&str], envs: &[(&str, &str)]) -> Option<Daemon> {
        Daemon::start_after(test, extra_args, envs, |_| {})
    }

    /// [`Daemon::start`], after `before` ran in the fresh sandbox (what the host did at boot
    /// before binfmtd's unit started, e.g. systemd-binfmt registering the distribution's files).
    pub(super) fn start_after(
        test: &str,
        extra_args: &[&str],
        envs: &[(&str, &str)],
        before: impl FnOnce(&Sandbox),
    ) -> Option<Daemon> {
        let sb = Sandbox::new(test)?;
        before(&sb);
        let dir = sb.scratch().to_path_buf();
        std::fs::create_dir(dir.join("src")).unwrap();
        for t in ["aarch64", "arm", "riscv64"] {
            let to = dir.join(format!("src/qemu-{t}-static"));
            std::fs::copy(fixtures::qemu_static(t), to).unwrap();
        }
        let config = dir.join("binfmtd.toml");
        write_config(&config, &dir, "");
        let sock = UnixDatagram::bind(dir.join("notify.sock")).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let log = dir.join("daemon.log");
        let child = sb
            .command(bin::binfmtd())
            .arg("daemon")
            .arg("--mount")
            .arg(sb.mount())
            .arg("--config")
            .arg(&config)
            .args(extra_args)
            .env("NOTIFY_SOCKET", dir.join("notify.sock"))
            .envs(envs.iter().copied())
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Some(Daemon {
            sb,
            child,
            sock,
            log,
            config,
            seen: Vec::new(),
        })
    }

    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next notification datagram.
    pub(super) fn notification(&mut self) -> String {
        let mut buf = [0u8; 4096];
        let n = self
            .sock
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("no notification ({e}); log:\n{}", self.log_text()));
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        self.seen.push(text.clone());
        text
    }

    pub(super) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A path inside the sandbox's mount namespace, reachable from outside through the daemon's
    /// `/proc/PID/root`.
    pub(super) fn inside(&self, path: &Path) -> PathBuf {
        Path::new(&format!("/proc/{}/root", self.pid())).join(path.strip_prefix("/").unwrap())
    }

    pub(super) fn entry(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.inside(&self.sb.mount().join(name))).ok()
    }

    pub(super) fn entry_inode(&self, name: &str) -> Option<u64> {
        std::fs::metadata(self.inside(&self.sb.mount().join(name)))
            .ok()
            .map(|m| m.ino())
    }

    pub(super) fn store(&self) -> PathBuf {
        self.sb.scratch().join("store")
    }

    /// Whether `name` is registered, enabled, with binfmtd's managed interpreter.
    pub(super) fn ours(&self, name: &str) -> bool {
        let interp = format!("interpreter {}", self.store().join(name).display());
        self.entry(name)
            .is_some_and(|e| e.starts_with("enabled\n") && e.lines().any(|l| l == interp))
    }

    pub(super) fn all_ours(&self) -> bool {
        ["qemu-aarch64", "qemu-arm", "qemu-riscv64"]
            .iter()
            .all(|n| self.ours(n))
    }

    /// Runs a shell script inside the sandbox; panics when it fails.
    pub(super) fn sh(&self, script: &str) {
        let out = self.sb.sh(script);
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub(super) fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.pid().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig}");
    }

    /// Voluntary + involuntary context switches of the daemon.
    pub(super) fn switches(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .filter(|l| l.contains("ctxt_switches:"))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum()
    }

    pub(super) fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the daemon did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(super) fn write_config(path: &Path, dir: &Path, extra: &str) {
    let text = format!(
        "targets = [\"aarch64\", \"arm\", \"riscv64\"]\ninterpreter_dirs = [\"{}\"]\n\
         install_dir = \"{}\"\n{extra}",
        dir.join("src").display(),
        dir.join("store").display()
    );
    std::fs::write(path, text).unwrap();
}

/// Polls `cond` until it holds or `limit` passes; returns how long it took.
pub(super) fn wait_until(
    limit: Duration,
    what: &str,
    log: impl Fn() -> String,
    cond: impl Fn() -> bool,
) -> Duration {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < limit,
            "{what}: not done within {limit:?}; log:\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    start.elapsed()
}

/// The register line that re-registers `name`'s magic and mask with another interpreter.
pub(super) fn register_line(entry_text: &str, name: &str, interpreter: &Path) -> String {
    let field = |key: &str| {
        let hex = entry_text
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} in {entry_text}"));
        hex.as_bytes()
            .chunks(2)
            .map(|c| format!("\\x{}", String::from_utf8_lossy(c)))
            .collect::<String>()
    };
    format!(
        ":{name}:M:0:{}:{}:{}:PF",
        field("magic "),
        field("mask "),
        interpreter.display()
    )
}

pub(super) fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}
