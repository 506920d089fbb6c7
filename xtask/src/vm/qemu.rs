//! The launcher: boot a kernel with an initramfs (and optionally a disk image) under
//! qemu-system, collect the serial console into a file, and stop it at a deadline.
//!
//! Nothing here knows about binfmtd: a [`Machine`] is a kernel, an initrd, a command line and a
//! timeout, and [`Machine::boot`] returns what the console printed and whether the guest ended by
//! itself (`poweroff -f` with `-no-reboot` makes QEMU exit). Full-system guests with a disk
//! (`root=/dev/vda`) use the same type.

use anyhow::{Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The guest's architecture: which qemu-system binary, machine and console to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GuestArch {
    /// `qemu-system-x86_64`, console on `ttyS0`.
    Amd64,
    /// `qemu-system-aarch64 -M virt`, console on `ttyAMA0`.
    Arm64,
}

impl GuestArch {
    /// Debian's name for it.
    pub(crate) fn debian(self) -> &'static str {
        match self {
            GuestArch::Amd64 => "amd64",
            GuestArch::Arm64 => "arm64",
        }
    }

    fn system(self) -> &'static str {
        match self {
            GuestArch::Amd64 => "qemu-system-x86_64",
            GuestArch::Arm64 => "qemu-system-aarch64",
        }
    }

    fn console(self) -> &'static str {
        match self {
            GuestArch::Amd64 => "ttyS0",
            GuestArch::Arm64 => "ttyAMA0",
        }
    }
}

/// How QEMU executes the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Accel {
    /// Software emulation: always works, 5–20× slower.
    Tcg,
    /// Hardware virtualisation (same architecture only; hangs on some nested hosts).
    Kvm,
}

/// One boot: what to run and for how long.
#[derive(Debug, Clone)]
pub(crate) struct Machine {
    /// The guest architecture.
    pub(crate) arch: GuestArch,
    /// The kernel image.
    pub(crate) kernel: PathBuf,
    /// The initramfs, if any.
    pub(crate) initrd: Option<PathBuf>,
    /// A raw disk image attached as the first virtio disk (`/dev/vda`), if any.
    pub(crate) disk: Option<PathBuf>,
    /// `-M` (default: `virt` on arm64, QEMU's default PC on amd64).
    pub(crate) machine: Option<String>,
    /// `-cpu` (default: `max` on arm64, QEMU's default on amd64; `host` under KVM).
    pub(crate) cpu: Option<String>,
    /// Kernel command-line words after `console=… panic=-1`.
    pub(crate) append: Vec<String>,
    /// Memory in MiB.
    pub(crate) memory_mb: u32,
    /// Virtual CPUs.
    pub(crate) smp: u32,
    /// Hardware or software execution.
    pub(crate) accel: Accel,
    /// The guest is killed after this long.
    pub(crate) timeout: Duration,
}

/// What a boot produced.
#[derive(Debug, Clone)]
pub(crate) struct Boot {
    /// Everything the serial console printed (lossy UTF-8).
    pub(crate) console: String,
    /// Whether QEMU exited by itself before the deadline (the guest powered off or QEMU failed).
    pub(crate) exited: bool,
    /// QEMU's exit status, if it exited by itself.
    pub(crate) status: Option<std::process::ExitStatus>,
    /// Wall time from start to exit (or kill).
    pub(crate) elapsed: Duration,
}

impl Machine {
    /// A machine with the defaults of the VM bench: 1 GiB, 1 vCPU, TCG.
    pub(crate) fn new(arch: GuestArch, kernel: &Path, timeout: Duration) -> Machine {
        Machine {
            arch,
            kernel: kernel.to_path_buf(),
            initrd: None,
            disk: None,
            machine: None,
            cpu: None,
            append: Vec::new(),
            memory_mb: 1024,
            smp: 1,
            accel: Accel::Tcg,
            timeout,
        }
    }

    /// The qemu-system command line (the console goes to `console`).
    pub(crate) fn command(&self, console: &Path) -> Command {
        let mut cmd = Command::new(self.arch.system());
        let machine = self.machine.clone().or(match self.arch {
            GuestArch::Arm64 => Some("virt".to_string()),
            GuestArch::Amd64 => None,
        });
        if let Some(m) = machine {
            cmd.args(["-M", &m]);
        }
        let cpu = match (self.accel, &self.cpu, self.arch) {
            (Accel::Kvm, _, _) => Some("host".to_string()),
            (Accel::Tcg, Some(cpu), _) => Some(cpu.clone()),
            (Accel::Tcg, None, GuestArch::Arm64) => Some("max".to_string()),
            (Accel::Tcg, None, GuestArch::Amd64) => None,
        };
        if let Some(cpu) = cpu {
            cmd.args(["-cpu", &cpu]);
        }
        cmd.args([
            "-accel",
            match self.accel {
                Accel::Tcg => "tcg",
                Accel::Kvm => "kvm",
            },
        ]);
        cmd.args(["-m", &self.memory_mb.to_string()]);
        cmd.args(["-smp", &self.smp.to_string()]);
        cmd.args([
            "-display",
            "none",
            "-monitor",
            "none",
            "-no-reboot",
            "-nic",
            "none",
        ]);
        cmd.arg("-serial")
            .arg(format!("file:{}", console.display()));
        cmd.arg("-kernel").arg(&self.kernel);
        if let Some(initrd) = &self.initrd {
            cmd.arg("-initrd").arg(initrd);
        }
        if let Some(disk) = &self.disk {
            cmd.arg("-drive")
                .arg(format!("file={},if=virtio,format=raw", disk.display()));
        }
        let mut append = vec![
            format!("console={}", self.arch.console()),
            "panic=-1".to_string(),
        ];
        append.extend(self.append.iter().cloned());
        cmd.arg("-append").arg(append.join(" "));
        cmd
    }

    /// Boots, waits until QEMU exits or the timeout passes (then kills it), and returns the
    /// console. The console is also left in `console` for inspection.
    pub(crate) fn boot(&self, console: &Path) -> Result<Boot> {
        if let Some(parent) = console.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(console, "")?;
        let mut cmd = self.command(console);
        let stderr = console.with_extension("qemu-stderr");
        let start = Instant::now();
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&stderr)?)
            .spawn()
            .with_context(|| {
                format!(
                    "cannot start {} (apt-get install qemu-system-x86 qemu-system-arm)",
                    self.arch.system()
                )
            })?;
        let mut status = None;
        while start.elapsed() < self.timeout {
            if let Some(s) = child.try_wait()? {
                status = Some(s);
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if status.is_none() {
            // Kill by our own child's pid only; then reap it.
            let _ = child.kill();
            let _ = child.wait();
        }
        let elapsed = start.elapsed();
        let mut console_text = String::from_utf8_lossy(&fs::read(console)?).into_owned();
        let qemu_err = fs::read_to_string(&stderr).unwrap_or_default();
        if !qemu_err.trim().is_empty() {
            console_text.push_str("\n[qemu stderr] ");
            console_text.push_str(qemu_err.trim());
            console_text.push('\n');
        }
        Ok(Boot {
            console: console_text,
            exited: status.is_some(),
            status,
            elapsed,
        })
    }
}

/// Whether KVM can run a guest of `arch` here: the same architecture as the host, `/dev/kvm`
/// usable, and a trial boot (`trial`, which must power off by itself) finishing within its
/// timeout. Some nested hosts accept `KVM_CREATE_VM` and then hang the guest, hence the trial.
pub(crate) fn kvm_usable(arch: GuestArch, trial: &Machine, console: &Path) -> bool {
    let same = match arch {
        GuestArch::Amd64 => cfg!(target_arch = "x86_64"),
        GuestArch::Arm64 => cfg!(target_arch = "aarch64"),
    };
    if !same
        || fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/kvm")
            .is_err()
    {
        return false;
    }
    let trial = Machine {
        accel: Accel::Kvm,
        ..trial.clone()
    };
    matches!(trial.boot(console), Ok(b) if b.exited && b.status.is_some_and(|s| s.success()))
}
