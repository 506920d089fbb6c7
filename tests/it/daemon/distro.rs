//! The daemon as the host's manager next to a distribution's QEMU package and systemd-binfmt:
//! the distribution's entries are adopted, its binfmt.d files masked (in the sandbox's private
//! sysroot, never the host's), a `systemctl restart systemd-binfmt` (flush, then register the
//! files) is healed at once without a fight, a QEMU package that adds a file is adopted and
//! masked, python's entry is never touched, and `binfmtd uninstall` gives the distribution its
//! files back.

use super::{Daemon, HEAL, wait_until};
use binfmt_misc::{Flags, Matcher, Rule};
use binfmtd_tests::sandbox::Sandbox;
use elf_magic::Target;
use std::path::Path;

/// A Debian-style line: `qemu-<t>`, `/usr/libexec/qemu-binfmt/<t>-binfmt-P`, flags `PO` (no `F`,
/// so the interpreter need not exist in the sandbox; the owner is decided by the path).
fn distro_line(target: Target) -> String {
    let row = target.primary_row();
    let rule = Rule {
        name: format!("qemu-{}", row.id),
        matcher: Matcher::Magic {
            offset: usize::from(row.offset),
            magic: row.magic.to_vec(),
            mask: Some(row.mask.to_vec()),
        },
        interpreter: format!("/usr/libexec/qemu-binfmt/{}-binfmt-P", row.id).into(),
        flags: Flags {
            preserve_argv0: true,
            open_binary: true,
            ..Flags::NONE
        },
    };
    String::from_utf8(binfmt_misc::encode(&rule).unwrap()).unwrap()
}

const PYTHON: &str = r":python3.11:M::\xa7\x0d\x0d\x0a::/usr/bin/python3.11:";

/// Installs a vendor file as a package would.
fn vendor_file(sysroot: &Path, name: &str, content: &str) {
    let dir = sysroot.join("usr/lib/binfmt.d");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), format!("# from a package\n{content}\n")).unwrap();
}

/// What `systemd-binfmt` does when it starts: `-1` to `status` (every entry goes), then each
/// binfmt.d file by name, `/etc` overriding `/usr/lib` (a link to /dev/null reads empty).
/// Returns the registrations that failed (as systemd-binfmt logs them).
fn systemd_binfmt(sb: &Sandbox) -> String {
    let (r, m) = (sb.sysroot(), sb.mount());
    let script = format!(
        r#"R={r}; M={m}
echo -1 > "$M/status"
names=$( (ls "$R/usr/lib/binfmt.d"; ls "$R/etc/binfmt.d") 2>/dev/null | grep '\.conf$' | sort -u)
for f in $names; do
  if [ -e "$R/etc/binfmt.d/$f" ]; then src="$R/etc/binfmt.d/$f"; else src="$R/usr/lib/binfmt.d/$f"; fi
  grep -v '^[#;]' "$src" | while IFS= read -r line; do
    [ -n "$line" ] && {{ printf '%s' "$line" > "$M/register" || echo "register failed: $line" >&2; }}
  done
done
true"#,
        r = r.display(),
        m = m.display()
    );
    let out = sb.sh(&script);
    assert!(
        out.status.success(),
        "systemd-binfmt: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn is_mask(path: &Path) -> bool {
    std::fs::read_link(path).is_ok_and(|t| t == Path::new("/dev/null"))
}

#[test]
fn daemon_adopts_the_distribution_masks_its_files_and_survives_systemd_binfmt() {
    let test = "daemon_adopts_the_distribution_masks_its_files_and_survives_systemd_binfmt";
    let boot = |sb: &Sandbox| {
        let root = sb.sysroot();
        vendor_file(&root, "qemu-aarch64.conf", &distro_line(Target::Aarch64));
        vendor_file(&root, "qemu-riscv64.conf", &distro_line(Target::Riscv64));
        vendor_file(&root, "python3.11.conf", PYTHON);
        std::fs::create_dir_all(root.join("etc/binfmt.d")).unwrap();
        // Boot: systemd-binfmt (Before=sysinit.target) runs before binfmtd's unit.
        systemd_binfmt(sb);
        let out = sb.sh(&format!("cat {}/qemu-aarch64", sb.mount().display()));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\n"),
            "the baseline is real: {text}"
        );
    };
    let Some(mut d) = Daemon::start_after(test, &[], &[], boot) else {
        return;
    };
    let ready = d.notification();
    assert!(
        ready.contains("READY=1\n"),
        "{ready:?}; log:\n{}",
        d.log_text()
    );
    assert!(
        ready.contains("STATUS=3 emulators registered: aarch64, arm, riscv64\n"),
        "the distribution's aarch64 and riscv64 are adopted: {ready:?}\n{}",
        d.log_text()
    );
    assert!(d.all_ours(), "{}", d.log_text());
    let python = d.entry("python3.11").expect("python's entry is untouched");
    assert!(
        python.contains("interpreter /usr/bin/python3.11\n"),
        "{python}"
    );

    let root = d.sb.sysroot();
    let etc = root.join("etc/binfmt.d");
    assert!(is_mask(&etc.join("qemu-aarch64.conf")), "aarch64 masked");
    assert!(is_mask(&etc.join("qemu-riscv64.conf")), "riscv64 masked");
    assert!(
        !etc.join("python3.11.conf").exists() && !etc.join("python3.11.conf").is_symlink(),
        "python's file is never masked"
    );
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.store().join("registrations.json")).unwrap())
            .unwrap();
    assert_eq!(
        record["masks"],
        serde_json::json!(["qemu-aarch64.conf", "qemu-riscv64.conf"])
    );

    // `systemctl restart systemd-binfmt`: everything flushed, only python registered again
    // (the QEMU files are masked); binfmtd's entries are back at once.
    let failed = systemd_binfmt(&d.sb);
    assert_eq!(
        failed, "",
        "the masked files register nothing that could collide"
    );
    let took = wait_until(
        HEAL,
        "heal systemd-binfmt's restart",
        || d.log_text(),
        || d.all_ours(),
    );
    eprintln!("systemd-binfmt restart healed in {took:?}");
    assert!(
        took < std::time::Duration::from_secs(1),
        "healed in {took:?}, not within a second"
    );
    assert!(
        d.entry("python3.11").is_some(),
        "python registered again by systemd-binfmt"
    );

    // A QEMU package upgrade as dpkg does it (`*.dpkg-new` beside each binary, renamed into
    // place), then its trigger restarts systemd-binfmt: healed within a second, and dpkg's
    // temporary names are no interpreter change.
    let src = d.sb.scratch().join("src");
    let s = src.display();
    d.sh(&format!(
        "for t in aarch64 arm riscv64; do cp {s}/qemu-$t-static {s}/qemu-$t-static.dpkg-new && \
         mv -f {s}/qemu-$t-static.dpkg-new {s}/qemu-$t-static; done"
    ));
    assert_eq!(systemd_binfmt(&d.sb), "");
    let took = wait_until(
        HEAL,
        "heal a flush during an upgrade",
        || d.log_text(),
        || d.all_ours(),
    );
    assert!(took < std::time::Duration::from_secs(1), "{took:?}");
    assert!(!d.log_text().contains(".dpkg-new"), "{}", d.log_text());

    // A QEMU package upgrade adds a file for arm, then its trigger restarts systemd-binfmt,
    // which registers the distribution's qemu-arm: adopted and masked.
    vendor_file(&root, "qemu-arm.conf", &distro_line(Target::Arm));
    systemd_binfmt(&d.sb);
    wait_until(
        HEAL,
        "adopt a new distribution file",
        || d.log_text(),
        || d.all_ours() && is_mask(&etc.join("qemu-arm.conf")),
    );
    // And the restart after that is a plain flush again.
    assert_eq!(systemd_binfmt(&d.sb), "");
    wait_until(
        HEAL,
        "heal the next restart",
        || d.log_text(),
        || d.all_ours(),
    );
    let log = d.log_text();
    assert!(
        !log.contains("another tool keeps changing"),
        "no fight:\n{log}"
    );
    assert!(!log.contains("ERROR"), "no error:\n{log}");

    // Uninstall (the package's prerm): the daemon stops, binfmtd's entries and masks go, the
    // distribution's files are back and the next systemd-binfmt start registers them.
    d.signal("-TERM");
    assert!(d.wait_exit().success(), "{}", d.log_text());
    let out =
        d.sb.command(binfmtd_tests::bin::binfmtd())
            .args(["uninstall", "--mount"])
            .arg(d.sb.mount())
            .arg("--config")
            .arg(&d.config)
            .output()
            .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in ["qemu-aarch64.conf", "qemu-riscv64.conf", "qemu-arm.conf"] {
        assert!(!etc.join(f).is_symlink(), "{f}: binfmtd's mask removed");
    }
    systemd_binfmt(&d.sb);
    let m = d.sb.mount().display().to_string();
    let out =
        d.sb.sh(&format!("cat {m}/qemu-aarch64 {m}/qemu-arm {m}/python3.11"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\n")
            && text.contains("interpreter /usr/libexec/qemu-binfmt/arm-binfmt-P\n")
            && text.contains("interpreter /usr/bin/python3.11\n"),
        "the distribution's entries are back: {text}"
    );
}

#[test]
fn an_administrators_own_file_and_mask_are_never_touched() {
    let test = "an_administrators_own_file_and_mask_are_never_touched";
    let boot = |sb: &Sandbox| {
        let root = sb.sysroot();
        vendor_file(&root, "qemu-aarch64.conf", &distro_line(Target::Aarch64));
        vendor_file(&root, "qemu-arm.conf", &distro_line(Target::Arm));
        let etc = root.join("etc/binfmt.d");
        std::fs::create_dir_all(&etc).unwrap();
        // The administrator's own override and own mask.
        std::fs::write(etc.join("qemu-aarch64.conf"), distro_line(Target::Aarch64)).unwrap();
        std::os::unix::fs::symlink("/dev/null", etc.join("qemu-arm.conf")).unwrap();
    };
    let Some(mut d) = Daemon::start_after(test, &[], &[], boot) else {
        return;
    };
    assert!(d.notification().contains("READY=1\n"), "{}", d.log_text());
    let etc = d.sb.sysroot().join("etc/binfmt.d");
    assert!(
        !etc.join("qemu-aarch64.conf").is_symlink(),
        "the admin's file stays a file"
    );
    assert!(is_mask(&etc.join("qemu-arm.conf")));
    d.signal("-TERM");
    assert!(d.wait_exit().success());
    let out =
        d.sb.command(binfmtd_tests::bin::binfmtd())
            .args(["uninstall", "--mount"])
            .arg(d.sb.mount())
            .arg("--config")
            .arg(&d.config)
            .output()
            .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        is_mask(&etc.join("qemu-arm.conf")),
        "a mask binfmtd did not make is not removed"
    );
    assert!(etc.join("qemu-aarch64.conf").is_file());
}
