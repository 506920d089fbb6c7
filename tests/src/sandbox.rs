//! Private binfmt_misc instances for real-kernel tests.
//!
//! Since Linux 6.7 every user namespace can mount its own binfmt_misc instance: registrations made
//! there are invisible to the host and vanish with the namespace. Two ways to use one:
//!
//! - [`sandbox_test!`](crate::sandbox_test): a `#[test]` whose body runs *inside* a fresh user + mount
//!   namespace with binfmt_misc mounted at a temporary directory. The test binary re-executes itself
//!   under `unshare(1)` filtered to that one test (creating a user namespace from the multi-threaded
//!   test harness is impossible, so the namespace work always happens in a child process).
//! - [`Sandbox`]: a long-lived namespace held by a `sleep` process, entered with `nsenter(1)` for
//!   each step, for scenarios with several processes (daemon, concurrent installs).
//!
//! When the kernel cannot give a private instance the test prints `skipping: <reason>` and passes,
//! except under `CI=true`, where a skip is a failure: CI machines run Linux 6.18.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const ENV_MOUNT: &str = "BINFMTD_TEST_SANDBOX_MOUNT";
const ENV_TEST: &str = "BINFMTD_TEST_SANDBOX_TEST";

/// Defines a `#[test]` whose body runs inside a private user + mount namespace, as that namespace's
/// root, with a fresh binfmt_misc instance mounted at the given path.
///
/// ```text
/// binfmtd_tests::sandbox_test! {
///     fn registers(mnt: &std::path::Path) {
///         assert!(mnt.join("register").exists());
///     }
/// }
/// ```
#[macro_export]
macro_rules! sandbox_test {
    ($(#[$meta:meta])* fn $name:ident($mnt:ident : &$ty:ty) $body:block) => {
        $(#[$meta])*
        #[test]
        fn $name() {
            fn inner($mnt: &$ty) $body
            $crate::sandbox::run(concat!(module_path!(), "::", stringify!($name)), inner);
        }
    };
}

/// binfmtd's variable for the root of the binfmt.d directories (`engine::masks::ROOT_ENV`):
/// every binfmtd run by the tests gets a private one, so no test reads or writes the host's
/// `/etc/binfmt.d`.
pub const BINFMT_D_ROOT_ENV: &str = "BINFMTD_BINFMT_D_ROOT";

/// Whether this process is the inside of a sandbox (the body of a [`sandbox_test!`]).
pub fn inside() -> bool {
    std::env::var_os(ENV_MOUNT).is_some()
}

/// Runs `body` inside a sandbox: the implementation of [`sandbox_test!`](crate::sandbox_test).
///
/// `path` is the test's `module_path!()::name`; the first segment (the test crate) is dropped to
/// get libtest's name for it.
pub fn run(path: &str, body: fn(&Path)) {
    let name = path.split_once("::").map_or(path, |(_, rest)| rest);
    if let (Some(mount), Some(test)) = (std::env::var_os(ENV_MOUNT), std::env::var_os(ENV_TEST))
        && test == OsStr::new(name)
    {
        body(Path::new(&mount));
        return;
    }
    if let Err(reason) = support() {
        skip(name, reason);
        return;
    }
    let dir = tempfile::tempdir().expect("creating a temporary directory");
    let mount = dir.path().join("binfmt_misc");
    std::fs::create_dir(&mount).expect("creating the mount point");
    let exe = std::env::current_exe().expect("locating the test binary");
    let out = Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "--", "sh", "-c"])
        .arg(r#"mount -t binfmt_misc binfmt_misc "$0" && exec "$@""#)
        .arg(&mount)
        .arg(&exe)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(ENV_MOUNT, &mount)
        .env(ENV_TEST, name)
        .env(BINFMT_D_ROOT_ENV, dir.path().join("sysroot"))
        .stdin(Stdio::null())
        .output()
        .expect("spawning unshare(1)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{stdout}");
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "sandboxed test {name} failed ({})",
        out.status
    );
    assert!(
        stdout.contains("1 passed"),
        "sandboxed test {name} did not run exactly one test inside the sandbox"
    );
}

/// Whether this kernel gives a user namespace its own binfmt_misc instance (probed once).
pub fn support() -> Result<(), String> {
    static SUPPORT: OnceLock<Result<(), String>> = OnceLock::new();
    SUPPORT
        .get_or_init(|| {
            let out = Command::new("unshare")
                .args(["--user", "--map-root-user", "--mount", "--", "sh", "-c"])
                .arg(r#"d=$(mktemp -d) && mount -t binfmt_misc binfmt_misc "$d" && test -e "$d/register""#)
                .stdin(Stdio::null())
                .output()
                .map_err(|e| format!("cannot run unshare(1): {e}"))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "this kernel gives no private binfmt_misc to a user namespace (needs Linux >= 6.7 \
                     and unprivileged user namespaces): {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ))
            }
        })
        .clone()
}

pub use crate::skip;

/// A long-lived private user + mount namespace with its own binfmt_misc instance.
///
/// A `sleep infinity` holder keeps the namespaces (and so the instance) alive; [`Sandbox::command`]
/// enters them with `nsenter(1)`. Dropping the sandbox kills the holder, which frees the instance
/// and every entry in it.
#[derive(Debug)]
pub struct Sandbox {
    holder: Child,
    mount: PathBuf,
    dir: tempfile::TempDir,
}

impl Sandbox {
    /// Creates a sandbox, or returns `None` after printing why the kernel cannot give one
    /// (panics instead under `CI=true`).
    pub fn new(test: &str) -> Option<Sandbox> {
        if let Err(reason) = support() {
            skip(test, reason);
            return None;
        }
        Some(Sandbox::create().unwrap_or_else(|e| panic!("{test}: cannot create a sandbox: {e}")))
    }

    fn create() -> Result<Sandbox, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let mount = dir.path().join("binfmt_misc");
        std::fs::create_dir(&mount).map_err(|e| e.to_string())?;
        let holder = Command::new("unshare")
            .args([
                "--user",
                "--map-root-user",
                "--mount",
                "--",
                "sleep",
                "infinity",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run unshare(1): {e}"))?;
        let sandbox = Sandbox { holder, mount, dir };
        sandbox.wait_for_namespace()?;
        let out = sandbox
            .command("mount")
            .args(["-t", "binfmt_misc", "binfmt_misc"])
            .arg(&sandbox.mount)
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "mounting binfmt_misc in the sandbox: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(sandbox)
    }

    fn wait_for_namespace(&self) -> Result<(), String> {
        let pid = self.pid();
        let ours = std::fs::read_link("/proc/self/ns/user").map_err(|e| e.to_string())?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let theirs = std::fs::read_link(format!("/proc/{pid}/ns/user")).ok();
            let mapped = ["uid_map", "gid_map"].iter().all(|map| {
                std::fs::read_to_string(format!("/proc/{pid}/{map}"))
                    .is_ok_and(|m| !m.trim().is_empty())
            });
            // unshare(1) executes `sleep` only once every map is written and setgroups denied.
            let set_up = std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "sleep");
            if theirs.is_some_and(|t| t != ours) && mapped && set_up {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Err("the sandbox holder never entered its user namespace".into())
    }

    /// The PID of the holder process (its namespaces are the sandbox).
    pub fn pid(&self) -> u32 {
        self.holder.id()
    }

    /// Where the sandbox's private binfmt_misc is mounted (a path valid inside the sandbox).
    pub fn mount(&self) -> &Path {
        &self.mount
    }

    /// A scratch directory that exists both outside and inside the sandbox.
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    /// A command that runs `program` inside the sandbox as its root.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg("-t")
            .arg(self.pid().to_string())
            .args(["--user", "--mount", "--preserve-credentials", "--"])
            .arg(program)
            .env(BINFMT_D_ROOT_ENV, self.sysroot())
            .stdin(Stdio::null());
        cmd
    }

    /// Where binfmtd run in this sandbox finds the systemd binfmt.d directories
    /// (`<sysroot>/etc/binfmt.d`, `<sysroot>/usr/lib/binfmt.d`, …): never the host's.
    pub fn sysroot(&self) -> PathBuf {
        self.dir.path().join("sysroot")
    }

    /// Runs a shell script inside the sandbox and returns its output.
    pub fn sh(&self, script: &str) -> Output {
        self.command("sh")
            .args(["-c", script])
            .output()
            .expect("running nsenter(1)")
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}
