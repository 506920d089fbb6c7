//! The QEMU version of an interpreter, from `<path> --version` with a short timeout.

use std::io::Read;
use std::os::fd::AsFd;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

/// How long `--version` may take before the child is killed.
pub const VERSION_TIMEOUT: Duration = Duration::from_secs(2);

/// Most output read from `--version` (the real output is about 120 bytes).
const MAX_OUTPUT: u64 = 4096;

/// Runs `<path> --version` and returns what follows "version " on its first line, e.g.
/// `7.2.17 (Debian 1:7.2+dfsg-7+deb12u18)`.
///
/// Returns `None` if the program cannot be run, fails, takes longer than [`VERSION_TIMEOUT`], or
/// prints something that does not look like QEMU's banner. Run it only on verified binaries.
pub fn qemu_version(path: &Path) -> Option<String> {
    qemu_version_within(path, VERSION_TIMEOUT)
}

/// [`qemu_version`] with an explicit timeout.
///
/// Reads the child's standard output to its end (poll with the deadline, no thread, no sleep),
/// then reaps it: QEMU exits right after printing, so this costs one fork and exec, not a
/// polling period.
pub fn qemu_version_within(path: &Path, timeout: Duration) -> Option<String> {
    let mut child = Command::new(path)
        .arg("--version")
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + timeout;
    let Some(mut stdout) = child.stdout.take() else {
        return reap(&mut child);
    };
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    while (out.len() as u64) < MAX_OUTPUT {
        let left = deadline.saturating_duration_since(Instant::now());
        let timeout = PollTimeout::try_from(left).unwrap_or(PollTimeout::ZERO);
        let mut fds = [PollFd::new(stdout.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(0) => return reap(&mut child),
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return reap(&mut child),
        }
        match stdout.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return reap(&mut child),
        }
    }
    drop(stdout);
    if !wait_until(&mut child, deadline)? {
        return None;
    }
    parse_version(&String::from_utf8_lossy(&out))
}

/// Kills and reaps `child` (best effort: it is ours and we only want it gone).
fn reap(child: &mut Child) -> Option<String> {
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// Whether the QEMU at `path` runs `probe` (a static exit(0) executable of its target) to exit
/// status 0 within [`VERSION_TIMEOUT`]: a candidate that does not is no interpreter for the
/// target, whatever its name says.
pub fn runs_probe(path: &Path, probe: &[u8]) -> bool {
    use std::io::Write as _;
    use std::os::unix::fs::PermissionsExt as _;
    let Ok(mut file) = tempfile::Builder::new().prefix("binfmtd-probe.").tempfile() else {
        return false;
    };
    let written = file.write_all(probe).and_then(|()| {
        file.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o755))
    });
    // Closed before QEMU opens it.
    let probe_path = file.into_temp_path();
    if written.is_err() {
        return false;
    }
    let Ok(mut child) = Command::new(path)
        .arg(&*probe_path)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        return false;
    };
    wait_until(&mut child, Instant::now() + VERSION_TIMEOUT).unwrap_or(false)
}

/// Waits for `child` until `deadline`; kills and reaps it after that. Returns its success.
/// Checks often at first (a QEMU that printed its banner or ran a probe exits within
/// microseconds), then every 5 ms.
fn wait_until(child: &mut Child, deadline: Instant) -> Option<bool> {
    let mut pause = Duration::from_micros(50);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status.success()),
            Ok(None) if Instant::now() < deadline => {
                thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(5));
            }
            Ok(None) | Err(_) => {
                // Best effort: the child is ours and we only want it gone.
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// Extracts the version from QEMU's banner: `qemu-aarch64 version 7.2.17 (Debian ...)` gives
/// `7.2.17 (Debian ...)`. Only the first line counts and the version must start with a digit.
pub fn parse_version(output: &str) -> Option<String> {
    let first = output.lines().next()?.trim();
    let (program, version) = first.split_once(" version ")?;
    let version = version.trim();
    let starts_with_digit = version.chars().next().is_some_and(|c| c.is_ascii_digit());
    (program.starts_with("qemu-") && starts_with_digit).then(|| version.to_owned())
}

/// Orders two QEMU versions as printed by `--version` (`7.2.22 (Debian …)`, `10.0.13`) by their
/// leading numbers; an unknown version is older than any known one.
pub fn compare_versions(a: Option<&str>, b: Option<&str>) -> std::cmp::Ordering {
    fn numbers(v: &str) -> Vec<u64> {
        v.split(|c: char| !c.is_ascii_digit() && c != '.')
            .next()
            .unwrap_or_default()
            .split('.')
            .map_while(|n| n.parse().ok())
            .collect()
    }
    match (a, b) {
        (Some(a), Some(b)) => numbers(a).cmp(&numbers(b)),
        (a, b) => a.is_some().cmp(&b.is_some()),
    }
}

/// The major and minor version of a QEMU version string (`10.0.13 (Debian …)` → (10, 0)).
pub fn major_minor(version: &str) -> Option<(u64, u64)> {
    let mut parts = version.split(|c: char| !c.is_ascii_digit());
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}
