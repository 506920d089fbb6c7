//! Masking the distribution's `binfmt.d` files for the targets binfmtd serves, the systemd way:
//! `/etc/binfmt.d/<same name>.conf -> /dev/null` (binfmt.d(5): a same-named file in `/etc`
//! overrides a vendor file, a link to `/dev/null` disables it).
//!
//! Why: `systemd-binfmt` flushes **every** entry when it starts (`-1` to `status`) and then
//! registers the `binfmt.d` files; Debian restarts it on every QEMU package upgrade, and it runs
//! at every boot. Without masks, binfmtd's entries would be flushed and the distribution's QEMU
//! entries registered again under the same names each time, and the daemon would race them.
//! With the masks, systemd-binfmt registers only what binfmtd does not serve (python, wine,
//! java…), and binfmtd re-registers its own within the same second.
//!
//! A file is masked only when every rule in it is a QEMU row of a target binfmtd serves now:
//! a file with any other line (python, llvm, wine, a target binfmtd skips) is never touched.
//! binfmtd records the masks it made (`registrations.json`) and removes only those: when the
//! target stops being served, when the vendor file is gone, and on `binfmtd uninstall` (the
//! package's prerm). An administrator's own `/etc/binfmt.d` file is never replaced.
//!
//! [`plan`] is pure; the files are read by [`read`] and written by [`apply`](super::apply).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use elf_magic::Target;

use super::naming::served_target;
use super::owner::is_distro_qemu;

/// Where binfmt.d files live, relative to the root: the administrator's directory first (where
/// masks go), then the vendor directories in systemd's precedence order.
pub const ETC_DIR: &str = "etc/binfmt.d";
/// The vendor directories (first wins for a same-named file).
pub const VENDOR_DIRS: &[&str] = &[
    "run/binfmt.d",
    "usr/local/lib/binfmt.d",
    "usr/lib/binfmt.d",
    "lib/binfmt.d",
];
/// Tests point every binfmt.d directory below this root (a temporary directory); it is `/` on a
/// real host.
pub const ROOT_ENV: &str = "BINFMTD_BINFMT_D_ROOT";

/// A vendor binfmt.d file (the one systemd-binfmt would read for its name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendorFile {
    /// Its file name (`qemu-aarch64.conf`).
    pub name: String,
    /// The QEMU targets its rules serve, or `None` when any line is not a QEMU row (or
    /// unreadable): such a file is never masked.
    pub targets: Option<BTreeSet<Target>>,
}

/// What is in the administrator's directory under a vendor file's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EtcFile {
    /// A symbolic link to `/dev/null` (a mask).
    Mask,
    /// Anything else (the administrator's own file).
    Other,
}

/// The facts masking is decided from.
#[derive(Debug, Clone, Default)]
pub struct MaskFacts {
    /// The administrator's directory (`/etc/binfmt.d`).
    pub etc: PathBuf,
    /// The vendor files, one per name.
    pub vendor: Vec<VendorFile>,
    /// What `etc` holds under those names and under the recorded masks' names.
    pub etc_files: BTreeMap<String, EtcFile>,
    /// The masks binfmtd made (from the record).
    pub ours: BTreeSet<String>,
}

/// One mask to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMask {
    /// The file name.
    pub name: String,
    /// The targets it hides from systemd-binfmt (each must be registered by binfmtd first).
    pub targets: BTreeSet<Target>,
}

/// What happens to the masks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaskPlan {
    /// The administrator's directory.
    pub etc: PathBuf,
    /// Masks to create.
    pub create: Vec<NewMask>,
    /// binfmtd's masks to delete (the link still points to `/dev/null`).
    pub remove: Vec<String>,
    /// Recorded masks that are gone or were replaced by the administrator: only forgotten.
    pub forget: Vec<String>,
}

impl MaskPlan {
    /// Whether anything is written.
    pub fn changes(&self) -> bool {
        !self.create.is_empty() || !self.remove.is_empty() || !self.forget.is_empty()
    }
}

/// The masks wanted when binfmtd serves `served`.
pub fn plan(facts: &MaskFacts, served: &BTreeSet<Target>) -> MaskPlan {
    let mut out = MaskPlan {
        etc: facts.etc.clone(),
        ..MaskPlan::default()
    };
    let wanted: BTreeMap<&str, &BTreeSet<Target>> = facts
        .vendor
        .iter()
        .filter_map(|f| Some((f.name.as_str(), f.targets.as_ref()?)))
        .filter(|(_, targets)| !targets.is_empty() && targets.is_subset(served))
        .collect();
    for (name, targets) in &wanted {
        if !facts.etc_files.contains_key(*name) {
            out.create.push(NewMask {
                name: name.to_string(),
                targets: (*targets).clone(),
            });
        }
    }
    for name in &facts.ours {
        match facts.etc_files.get(name) {
            Some(EtcFile::Mask) if !wanted.contains_key(name.as_str()) => {
                out.remove.push(name.clone())
            }
            Some(EtcFile::Mask) => {}
            Some(EtcFile::Other) | None => out.forget.push(name.clone()),
        }
    }
    out
}

/// The QEMU targets a binfmt.d file's `content` registers, or `None` if any rule is not a QEMU
/// row (comments start with `#` or `;`, as in systemd-binfmt).
pub fn qemu_targets(content: &[u8]) -> Option<BTreeSet<Target>> {
    let mut targets = BTreeSet::new();
    for line in content.split(|b| *b == b'\n') {
        let line = line.trim_ascii();
        if line.is_empty() || line.starts_with(b"#") || line.starts_with(b";") {
            continue;
        }
        let rule = binfmt_misc::decode(line).ok()?;
        match served_target(&rule.matcher) {
            // QEMU's exact row, or the distribution's variant of it (Debian masks EI_OSABI with
            // 0xfc on ppc64le, s390x…, bookworm's mips rows differ) run by a distribution QEMU:
            // the same test as the ownership's "distribution".
            Some((target, exact)) if exact || is_distro_qemu(&rule.interpreter) => {
                targets.insert(target)
            }
            _ => return None,
        };
    }
    Some(targets)
}

/// Reads the binfmt.d directories below `root` (I/O; a missing directory is empty).
pub fn read(root: &Path, ours: &BTreeSet<String>) -> MaskFacts {
    let etc = root.join(ETC_DIR);
    let mut vendor: BTreeMap<String, VendorFile> = BTreeMap::new();
    for dir in VENDOR_DIRS {
        let Ok(read) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for entry in read.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".conf") || vendor.contains_key(&name) {
                continue;
            }
            // Through symlinks (trixie's qemu-user-binfmt links its files); a vendor mask
            // (-> /dev/null) reads as empty and is never masked again.
            let targets = std::fs::read(entry.path())
                .ok()
                .and_then(|c| qemu_targets(&c));
            vendor.insert(name.clone(), VendorFile { name, targets });
        }
    }
    let mut etc_files = BTreeMap::new();
    for name in vendor.keys().chain(ours.iter()) {
        let path = etc.join(name);
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let is_mask = meta.file_type().is_symlink()
            && std::fs::read_link(&path).is_ok_and(|t| t == Path::new("/dev/null"));
        etc_files.insert(
            name.clone(),
            if is_mask {
                EtcFile::Mask
            } else {
                EtcFile::Other
            },
        );
    }
    MaskFacts {
        etc,
        vendor: vendor.into_values().collect(),
        etc_files,
        ours: ours.clone(),
    }
}

/// The root binfmt.d directories are read below: `$BINFMTD_BINFMT_D_ROOT` (tests) or `/`.
pub fn root() -> PathBuf {
    std::env::var_os(ROOT_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const AARCH64: &[u8] = br":qemu-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/libexec/qemu-binfmt/aarch64-binfmt-P:OPF";
    const RISCV64: &[u8] = br":qemu-riscv64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xf3\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-riscv64:POF";
    const PYTHON: &[u8] = b":python3.11:M::\\xa7\\x0d\\x0d\\x0a::/usr/bin/python3.11:";

    /// Lines of Debian 12's qemu-user-static, where the rows differ from QEMU's.
    #[test]
    fn reads_debian_variants_of_the_rows() {
        let ppc64le = br":qemu-ppc64le:M::\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x15\x00:\xff\xff\xff\xff\xff\xff\xff\xfc\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\x00:/usr/libexec/qemu-binfmt/ppc64le-binfmt-P:OPF";
        let mipsel = br":qemu-mipsel:M::\x7f\x45\x4c\x46\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xfe\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x20:/usr/libexec/qemu-binfmt/mipsel-binfmt-P:OPF";
        assert_eq!(qemu_targets(ppc64le), Some(set(&[Target::Ppc64le])));
        assert_eq!(qemu_targets(mipsel), Some(set(&[Target::Mipsel])));
        // The same variant run by something that is not a distribution QEMU is not ours to mask.
        let elsewhere = String::from_utf8_lossy(ppc64le).replace(
            "/usr/libexec/qemu-binfmt/ppc64le-binfmt-P",
            "/opt/emu/ppc64le",
        );
        assert_eq!(qemu_targets(elsewhere.as_bytes()), None);
        // bookworm's cris: no row binfmtd knows.
        let cris = br":qemu-cris:M::\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x4c\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/libexec/qemu-binfmt/cris-binfmt-P:OPF";
        assert_eq!(qemu_targets(cris), None);
    }

    fn set(t: &[Target]) -> BTreeSet<Target> {
        t.iter().copied().collect()
    }

    #[test]
    fn reads_qemu_rows_and_refuses_anything_else() {
        let file = [b"# comment\n; other\n\n".as_slice(), AARCH64, b"\n"].concat();
        assert_eq!(qemu_targets(&file), Some(set(&[Target::Aarch64])));
        let two = [AARCH64, b"\n", RISCV64].concat();
        assert_eq!(
            qemu_targets(&two),
            Some(set(&[Target::Aarch64, Target::Riscv64]))
        );
        assert_eq!(qemu_targets(PYTHON), None, "python is never ours");
        let mixed = [AARCH64, b"\n", PYTHON].concat();
        assert_eq!(
            qemu_targets(&mixed),
            None,
            "one foreign line keeps the file"
        );
        assert_eq!(qemu_targets(b"garbage\n"), None);
        assert_eq!(qemu_targets(b""), Some(BTreeSet::new()));
    }

    fn facts() -> MaskFacts {
        MaskFacts {
            etc: "/etc/binfmt.d".into(),
            vendor: vec![
                VendorFile {
                    name: "qemu-aarch64.conf".into(),
                    targets: Some(set(&[Target::Aarch64])),
                },
                VendorFile {
                    name: "qemu-riscv64.conf".into(),
                    targets: Some(set(&[Target::Riscv64])),
                },
                VendorFile {
                    name: "python3.11.conf".into(),
                    targets: None,
                },
                VendorFile {
                    name: "empty.conf".into(),
                    targets: Some(BTreeSet::new()),
                },
            ],
            ..MaskFacts::default()
        }
    }

    fn names(v: &[NewMask]) -> Vec<&str> {
        v.iter().map(|m| m.name.as_str()).collect()
    }

    #[test]
    fn masks_only_files_of_served_targets() {
        let p = plan(&facts(), &set(&[Target::Aarch64, Target::Arm]));
        assert_eq!(names(&p.create), ["qemu-aarch64.conf"]);
        assert!(p.remove.is_empty() && p.forget.is_empty());
        let all = plan(&facts(), &set(&[Target::Aarch64, Target::Riscv64]));
        assert_eq!(
            names(&all.create),
            ["qemu-aarch64.conf", "qemu-riscv64.conf"]
        );
        assert!(plan(&facts(), &BTreeSet::new()).create.is_empty());
    }

    #[test]
    fn never_replaces_an_administrators_file_nor_removes_a_mask_it_did_not_make() {
        let mut f = facts();
        f.etc_files
            .insert("qemu-aarch64.conf".into(), EtcFile::Other);
        f.etc_files
            .insert("qemu-riscv64.conf".into(), EtcFile::Mask);
        let p = plan(&f, &BTreeSet::new());
        assert!(p.create.is_empty());
        assert!(p.remove.is_empty(), "not recorded as ours");
        assert!(!p.changes());
    }

    #[test]
    fn removes_its_masks_when_the_target_is_no_longer_served() {
        let mut f = facts();
        f.etc_files
            .insert("qemu-aarch64.conf".into(), EtcFile::Mask);
        f.etc_files
            .insert("qemu-riscv64.conf".into(), EtcFile::Mask);
        f.ours = ["qemu-aarch64.conf", "qemu-riscv64.conf", "qemu-gone.conf"]
            .map(String::from)
            .into();
        let p = plan(&f, &set(&[Target::Aarch64]));
        assert!(p.create.is_empty());
        assert_eq!(p.remove, ["qemu-riscv64.conf"]);
        assert_eq!(p.forget, ["qemu-gone.conf"]);
        let uninstall = plan(&f, &BTreeSet::new());
        assert_eq!(uninstall.remove, ["qemu-aarch64.conf", "qemu-riscv64.conf"]);
    }

    #[test]
    fn a_mask_whose_vendor_file_is_gone_is_removed() {
        let f = MaskFacts {
            etc: "/etc/binfmt.d".into(),
            etc_files: [("qemu-aarch64.conf".to_string(), EtcFile::Mask)].into(),
            ours: ["qemu-aarch64.conf".to_string()].into(),
            ..MaskFacts::default()
        };
        assert_eq!(
            plan(&f, &set(&[Target::Aarch64])).remove,
            ["qemu-aarch64.conf"]
        );
    }

    #[test]
    fn reads_a_directory_tree() {
        let root = tempfile::tempdir().unwrap();
        let lib = root.path().join("usr/lib/binfmt.d");
        let run = root.path().join("run/binfmt.d");
        let etc = root.path().join(ETC_DIR);
        for d in [&lib, &run, &etc] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(lib.join("qemu-aarch64.conf"), AARCH64).unwrap();
        std::fs::write(lib.join("qemu-riscv64.conf"), RISCV64).unwrap();
        std::fs::write(run.join("qemu-riscv64.conf"), PYTHON).unwrap();
        std::fs::write(lib.join("README"), b"x").unwrap();
        std::os::unix::fs::symlink("/dev/null", etc.join("qemu-aarch64.conf")).unwrap();
        let f = read(root.path(), &BTreeSet::new());
        assert_eq!(f.etc, etc);
        assert_eq!(f.vendor.len(), 2);
        let riscv = f.vendor.iter().find(|v| v.name == "qemu-riscv64.conf");
        assert_eq!(
            riscv.map(|v| v.targets.clone()),
            Some(None),
            "/run overrides /usr/lib"
        );
        assert_eq!(f.etc_files.get("qemu-aarch64.conf"), Some(&EtcFile::Mask));
    }
}
