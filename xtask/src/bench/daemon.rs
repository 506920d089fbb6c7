//! The daemon's figures: exec → `READY=1`, resident memory after start and after many
//! flush-and-restore cycles, wake-ups while idle, and restore latency after `-1` into `status`.
//!
//! Runs inside a sandbox (`cargo xtask bench-daemon …` under `unshare`), with a notify socket of
//! its own; restore completion is observed with inotify on the binfmt_misc directory (each
//! registration closes `register` after writing), so no polling skews the latency.

use anyhow::{Context, Result, bail};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use std::fmt::Write as _;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::prepare::Setup;
use super::{runner, stats};

/// Measures from outside: spawns the in-sandbox half and formats its output.
pub(crate) fn measure(s: &Setup, cycles: usize, idle_secs: u64) -> Result<String> {
    let out = Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "--"])
        .arg(&s.xtask)
        .arg("bench-daemon")
        .arg(&s.binfmtd)
        .arg(&s.config)
        .arg(s.entries_binfmtd.to_string())
        .arg(cycles.to_string())
        .arg(idle_secs.to_string())
        .output()
        .context("running the daemon benchmark")?;
    if !out.status.success() {
        bail!(
            "daemon benchmark: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The in-sandbox half: `bench-daemon BINFMTD CONFIG ENTRIES CYCLES IDLE_SECS`.
pub(crate) fn inner(args: &[String]) -> Result<()> {
    let [binfmtd, config, entries, cycles, idle] = args else {
        bail!("bench-daemon BINFMTD CONFIG ENTRIES CYCLES IDLE_SECS");
    };
    let entries: usize = entries.parse()?;
    let cycles: usize = cycles.parse()?;
    let idle = Duration::from_secs(idle.parse()?);
    nix::mount::mount(
        Some("binfmt_misc"),
        runner::MOUNT,
        Some("binfmt_misc"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .context("mounting a private binfmt_misc")?;
    let dir = std::env::temp_dir().join(format!("binfmtd-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let socket_path = dir.join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path)?;
    socket.set_read_timeout(Some(Duration::from_secs(30)))?;

    // Warm start: the store is ready (like a reboot with an installed binfmtd).
    let start = Instant::now();
    let mut daemon = Daemon(
        Command::new(binfmtd)
            .args(["daemon", "-q", "--mount", runner::MOUNT, "--config"])
            .arg(config)
            .env("NOTIFY_SOCKET", &socket_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .context("starting the daemon")?,
    );
    wait_for(&socket, "READY=1")?;
    let ready = start.elapsed();
    let pid = daemon.0.id();
    let rss_start = status_kib(pid, "VmRSS:")?;

    // Let the start-up finish (the last notification may precede the last log line).
    std::thread::sleep(Duration::from_secs(1));
    let switches_before = context_switches(pid)?;
    std::thread::sleep(idle);
    let idle_wakeups = context_switches(pid)? - switches_before;

    let inotify = Inotify::init(InitFlags::IN_CLOEXEC).context("inotify")?;
    inotify.add_watch(runner::MOUNT, AddWatchFlags::IN_CLOSE_WRITE)?;
    let mut latencies = Vec::with_capacity(cycles);
    let mut rss_warm = None;
    for cycle in 0..cycles {
        if cycle == cycles / 10 {
            rss_warm = Some(status_kib(pid, "VmRSS:")?);
        }
        let t0 = Instant::now();
        std::fs::write(Path::new(runner::MOUNT).join("status"), "-1").context("flushing")?;
        wait_restored(&inotify, entries)?;
        latencies.push(t0.elapsed().as_nanos() as f64);
    }
    let rss_end = status_kib(pid, "VmRSS:")?;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    )?;
    let _ = daemon.0.wait();
    let _ = std::fs::remove_dir_all(&dir);

    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nDaemon (`binfmtd daemon`, {entries} entries, store ready):\n"
    );
    let _ = writeln!(out, "| figure | value | target |");
    let _ = writeln!(out, "| --- | ---: | ---: |");
    let _ = writeln!(
        out,
        "| exec → READY=1 | {} | 10 ms |",
        stats::human(ready.as_nanos() as f64)
    );
    let _ = writeln!(out, "| RSS after start | {rss_start} KiB | 4096 KiB |");
    if let Some(warm) = rss_warm {
        let _ = writeln!(
            out,
            "| RSS after {} flush-and-restore cycles | {warm} KiB | |",
            cycles / 10
        );
    }
    let _ = writeln!(
        out,
        "| RSS after {cycles} flush-and-restore cycles | {rss_end} KiB | no growth |"
    );
    let _ = writeln!(
        out,
        "| wake-ups while idle for {} s (context switches) | {idle_wakeups} | 0 |",
        idle.as_secs()
    );
    let _ = writeln!(
        out,
        "| restore after `-1` > status, median | {} | — |",
        stats::human(stats::median(&latencies))
    );
    let _ = writeln!(
        out,
        "| restore after `-1` > status, p99 | {} | 10 ms |",
        stats::human(stats::percentile(&latencies, 99.0))
    );
    print!("{out}");
    Ok(())
}

/// Kills the daemon if the benchmark fails half-way.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for(socket: &UnixDatagram, what: &str) -> Result<()> {
    let mut buf = [0u8; 4096];
    loop {
        let n = socket
            .recv(&mut buf)
            .context("waiting for the daemon's notification")?;
        if String::from_utf8_lossy(&buf[..n])
            .lines()
            .any(|l| l == what)
        {
            return Ok(());
        }
    }
}

/// Waits until the directory again holds `entries` entries, reading inotify events in between.
fn wait_restored(inotify: &Inotify, entries: usize) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let count = std::fs::read_dir(runner::MOUNT)?
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name() != "register" && e.file_name() != "status")
            .count();
        if count >= entries {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the daemon restored only {count} of {entries} entries within 10 s");
        }
        inotify.read_events().context("reading inotify events")?;
    }
}

fn status_kib(pid: u32, field: &str) -> Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    text.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("{field} of process {pid}"))
}

/// Voluntary plus involuntary context switches of every thread of `pid`.
fn context_switches(pid: u32) -> Result<u64> {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let text = std::fs::read_to_string(task?.path().join("status"))?;
        for line in text.lines() {
            if line.starts_with("voluntary_ctxt_switches:")
                || line.starts_with("nonvoluntary_ctxt_switches:")
            {
                total += line
                    .split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
    }
    Ok(total)
}
