//! tonistiigi/binfmt's interface as docker/setup-qemu-action drives it (issue 13), against a
//! private binfmt_misc: best effort per target, the exit status and the `error:` last line,
//! `supported` from executing probes, unknown platforms, the QEMU_* variables, `--version`.
//! (The same, from a registry-served image in a sandboxed dockerd, is `tests/image/`.)

#![allow(clippy::unwrap_used)] // Tests may unwrap.

use crate::cli_env::{Env, Run, foreign_aarch64_line};

/// `binfmtd ARGS…` with extra environment variables.
fn run_env(env: &Env, args: &[&str], vars: &[(&str, &str)]) -> Run {
    let mut cmd = env.command_with(&env.config, args);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Registers, as another tool would, an entry `qemu-riscv64` for the riscv64 row whose
/// interpreter is a copy of `qemu` in the scratch directory.
fn other_tools_riscv64(env: &Env, qemu: &str) {
    let path = env.sb.scratch().join("other-tool/qemu-riscv64");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::copy(binfmtd_tests::fixtures::qemu_static(qemu), &path).unwrap();
    let row = elf_magic::Target::Riscv64.primary_row();
    let hex = |b: &[u8]| b.iter().map(|x| format!("\\x{x:02x}")).collect::<String>();
    let line = format!(
        ":qemu-riscv64:M::{}:{}:{}:F",
        hex(row.magic),
        hex(row.mask),
        path.display()
    );
    env.register_by_hand(&line);
}

fn last_line(run: &Run) -> &str {
    run.stderr.lines().last().unwrap_or_default()
}

#[test]
fn best_effort_install_with_another_tools_entry_exits_0_when_everything_executes() {
    let Some(env) = Env::new("compat::best_effort", "") else {
        return;
    };
    // Another tool serves riscv64 under binfmtd's name (not a distribution path).
    other_tools_riscv64(&env, "riscv64");

    let out = env.run(&["--install", "arm64,riscv64,linux/bogus9"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stderr
            .contains("unsupported architecture: linux/bogus9"),
        "{out:?}"
    );
    let json = out.json();
    let supported: Vec<&str> = json["supported"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        supported.contains(&"linux/arm64") && supported.contains(&"linux/riscv64"),
        "{supported:?}"
    );
    let texts = env.entry_texts();
    assert!(
        texts["qemu-aarch64"].contains(env.store.to_str().unwrap()),
        "arm64 registered"
    );
    assert!(
        texts["qemu-riscv64"].contains("other-tool"),
        "the other tool's entry is untouched"
    );
}

#[test]
fn a_target_that_does_not_execute_fails_with_an_error_last_line() {
    let Some(env) = Env::new("compat::broken", "") else {
        return;
    };
    // Another tool's riscv64 entry whose interpreter is aarch64's QEMU: it cannot run riscv64.
    other_tools_riscv64(&env, "aarch64");
    let out = env.run(&["--install", "riscv64"]);
    assert_eq!(out.code, 1, "{out:?}");
    let last = last_line(&out);
    assert!(
        last.starts_with("error:") && last.contains("riscv64"),
        "{last:?}"
    );
    let supported = out.json()["supported"].to_string();
    assert!(
        !supported.contains("linux/riscv64"),
        "a broken entry is not supported: {supported}"
    );
}

#[test]
fn the_qemu_variables_and_version() {
    let Some(env) = Env::new("compat::qemu_env", "") else {
        return;
    };
    let dir = env.sb.scratch().join("opt-qemu");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        binfmtd_tests::fixtures::qemu_static("aarch64"),
        dir.join("other-qemu-aarch64"),
    )
    .unwrap();
    let vars = [
        ("QEMU_BINARY_PATH", dir.to_str().unwrap()),
        ("QEMU_BINARY_PREFIX", "other-"),
        ("QEMU_PRESERVE_ARGV0", "1"),
    ];
    let out = run_env(&env, &["--install", "arm64"], &vars);
    assert_eq!(out.code, 0, "{out:?}");
    let texts = env.entry_texts();
    let entry = texts
        .get("other-qemu-aarch64")
        .unwrap_or_else(|| panic!("{texts:?}"));
    assert!(
        entry.contains(&format!(
            "interpreter {}",
            dir.join("other-qemu-aarch64").display()
        )),
        "{entry}"
    );
    assert!(entry.contains("flags: PF"), "{entry}");

    let out = run_env(&env, &["--version"], &vars[..1]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.starts_with("binfmtd ") && out.stdout.contains(" qemu/7."),
        "{out:?}"
    );
}

#[test]
fn an_uninstall_of_everything_with_the_glob_spares_nothing_else_and_wsl() {
    let Some(env) = Env::new("compat::uninstall", "") else {
        return;
    };
    env.register_by_hand(&foreign_aarch64_line("WSLInterop", &env.other_tool_qemu()));
    assert_eq!(env.run(&["install", "riscv64"]).code, 0);
    let out = env.run(&["--uninstall", "qemu-*"]);
    assert_eq!(out.code, 0, "{out:?}");
    let names: Vec<String> = env.entry_texts().into_keys().collect();
    assert_eq!(names, ["WSLInterop"]);
}

/// `status --json`: the kernel's features, and per target whether its probe executes.
#[test]
fn status_reports_the_kernel_and_what_executes() {
    let Some(env) = Env::new("compat::status", "") else {
        return;
    };
    assert_eq!(env.run(&["install", "aarch64"]).code, 0);
    let out = env.run(&["status", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    let json = out.json();
    let kernel = &json["kernel"];
    assert_eq!(kernel["flags"], "POCF", "{kernel}");
    assert_eq!(kernel["preserve_argv0"], true);
    assert_eq!(kernel["userns_instances"], true);
    assert!(kernel["max_interpreters"].is_null(), "{kernel}");
    let target = |name: &str| {
        json["targets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["target"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(target("aarch64")["executes"], true);
    assert_eq!(target("aarch64")["state"], "emulated");
    assert_eq!(target("riscv64")["executes"], false);
    assert!(
        target("riscv64")["reason"]
            .as_str()
            .unwrap_or("")
            .contains("riscv64")
    );
    assert_eq!(
        target(binfmtd_tests::fixtures::HOST_NATIVE[0])["state"],
        "native"
    );
    let text = env.run(&["status"]);
    assert!(
        text.stdout
            .lines()
            .any(|l| l.starts_with("kernel ") && l.contains("POCF")),
        "{text:?}"
    );
    // The instance disabled: nothing executes, and status says so.
    env.sh_ok(&format!("echo 0 > {}/status", env.sb.mount().display()));
    let json = env.run(&["status", "--json"]).json();
    assert_eq!(json["enabled"], false);
    let aarch64 = json["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["target"] == "aarch64")
        .cloned()
        .unwrap();
    assert_eq!(aarch64["executes"], false, "{aarch64}");
}
