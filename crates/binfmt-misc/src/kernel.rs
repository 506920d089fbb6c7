//! What the running kernel's binfmt_misc can do, read from its release (`uname -r`).
//!
//! The one place that parses kernel versions. Landmarks (kernel notes §0 and real-hosts §4):
//!
//! | since | what |
//! | --- | --- |
//! | 4.8 | the `F` flag |
//! | 5.12 | `P` reaches the interpreter as `AT_FLAGS_PRESERVE_ARGV0` (before, QEMU cannot know) |
//! | 6.7 | one instance per user namespace; the last unmount frees every entry |
//! | 7.3 | the `T`, `D`, `L` flags; `/proc/sys/user/max_binfmt_misc_interpreters` |
//!
//! A release that cannot be parsed (a custom version string) is taken to be recent: every feature
//! is assumed present, and the kernel itself then has the last word at registration.

use std::fmt;

/// `major.minor.patch` of a kernel release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KernelVersion {
    /// Major version (`6` in `6.18.44`).
    pub major: u32,
    /// Minor version (`18`).
    pub minor: u32,
    /// Patch level (`44`; 0 when absent, as in `7.3-amd64`).
    pub patch: u32,
}

impl KernelVersion {
    /// Parses the leading `major.minor[.patch]` of a release such as `6.1.0-50-amd64`,
    /// `7.3.0-rc7` or `5.10.223`; `None` when it does not start that way.
    pub fn parse(release: &str) -> Option<KernelVersion> {
        let mut numbers = release
            .split(['.', '-', '+', '_', '~'])
            .map(str::parse::<u32>);
        let major = numbers.next()?.ok()?;
        let minor = numbers.next()?.ok()?;
        let patch = numbers.next().and_then(Result::ok).unwrap_or(0);
        Some(KernelVersion {
            major,
            minor,
            patch,
        })
    }
}

impl fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The binfmt_misc features of one kernel release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Features {
    /// The release string as `uname -r` prints it.
    pub release: String,
    /// Its parsed version (`None`: unparseable, assumed recent).
    pub version: Option<KernelVersion>,
}

impl Features {
    /// The features of `release`.
    pub fn of(release: &str) -> Features {
        Features {
            release: release.to_string(),
            version: KernelVersion::parse(release),
        }
    }

    /// The features of the running kernel.
    pub fn running() -> Features {
        let release = nix::sys::utsname::uname()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default();
        Features::of(&release)
    }

    /// Whether the kernel is at least `major.minor` (an unknown version counts as recent).
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        self.version
            .is_none_or(|v| (v.major, v.minor) >= (major, minor))
    }

    /// `F` is accepted (Linux >= 4.8).
    pub fn fix_binary(&self) -> bool {
        self.at_least(4, 8)
    }

    /// `P` is passed to the interpreter in `AT_FLAGS` (Linux >= 5.12); before, an interpreter
    /// cannot know whether argv\[0\] was preserved, so `P` shifts QEMU's arguments.
    pub fn preserve_argv0_reaches_interpreter(&self) -> bool {
        self.at_least(5, 12)
    }

    /// Every user namespace may mount its own instance, and the last unmount of an instance
    /// frees its entries (Linux >= 6.7).
    pub fn userns_instances(&self) -> bool {
        self.at_least(6, 7)
    }

    /// The `T`, `D` and `L` flags are accepted (Linux >= 7.3).
    pub fn flags_7_3(&self) -> bool {
        self.at_least(7, 3)
    }

    /// The flags this kernel accepts, in canonical order: `POCF` (or `POC` before 4.8), plus
    /// `TDL` from 7.3 on.
    pub fn accepted_flags(&self) -> &'static str {
        match (self.fix_binary(), self.flags_7_3()) {
            (false, _) => "POC",
            (true, false) => "POCF",
            (true, true) => "POCFTDL",
        }
    }

    /// Whether this kernel accepts every flag in `flags`.
    pub fn accepts(&self, flags: crate::Flags) -> bool {
        (!flags.fix_binary || self.fix_binary()) && (!flags.needs_linux_7_3() || self.flags_7_3())
    }
}

/// Where Linux >= 7.3 limits the number of interpreters pinned with `F`.
pub const MAX_INTERPRETERS_SYSCTL: &str = "/proc/sys/user/max_binfmt_misc_interpreters";

/// The limit on pinned (`F`) interpreters, when this kernel has one and it can be read.
pub fn max_interpreters() -> Option<u64> {
    std::fs::read_to_string(MAX_INTERPRETERS_SYSCTL)
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_debian_and_upstream_releases() {
        let v = |s| KernelVersion::parse(s).map(|v| (v.major, v.minor, v.patch));
        assert_eq!(v("6.1.0-50-amd64"), Some((6, 1, 0)));
        assert_eq!(v("6.18.44-fc-v669"), Some((6, 18, 44)));
        assert_eq!(v("5.10.223"), Some((5, 10, 223)));
        assert_eq!(v("7.3-amd64"), Some((7, 3, 0)));
        assert_eq!(v("7.3.0-rc7+"), Some((7, 3, 0)));
        assert_eq!(v("6.12.117+deb13-arm64"), Some((6, 12, 117)));
        assert_eq!(v("4.4.0-210-generic"), Some((4, 4, 0)));
        assert_eq!(v(""), None);
        assert_eq!(v("custom"), None);
        assert_eq!(v("6"), None);
    }

    #[test]
    fn feature_landmarks() {
        let f = Features::of;
        assert!(!f("4.4.0").fix_binary() && f("4.8.0").fix_binary());
        assert_eq!(f("4.4.0").accepted_flags(), "POC");
        assert!(!f("5.11.22").preserve_argv0_reaches_interpreter());
        assert!(f("5.12.0").preserve_argv0_reaches_interpreter());
        assert!(!f("6.6.1").userns_instances() && f("6.7.0").userns_instances());
        assert_eq!(f("6.18.44").accepted_flags(), "POCF");
        assert_eq!(f("7.3-amd64").accepted_flags(), "POCFTDL");
        let t: crate::Flags = "PFT".parse().unwrap_or_default();
        assert!(!f("6.18.44").accepts(t) && f("7.3.0").accepts(t));
    }

    #[test]
    fn an_unknown_release_is_assumed_recent() {
        let f = Features::of("my-kernel");
        assert!(f.version.is_none());
        assert!(f.preserve_argv0_reaches_interpreter() && f.userns_instances());
        assert_eq!(f.accepted_flags(), "POCFTDL");
    }
}
