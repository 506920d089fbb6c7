//! Advice that does not change what binfmtd does, but what users feel: the QEMU build that runs
//! their foreign programs.
//!
//! arm64 programs built with pointer authentication (Debian 13's, and most current distributions')
//! run up to 6.9× slower under QEMU before 10.0, which emulated it with the architected QARMA5
//! algorithm; QEMU 10.0 made a cheap implementation-defined algorithm the default. Measured by
//! `cargo xtask bench emulated` (README, "Emulated work"). Other targets do not care.

use crate::interpreter::major_minor;

/// The first QEMU version with the cheap pointer-authentication default.
const FAST_AARCH64: (u64, u64) = (10, 0);

/// One warning line when the aarch64 interpreter's QEMU `version` is older than 10.0, naming the
/// measured cost and the fixes; `None` for 10.0 and later or an unknown version.
pub fn slow_aarch64(version: &str) -> Option<String> {
    let found = major_minor(version)?;
    (found < FAST_AARCH64).then(|| {
        format!(
            "the aarch64 interpreter is QEMU {}, older than 10.0: arm64 programs that use pointer \
             authentication (Debian 13's, most current distributions') run up to 6.9x slower \
             than under QEMU 10.0 or later (measured by `cargo xtask bench emulated`); install a \
             newer QEMU (Debian 12: qemu-user from bookworm-backports), run binfmtd's image \
             with `install --persist`, or set [target.aarch64] interpreter to a QEMU >= 10.0",
            version.split_whitespace().next().unwrap_or(version)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_before_10_0() {
        let w = slow_aarch64("7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)").unwrap_or_default();
        assert!(
            w.contains("QEMU 7.2.22,") && w.contains("6.9x") && w.contains("bookworm-backports"),
            "{w}"
        );
        assert!(
            w.contains("install --persist") && w.contains("[target.aarch64]"),
            "{w}"
        );
        assert!(slow_aarch64("9.2.0").is_some());
        assert!(slow_aarch64("10.0.13 (Debian 1:10.0.13+ds-0+deb13u1)").is_none());
        assert!(slow_aarch64("11.1.3").is_none());
        assert!(slow_aarch64("unknown").is_none());
    }
}
