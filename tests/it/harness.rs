//! Self-tests of the harness: a sandbox really is a private binfmt_misc instance.

use binfmtd_tests::sandbox::{self, Sandbox};
use std::path::Path;

binfmtd_tests::sandbox_test! {
    fn sandbox_test_body_sees_a_fresh_instance(mnt: &Path) {
        assert!(sandbox::inside());
        assert!(mnt.join("register").exists());
        let entries: Vec<_> = std::fs::read_dir(mnt)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n != "register" && n != "status")
            .collect();
        assert!(entries.is_empty(), "a fresh instance has no entries: {entries:?}");
    }
}

#[test]
fn sandbox_registrations_stay_private_and_vanish_with_it() {
    let Some(sb) = Sandbox::new("sandbox_registrations_stay_private_and_vanish_with_it") else {
        return;
    };
    let m = sb.mount().display().to_string();
    let out = sb.sh(&format!(
        "printf '%s' ':harness-probe:E::harnessprobe::/bin/true:' > {m}/register && cat {m}/harness-probe"
    ));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("extension .harnessprobe"));
    // The host never sees it (it has no binfmt_misc mounted on these machines; if it has, it must
    // not hold our entry).
    assert!(!Path::new("/proc/sys/fs/binfmt_misc/harness-probe").exists());
    // A second sandbox is isolated from the first.
    let other = Sandbox::new("second").unwrap();
    let out = other.sh(&format!(
        "test -e {}/harness-probe",
        other.mount().display()
    ));
    assert!(
        !out.status.success(),
        "sibling sandboxes must not share entries"
    );
}

#[test]
fn qemu_builds_of_bookworm_and_trixie_are_two_real_versions() {
    use binfmtd_tests::fixtures::qemu_build;
    let (old, new) = (qemu_build("bookworm"), qemu_build("trixie"));
    let (old_version, new_version) = (old.version(), new.version());
    assert!(old_version.starts_with("7.2."), "bookworm: {old_version}");
    assert!(new_version.starts_with("10.0."), "trixie: {new_version}");
    let (a, b) = (old.interpreter("aarch64"), new.interpreter("aarch64"));
    assert_ne!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert!(a.ends_with("qemu-aarch64-static") && b.ends_with("qemu-aarch64"));
}
