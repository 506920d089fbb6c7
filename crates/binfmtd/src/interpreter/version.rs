//! The QEMU version of an interpreter, from `<path> --version` with a short timeout.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

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
    let stdout = child.stdout.take()?;
    let (tx, rx) = mpsc::channel();
    // The reader thread is detached: if a grandchild kept the pipe open, it would only leak.
    thread::spawn(move || {
        let mut out = String::new();
        let read = stdout.take(MAX_OUTPUT).read_to_string(&mut out);
        let _ = tx.send(read.ok().map(|_| out));
    });
    if !wait_until(&mut child, deadline)? {
        return None;
    }
    let left = deadline.saturating_duration_since(Instant::now());
    let output = rx
        .recv_timeout(left.max(Duration::from_millis(100)))
        .ok()??;
    parse_version(&output)
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
fn wait_until(child: &mut Child, deadline: Instant) -> Option<bool> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status.success()),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)),
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
