//! The store on the sources' filesystem (issue 14: no second copy of QEMU, and a first install
//! within 1.2× `cp -a`): interpreters are hard-linked and known by their inode, so a first
//! install reads only their headers, never their whole bytes.
#![allow(clippy::unwrap_used)] // Test helpers may unwrap, as the tests do.

use std::os::unix::fs::MetadataExt;

use binfmtd_tests::bin::binfmtd;
use binfmtd_tests::fixtures::qemu_static;

use crate::cli_env::Env;
use crate::regressions::have_strace;

/// What `verify` may read of one interpreter: its ELF and program headers (8 KiB), with room
/// for a second look.
const HEADER_BYTES: u64 = 16 << 10;

#[test]
fn a_linked_first_install_reads_only_headers() {
    let test = "store::linked_first_install";
    if !have_strace(test) {
        return;
    }
    let Some(env) = Env::new(test, "") else {
        return;
    };
    let src = env.sb.scratch().join("src");
    std::fs::create_dir(&src).unwrap();
    let targets = ["aarch64", "arm", "riscv64"];
    for t in targets {
        std::fs::copy(qemu_static(t), src.join(format!("qemu-{t}-static"))).unwrap();
    }
    let config = env.config_file(
        "linked.toml",
        &env.store,
        &format!("interpreter_dirs = [{:?}]\n", src.display().to_string()),
    );
    let trace = env.sb.scratch().join("install.strace");
    let out = env
        .sb
        .command("strace")
        .args(["-f", "-qq", "-y", "-e", "trace=read,pread64", "-o"])
        .arg(&trace)
        .arg(binfmtd())
        .arg("--mount")
        .arg(env.sb.mount())
        .arg("--config")
        .arg(&config)
        .args(["install", "-q", "aarch64", "arm", "riscv64"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");

    let mut total = 0;
    for t in targets {
        let source = src.join(format!("qemu-{t}-static"));
        let managed = env.store.join(format!("qemu-{t}"));
        let (s, m) = (
            std::fs::metadata(&source).unwrap(),
            std::fs::metadata(&managed).unwrap(),
        );
        assert_eq!((m.dev(), m.ino()), (s.dev(), s.ino()), "{t}: hard-linked");
        total += s.size();
    }
    let text = std::fs::read_to_string(&trace).unwrap();
    let read = bytes_read_from(&text, &src.display().to_string());
    assert!(
        read <= HEADER_BYTES * targets.len() as u64,
        "{read} bytes read from the sources (of {total}): more than their headers"
    );
    assert!(read > 0, "the headers are verified, and the trace shows it");
}

/// The bytes `read`/`pread64` returned on descriptors whose path (strace `-y`) is under `dir`.
fn bytes_read_from(trace: &str, dir: &str) -> u64 {
    trace
        .lines()
        .filter(|l| l.contains(" read(") || l.contains(" pread64("))
        .filter_map(|l| {
            let open = l.find('<')?;
            let close = open + l[open..].find('>')?;
            let path = &l[open + 1..close];
            let result = l.rsplit(" = ").next()?.split_whitespace().next()?;
            path.starts_with(dir)
                .then(|| result.parse::<u64>().ok())
                .flatten()
        })
        .sum()
}
