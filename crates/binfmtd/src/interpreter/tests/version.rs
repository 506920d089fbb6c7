//! `--version` parsing and the timeout.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::super::{parse_version, qemu_version, qemu_version_within};
use super::{QEMU, copy_with_mode, need};

#[test]
fn parses_qemu_banners() {
    let debian = "qemu-aarch64 version 7.2.17 (Debian 1:7.2+dfsg-7+deb12u18)\n\
                  Copyright (c) 2003-2022 Fabrice Bellard and the QEMU Project developers\n";
    assert_eq!(
        parse_version(debian).as_deref(),
        Some("7.2.17 (Debian 1:7.2+dfsg-7+deb12u18)")
    );
    assert_eq!(
        parse_version("qemu-riscv64 version 11.1.0\n").as_deref(),
        Some("11.1.0")
    );
    assert_eq!(parse_version(""), None);
    assert_eq!(parse_version("BusyBox v1.35.0 version 1\n"), None);
    assert_eq!(parse_version("qemu-arm version unknown\n"), None);
    assert_eq!(parse_version("Copyright\nqemu-arm version 7.2.0\n"), None);
}

#[test]
fn reads_the_real_version_matching_the_package() {
    let Some(qemu) = need(QEMU) else { return };
    let version = qemu_version(&qemu).unwrap();
    let dpkg = Command::new("dpkg-query")
        .args(["-W", "-f", "${Version}", "qemu-user-static"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8(o.stdout).unwrap());
    match dpkg {
        // "7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b2)" contains the package version.
        Some(pkg) => assert!(
            version.contains(&format!("(Debian {pkg})")),
            "{version} vs {pkg}"
        ),
        None => assert!(
            version.starts_with(|c: char| c.is_ascii_digit()),
            "{version}"
        ),
    }
}

#[test]
fn a_failing_or_silent_program_has_no_version() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    fs::write(&src, "#!/bin/sh\necho 'qemu-x version 1.0'\nexit 3\n").unwrap();
    let failing = copy_with_mode(&src, dir.path(), "failing", 0o755);
    assert_eq!(qemu_version(&failing), None);
    fs::write(&src, "#!/bin/sh\necho 'qemu-x version 1.0'\n").unwrap();
    let working = copy_with_mode(&src, dir.path(), "working", 0o755);
    assert_eq!(qemu_version(&working).as_deref(), Some("1.0"), "control");
    assert_eq!(qemu_version(Path::new("/nonexistent/qemu")), None);
}

#[test]
fn a_hanging_program_is_killed_after_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    fs::write(
        &src,
        "#!/bin/sh\necho 'qemu-x version 1.0'\nexec sleep 30\n",
    )
    .unwrap();
    let hang = copy_with_mode(&src, dir.path(), "hang", 0o755);
    let start = Instant::now();
    assert_eq!(qemu_version_within(&hang, Duration::from_millis(300)), None);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn versions_compare_by_their_numbers() {
    use std::cmp::Ordering::*;
    let c = |a, b| super::super::compare_versions(a, b);
    assert_eq!(
        c(
            Some("10.0.13"),
            Some("7.2.22 (Debian 1:7.2+dfsg-7+deb12u18)")
        ),
        Greater
    );
    assert_eq!(c(Some("7.2.22"), Some("7.2.3")), Greater);
    assert_eq!(c(Some("11.1.3 (Debian)"), Some("11.1.3")), Equal);
    assert_eq!(c(None, Some("1.0")), Less);
    assert_eq!(c(None, None), Equal);
    assert_eq!(
        super::super::major_minor("10.0.13 (Debian 1:10.0.13+ds-1)"),
        Some((10, 0))
    );
    assert_eq!(super::super::major_minor("x"), None);
}
