//! Every error class gives `<file>:<line>:<col>: <what>; <fix>` on one line.

use std::fs;

use super::{error_of, write};
use crate::config::{ConfigError, ConfigSource, load};

#[track_caller]
fn assert_error(text: &str, want: &str) {
    assert_eq!(error_of(text), want, "config:\n{text}");
}

#[track_caller]
fn assert_error_starts(text: &str, want: &str) {
    let got = error_of(text);
    assert!(
        got.starts_with(want),
        "got: {got}\nwant prefix: {want}\nconfig:\n{text}"
    );
}

#[test]
fn syntax_errors_are_positioned() {
    assert_error_starts(
        "targets = [\"all\"]\nflags = \n",
        "c.toml:2:9: invalid TOML: ",
    );
    assert_error_starts("[daemon\n", "c.toml:1:");
    assert_error(
        "flags = \"F\"\nflags = \"P\"\n",
        "c.toml:2:1: duplicate key `flags`; keep only one of them",
    );
}

#[test]
fn unknown_keys_list_the_valid_ones_and_suggest_the_closest() {
    assert_error(
        "flags = \"F\"\n  flgas = \"F\"\n",
        "c.toml:2:3: unknown key `flgas`; did you mean `flags`? valid keys: targets, flags, \
         interpreter_dirs, install_dir, entry_prefix, others, distribution, target, entry, daemon",
    );
    assert_error(
        "[target.arm64]\ninterpeter = \"/x\"\n",
        "c.toml:2:1: unknown key `interpeter`; did you mean `interpreter`? valid keys: flags, \
         interpreter, others",
    );
    assert_error(
        "[[entry]]\nname = \"x\"\nmagik = \"00\"\ninterpreter = \"/x\"\n",
        "c.toml:3:1: unknown key `magik`; did you mean `magic`? valid keys: name, magic, mask, \
         offset, extension, interpreter, flags",
    );
    assert_error(
        "[daemon]\nremove_on_exit = true\n",
        "c.toml:2:1: unknown key `remove_on_exit`; did you mean `remove_on_stop`? valid keys: \
         remove_on_stop",
    );
    assert_error_starts(
        "[deamon]\n",
        "c.toml:1:2: unknown key `deamon`; did you mean `daemon`?",
    );
}

#[test]
fn wrong_types_name_the_key_and_the_expected_type() {
    assert_error(
        "flags = 3\n",
        "c.toml:1:9: wrong type for `flags`: found integer `3`; expected a string",
    );
    assert_error(
        "install_dir = [\"/a\"]\n",
        "c.toml:1:15: wrong type for `install_dir`: found an array; expected a string",
    );
    assert_error(
        "[daemon]\nremove_on_stop = \"yes\"\n",
        "c.toml:2:18: wrong type for `remove_on_stop`: found string \"yes\"; expected a boolean",
    );
    assert_error(
        "targets = 3\n",
        "c.toml:1:11: wrong type for `targets`: found integer `3`; expected \"all\" or a list of target names",
    );
    assert_error(
        "[[entry]]\nname = \"x\"\nmagic = \"00\"\noffset = -1\ninterpreter = \"/x\"\n",
        "c.toml:4:10: invalid value for `offset`: found integer `-1`; expected a non-negative integer",
    );
    assert_error(
        "interpreter_dirs = \"/opt\"\n",
        "c.toml:1:20: wrong type for `interpreter_dirs`: found string \"/opt\"; expected an array",
    );
    assert_error(
        "[target]\narm64 = \"F\"\n",
        "c.toml:2:9: wrong type for `arm64`: found string \"F\"; expected a table",
    );
    assert_error(
        "target = 3\n",
        "c.toml:1:10: wrong type for `target`: found integer `3`; expected a table",
    );
    assert_error(
        "others = \"keep\"\n",
        "c.toml:1:10: unknown value `keep` for `others`; valid values: leave, replace",
    );
    assert_error(
        "[[entry]]\nname = \"x\"\nmagic = \"00\"\n",
        "c.toml:1:1: missing key `interpreter`; add `interpreter = ...` to this table",
    );
}

#[test]
fn unknown_target_names_give_suggestions() {
    let got = error_of("targets = [\"arm64\",\n  \"armv9\"]\n");
    assert!(
        got.starts_with("c.toml:2:3: unknown target `armv9`"),
        "{got}"
    );
    assert!(got.contains("did you mean"), "{got}");
    let got = error_of("[target.aarch46]\nflags = \"F\"\n");
    assert!(
        got.starts_with("c.toml:1:9: unknown target `aarch46`"),
        "{got}"
    );
    assert!(got.contains("aarch64"), "{got}");
    assert_error(
        "targets = [\"all\", \"arm64\"]\n",
        "c.toml:1:12: `all` cannot be combined with other targets; use either [\"all\"] or a list of names",
    );
}

#[test]
fn two_keys_naming_one_target_are_rejected() {
    assert_error(
        "[target.arm64]\nflags = \"F\"\n\n[target.\"linux/arm64\"]\nflags = \"P\"\n",
        "c.toml:4:9: [target.\"linux/arm64\"] names target aarch64 again (already \
         [target.\"arm64\"] at line 1); merge the two tables",
    );
}

#[test]
fn bad_flags_list_the_valid_letters() {
    let fix = "valid flags are P, O, C and F, and T, D, L on Linux >= 7.3 (e.g. \"PF\")";
    assert_error(
        "flags = \"PX\"\n",
        &format!("c.toml:1:9: unknown flag 'X' in flags \"PX\"; {fix}"),
    );
    assert_error(
        "[target.riscv64]\nflags = \"F \"\n",
        &format!("c.toml:2:9: unknown flag ' ' in flags \"F \"; {fix}"),
    );
    assert_error(
        "[[entry]]\nname = \"x\"\nextension = \"x\"\ninterpreter = \"/x\"\nflags = \"Q\"\n",
        &format!("c.toml:5:9: unknown flag 'Q' in flags \"Q\"; {fix}"),
    );
}

/// An `[[entry]]` with the given extra lines.
fn entry(lines: &str) -> String {
    format!("[[entry]]\nname = \"box\"\ninterpreter = \"/usr/bin/box\"\n{lines}")
}

#[test]
fn entry_hex_and_matcher_errors_point_at_the_key() {
    assert_error(
        &entry("magic = \"7f4g\"\n"),
        "c.toml:4:9: entry `box`: bad hex in `magic`: `g` (character 4) is not a hex digit; \
         write bytes as hex pairs like \"7f454c46\"",
    );
    assert_error_starts(
        &entry("magic = \"7f\"\nmask = \"fff\"\n"),
        "c.toml:5:8: entry `box`: bad hex in `mask`: odd number of hex digits (3);",
    );
    assert_error(
        &entry("magic = \"7f454c46\"\nmask = \"ffffff\"\n"),
        "c.toml:5:8: entry `box`: `mask` has 3 bytes but `magic` has 4; give exactly one mask byte per magic byte",
    );
    assert_error(
        &entry("magic = \"7f\"\nextension = \"x\"\n"),
        "c.toml:5:13: entry `box`: `magic` and `extension` exclude each other; keep one of them",
    );
    assert_error(
        &entry(""),
        "c.toml:2:8: entry `box`: no `magic` and no `extension`; give one of them",
    );
    assert_error(
        &entry("extension = \"x\"\noffset = 3\n"),
        "c.toml:5:10: entry `box`: `offset` only applies to `magic`, not `extension`; remove it",
    );
}

#[test]
fn entries_the_kernel_would_reject_are_rejected_at_the_key() {
    let got = error_of(&entry("magic = \"0011223344556677\"\noffset = 250\n"));
    assert!(
        got.starts_with(
            "c.toml:5:10: entry `box`: binfmt_misc rule \"box\" looks at bytes 250..258"
        ),
        "{got}"
    );
    let got = error_of("[[entry]]\nname = \"status\"\nextension = \"x\"\ninterpreter = \"/x\"\n");
    assert!(
        got.starts_with("c.toml:2:8: entry `status`: binfmt_misc rule name \"status\""),
        "{got}"
    );
    let got = error_of("[[entry]]\nname = \"x\"\nextension = \"x\"\ninterpreter = \"bin/x\"\n");
    assert!(
        got.starts_with(
            "c.toml:4:15: entry `x`: binfmt_misc rule \"x\" has a relative interpreter"
        ),
        "{got}"
    );
    let got = error_of(&entry("magic = \"\"\n"));
    assert!(
        got.starts_with("c.toml:4:9: entry `box`: binfmt_misc rule \"box\" has an empty magic"),
        "{got}"
    );
    let got = error_of(&entry("extension = \"tar.gz\"\n"));
    assert!(
        got.starts_with("c.toml:4:13: entry `box`: binfmt_misc rule \"box\" has extension"),
        "{got}"
    );
}

#[test]
fn entry_names_must_be_unique_and_not_ours() {
    let two = format!(
        "{}\n{}",
        entry("extension = \"a\"\n"),
        entry("extension = \"b\"\n")
    );
    assert_error(
        &two,
        "c.toml:7:8: entry `box` is defined twice in this file (first at line 2); remove one",
    );
    assert_error(
        "[[entry]]\nname = \"qemu-aarch64\"\nextension = \"a\"\ninterpreter = \"/x\"\n",
        "c.toml:2:8: entry `qemu-aarch64` has the name of binfmtd's own entry for target aarch64; rename it",
    );
    // With another prefix, the same name is free.
    assert!(error_of_ok(
        "entry_prefix = \"emu-\"\n[[entry]]\nname = \"qemu-aarch64\"\nextension = \"a\"\ninterpreter = \"/x\"\n"
    ));
}

fn error_of_ok(text: &str) -> bool {
    super::load_text(text).is_ok()
}

#[test]
fn entry_prefix_is_checked() {
    assert_error(
        "entry_prefix = \"\"\n",
        "c.toml:1:16: entry_prefix \"\" is empty; give a prefix such as \"qemu-\"",
    );
    let fix = "entry names need printable ASCII without spaces or '/', e.g. \"qemu-\"";
    assert_error(
        "entry_prefix = \"a/b\"\n",
        &format!("c.toml:1:16: entry_prefix \"a/b\" contains '/'; {fix}"),
    );
    assert_error(
        "entry_prefix = \"q emu\"\n",
        &format!("c.toml:1:16: entry_prefix \"q emu\" contains ' '; {fix}"),
    );
    assert_error(
        "entry_prefix = \"é\"\n",
        &format!("c.toml:1:16: entry_prefix \"é\" contains 'é'; {fix}"),
    );
    let long = "x".repeat(65);
    assert_error(
        &format!("entry_prefix = \"{long}\"\n"),
        &format!("c.toml:1:16: entry_prefix \"{long}\" is 65 bytes long; use at most 64"),
    );
    assert!(error_of_ok(&format!(
        "entry_prefix = \"{}\"\n",
        "x".repeat(64)
    )));
}

#[test]
fn paths_must_be_absolute() {
    let fix = "is not absolute; give a path starting with /";
    assert_error(
        "install_dir = \"var/lib\"\n",
        &format!("c.toml:1:15: path \"var/lib\" {fix}"),
    );
    assert_error(
        "interpreter_dirs = [\"/ok\", \"\"]\n",
        &format!("c.toml:1:28: path \"\" {fix}"),
    );
    assert_error(
        "[target.arm]\ninterpreter = \"qemu-arm\"\n",
        &format!("c.toml:2:15: path \"qemu-arm\" {fix}"),
    );
    assert_error(
        "install_dir = \"/a\\nb\"\n",
        "c.toml:1:15: path \"/a\\nb\" contains a control character; rename the file or use a symlink",
    );
}

#[test]
fn unreadable_files_name_the_path_and_the_os_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.toml");
    let err = load(&ConfigSource::File(missing.clone())).unwrap_err();
    assert!(
        matches!(&err, ConfigError::Read { path, .. } if *path == missing),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "{}: cannot read configuration: No such file or directory (os error 2); check the path and its permissions",
            missing.display()
        )
    );
    let err = load(&ConfigSource::File(dir.path().to_path_buf()))
        .unwrap_err()
        .to_string();
    assert!(
        err.ends_with(": not a regular file (a directory); point --config at a TOML file"),
        "{err}"
    );
    // Not UTF-8: the line and column, and no advice about permissions (issue 14).
    let bad = dir.path().join("latin1.toml");
    fs::write(&bad, b"targets = \"all\"\nflags = \"\xe9\"\n").unwrap();
    let err = load(&ConfigSource::File(bad)).unwrap_err().to_string();
    assert!(
        err.ends_with("latin1.toml:2:10: line 2 is not valid UTF-8; save the file as UTF-8"),
        "{err}"
    );
    // A drop-in "directory" that is a file cannot be listed.
    write(dir.path(), "sys/binfmtd.d", "");
    let err = load(&ConfigSource::System {
        dir: dir.path().join("sys"),
    })
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("sys/binfmtd.d: cannot read configuration: Not a directory"),
        "{err}"
    );
}

#[test]
fn a_bad_drop_in_is_reported_in_that_file_and_a_fix_loads_again() {
    let dir = tempfile::tempdir().unwrap();
    let sys = ConfigSource::System {
        dir: dir.path().to_path_buf(),
    };
    write(dir.path(), "binfmtd.toml", "flags = \"F\"\n");
    let drop_in = write(
        dir.path(),
        "binfmtd.d/50-bad.toml",
        "# comment\nothers = \"replace\"\nflags = \"PZ\"\n",
    );
    let err = load(&sys).unwrap_err();
    assert_eq!(err.location(), Some((drop_in.as_path(), 3, 9)), "{err}");
    fs::write(&drop_in, "flags = \"PF\"\n").unwrap();
    assert_eq!(load(&sys).unwrap().flags.to_string(), "PF");
}
