//! Loading that succeeds: the embedded default, layer precedence, aliases, extra entries, warnings.

use std::collections::BTreeMap;
use std::path::PathBuf;

use binfmt_misc::{Flags, Matcher, Rule};
use elf_magic::Target;

use super::{load_text, write};
use crate::config::{
    ConfigSource, DaemonSettings, Others, Settings, TargetOverride, Targets, default_toml, load,
};

fn flags(s: &str) -> Flags {
    s.parse().unwrap()
}

#[test]
fn embedded_default_alone_gives_the_documented_values() {
    let s = load(&ConfigSource::Default).unwrap();
    assert_eq!(s.targets, Targets::All);
    assert_eq!(s.flags, flags("PF"));
    assert!(!s.flags.credentials);
    assert_eq!(s.overrides, BTreeMap::new());
    assert!(s.interpreter_dirs.is_empty());
    assert_eq!(
        s.install_dir,
        PathBuf::from("/var/lib/binfmtd/interpreters")
    );
    assert_eq!(s.entry_prefix, "qemu-");
    assert_eq!(s.others, Others::Leave);
    assert!(s.entries.is_empty());
    assert_eq!(
        s.daemon,
        DaemonSettings {
            remove_on_stop: false
        }
    );
    assert!(s.sources.is_empty());
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    assert_eq!(s.flags_for(Target::Aarch64), flags("PF"));
    assert_eq!(s.others_for(Target::Riscv64), Others::Leave);
    assert_eq!(s.interpreter_override(Target::Arm), None);
    assert_eq!(s.entry_prefix, "qemu-");
}

#[test]
fn default_toml_as_a_file_equals_the_embedded_default() {
    let from_file = load_text(default_toml()).unwrap();
    let embedded = load(&ConfigSource::Default).unwrap();
    assert_eq!(from_file.sources.len(), 1);
    assert_eq!(
        Settings {
            sources: vec![],
            ..from_file
        },
        embedded
    );
}

#[test]
fn default_toml_commented_examples_are_valid_when_uncommented() {
    let key = |l: &str| {
        let word: String = l
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
            .collect();
        !word.is_empty() && l[word.len()..].trim_start().starts_with('=')
    };
    let text: String = default_toml()
        .lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(rest) if rest.starts_with('[') || key(rest) => rest,
            _ => l,
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let s = load_text(&text).unwrap();
    assert_eq!(
        s.overrides.keys().copied().collect::<Vec<_>>(),
        [Target::Aarch64]
    );
    assert_eq!(s.others_for(Target::Aarch64), Others::Replace);
    let names: Vec<&str> = s.entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["box64", "wine"]);
}

#[test]
fn main_file_then_drop_ins_in_name_order_key_by_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let main = write(
        d,
        "binfmtd.toml",
        concat!(
            "flags = \"F\"\nothers = \"replace\"\ninstall_dir = \"/srv/a\"\n",
            "interpreter_dirs = [\"/opt/a\"]\n",
            "[target.arm64]\nflags = \"P\"\nothers = \"leave\"\n",
            "[[entry]]\nname = \"box64\"\nmagic = \"7f454c46\"\ninterpreter = \"/usr/bin/box64\"\n",
            "[[entry]]\nname = \"wine\"\nextension = \"exe\"\ninterpreter = \"/usr/bin/wine\"\n",
        ),
    );
    // Written first, sorted last: file name order decides, not creation order.
    let late = write(
        d,
        "binfmtd.d/20-late.toml",
        concat!(
            "flags = \"OF\"\n",
            "[target.aarch64]\ninterpreter = \"/opt/q/qemu-aarch64\"\n",
            "[[entry]]\nname = \"box64\"\nextension = \"x64\"\ninterpreter = \"/opt/box64\"\n",
            "[daemon]\nremove_on_stop = true\n",
        ),
    );
    let early = write(
        d,
        "binfmtd.d/10-early.toml",
        concat!(
            "flags = \"P\"\ninstall_dir = \"/srv/b\"\nentry_prefix = \"emu-\"\n",
            "targets = [\"arm64\"]\n",
            "[[entry]]\nname = \"fex\"\nmagic = \"7f454c46\"\ninterpreter = \"/usr/bin/FEXInterpreter\"\n",
        ),
    );
    write(d, "binfmtd.d/README", "not toml = = =");
    write(d, "binfmtd.d/.editor-swap.toml", "not toml = = =");
    write(d, "binfmtd.d/99-disabled.toml.bak", "not toml = = =");

    let s = load(&ConfigSource::System {
        dir: d.to_path_buf(),
    })
    .unwrap();
    assert_eq!(s.sources, [main, early, late]);
    assert_eq!(s.flags, flags("OF"));
    assert_eq!(s.install_dir, PathBuf::from("/srv/b"));
    assert_eq!(s.interpreter_dirs, [PathBuf::from("/opt/a")]);
    assert_eq!(s.entry_prefix, "emu-");
    assert_eq!(s.targets, Targets::List(vec![Target::Aarch64]));
    assert_eq!(s.others, Others::Replace);
    assert!(s.daemon.remove_on_stop);
    let want = TargetOverride {
        flags: Some(flags("P")),
        interpreter: Some(PathBuf::from("/opt/q/qemu-aarch64")),
        others: Some(Others::Leave),
    };
    assert_eq!(s.overrides, BTreeMap::from([(Target::Aarch64, want)]));
    assert_eq!(s.flags_for(Target::Aarch64), flags("P"));
    assert_eq!(s.flags_for(Target::Riscv64), flags("OF"));
    assert_eq!(s.others_for(Target::Aarch64), Others::Leave);
    assert_eq!(s.others_for(Target::Arm), Others::Replace);
    assert_eq!(
        s.interpreter_override(Target::Aarch64),
        Some("/opt/q/qemu-aarch64".as_ref())
    );
    // box64 replaced in place by the later file, fex appended.
    let entries: Vec<(&str, &Matcher, &str)> = s
        .entries
        .iter()
        .map(|r| (r.name.as_str(), &r.matcher, r.interpreter.to_str().unwrap()))
        .collect();
    let ext = |e: &str| Matcher::Extension(e.to_string());
    let fex = Matcher::Magic {
        offset: 0,
        magic: b"\x7fELF".to_vec(),
        mask: None,
    };
    assert_eq!(
        entries,
        [
            ("box64", &ext("x64"), "/opt/box64"),
            ("wine", &ext("exe"), "/usr/bin/wine"),
            ("fex", &fex, "/usr/bin/FEXInterpreter"),
        ]
    );
}

#[test]
fn system_dir_files_are_all_optional() {
    let dir = tempfile::tempdir().unwrap();
    let missing = load(&ConfigSource::System {
        dir: dir.path().join("nope"),
    })
    .unwrap();
    assert_eq!(missing, load(&ConfigSource::Default).unwrap());
    let only = write(dir.path(), "binfmtd.d/50-x.toml", "entry_prefix = \"x-\"\n");
    let s = load(&ConfigSource::System {
        dir: dir.path().to_path_buf(),
    })
    .unwrap();
    assert_eq!((s.sources, s.entry_prefix.as_str()), (vec![only], "x-"));
}

#[test]
fn targets_accept_every_kind_of_alias_and_deduplicate() {
    let text = concat!(
        "targets = [\"linux/arm/v7\", \"arm64\", \"ppc64el\", \"qemu-riscv64\", \"armv7l\", ",
        "\"LINUX/ARM64\", \"i686\"]\n",
        "[target.\"linux/arm64\"]\nflags = \"F\"\n[target.armhf]\nothers = \"replace\"\n",
        "[target.loong64]\ninterpreter = \"/opt/qemu-loongarch64\"\n",
    );
    let s = load_text(text).unwrap();
    let want = [
        Target::Arm,
        Target::Aarch64,
        Target::Ppc64le,
        Target::Riscv64,
        Target::I386,
    ];
    assert_eq!(s.targets, Targets::List(want.to_vec()));
    assert!(s.targets.includes(Target::Ppc64le) && !s.targets.includes(Target::S390x));
    assert_eq!(s.flags_for(Target::Aarch64), flags("F"));
    assert_eq!(s.others_for(Target::Arm), Others::Replace);
    assert_eq!(
        s.interpreter_override(Target::Loongarch64),
        Some("/opt/qemu-loongarch64".as_ref())
    );
}

#[test]
fn targets_all_forms() {
    for text in [
        "targets = \"all\"",
        "targets = [\"all\"]",
        "targets = [\"ALL\"]",
    ] {
        assert_eq!(load_text(text).unwrap().targets, Targets::All, "{text}");
    }
    assert_eq!(
        load_text("targets = []").unwrap().targets,
        Targets::List(vec![])
    );
    assert_eq!(
        load_text("targets = \"arm64\"").unwrap().targets,
        Targets::List(vec![Target::Aarch64])
    );
}

#[test]
fn extra_entries_become_validated_rules() {
    let text = concat!(
        "[[entry]]\nname = \"box64\"\n",
        "magic = \"7f454c46 02 01 01 00 00000000 00000000 0200 3E00\"\n",
        "mask  = \"ffffffff ff fe fe 00 ffffffff ffffffff feff ffff\"\n",
        "interpreter = \"/usr/local/bin/box64\"\nflags = \"F\"\n",
        "[[entry]]\nname = \"dos\"\noffset = 2\nmagic = \"4d5a\"\ninterpreter = \"/usr/bin/dosbox\"\n",
        "[[entry]]\nname = \"wine\"\nextension = \"exe\"\ninterpreter = \"/usr/bin/wine\"\nflags = \"\"\n",
    );
    let s = load_text(text).unwrap();
    let magic = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x3e\0".to_vec();
    let mask =
        b"\xff\xff\xff\xff\xff\xfe\xfe\0\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff".to_vec();
    let want = vec![
        Rule {
            name: "box64".into(),
            matcher: Matcher::Magic {
                offset: 0,
                magic,
                mask: Some(mask),
            },
            interpreter: "/usr/local/bin/box64".into(),
            flags: flags("F"),
        },
        Rule {
            name: "dos".into(),
            matcher: Matcher::Magic {
                offset: 2,
                magic: b"MZ".to_vec(),
                mask: None,
            },
            interpreter: "/usr/bin/dosbox".into(),
            flags: Flags::NONE,
        },
        Rule {
            name: "wine".into(),
            matcher: Matcher::Extension("exe".into()),
            interpreter: "/usr/bin/wine".into(),
            flags: Flags::NONE,
        },
    ];
    assert_eq!(s.entries, want);
    assert!(s.entries.iter().all(|r| r.validate().is_ok()));
}

#[test]
fn credentials_flag_warns_with_its_position() {
    let text = concat!(
        "flags = \"OCF\"\n",
        "[target.arm64]\nflags = \"CF\"\n",
        "[target.riscv64]\nflags = \"PF\"\n",
        "[[entry]]\nname = \"x\"\nextension = \"x\"\ninterpreter = \"/x\"\nflags = \"C\"\n",
    );
    let s = load_text(text).unwrap();
    let w: Vec<String> = s
        .warnings
        .iter()
        .map(|w| w.rsplit('/').next().unwrap().to_string())
        .collect();
    assert_eq!(w.len(), 3, "{:?}", s.warnings);
    assert!(
        w[0].starts_with("c.toml:1:9: flags include C: setuid foreign binaries"),
        "{}",
        w[0]
    );
    assert!(
        w[1].starts_with("c.toml:3:9: flags of target aarch64 include C"),
        "{}",
        w[1]
    );
    assert!(
        w[2].starts_with("c.toml:7:8: flags of entry `x` include C"),
        "{}",
        w[2]
    );
    assert!(s.warnings[0].ends_with("drop C unless you need setuid foreign binaries"));
    assert!(load_text("flags = \"POF\"").unwrap().warnings.is_empty());
}

#[test]
fn command_line_flags_override_everything_and_warn_on_c() {
    let mut s = load_text("[target.arm64]\nflags = \"P\"\n").unwrap();
    s.override_flags(flags("F"), "--flags");
    assert_eq!(
        (s.flags_for(Target::Aarch64), s.flags_for(Target::Arm)),
        (flags("F"), flags("F"))
    );
    assert!(s.warnings.is_empty());
    s.override_flags(flags("OCF"), "--flags");
    assert_eq!(s.warnings.len(), 1);
    assert!(
        s.warnings[0].starts_with("--flags: flags include C"),
        "{}",
        s.warnings[0]
    );
}
