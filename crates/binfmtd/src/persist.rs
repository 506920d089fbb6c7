//! `binfmtd install --persist`: from the container image, install binfmtd as a service on the host.
//!
//! `docker run --privileged --rm -v /:/host IMAGE install --persist` registers the emulators now
//! and writes, under the host's root (`/host`):
//!
//! | from the image | on the host |
//! | --- | --- |
//! | `/proc/self/exe` (this static binary) | `/usr/local/bin/binfmtd` |
//! | each registered interpreter | `/usr/local/lib/binfmtd/qemu/<name>` |
//! | a drop-in naming that directory | `/etc/binfmtd/binfmtd.d/50-persist.toml` |
//! | `/usr/lib/systemd/system/binfmtd.service` | `/etc/systemd/system/binfmtd.service` |
//! | `systemd/binfmt_misc-mount.conf` (built in) | `/etc/systemd/system/proc-sys-fs-binfmt_misc.mount.d/binfmtd.conf` |
//! | enabling it | `/etc/systemd/system/<WantedBy>.wants/binfmtd.service` symlink |
//!
//! The host's own `/etc/binfmtd/binfmtd.toml` is never touched (the drop-in adds one key), files
//! are written to a temporary name and renamed into place (a running interpreter is never
//! rewritten), and a second run rewrites the same files.

use anyhow::{Context as _, Result, bail};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::report::{Action, Report};

/// Where the image keeps the unit it installs.
pub const UNIT_SOURCE: &str = "/usr/lib/systemd/system/binfmtd.service";
/// Where the binary goes on the host (`/usr/bin` belongs to the distribution's package).
pub const HOST_BINARY: &str = "usr/local/bin/binfmtd";
/// Where the interpreters go on the host.
pub const HOST_INTERPRETERS: &str = "usr/local/lib/binfmtd/qemu";
/// The drop-in that points the host's configuration at them.
pub const HOST_DROP_IN: &str = "etc/binfmtd/binfmtd.d/50-persist.toml";
/// The unit on the host.
pub const HOST_UNIT: &str = "etc/systemd/system/binfmtd.service";
/// The drop-in that lets PID 1 mount binfmt_misc where `/proc/sys` is read-only.
pub const HOST_MOUNT_DROP_IN: &str =
    "etc/systemd/system/proc-sys-fs-binfmt_misc.mount.d/binfmtd.conf";
/// Its text (the file the `.deb` installs under `/usr/lib`).
const MOUNT_DROP_IN: &str = include_str!("../../../systemd/binfmt_misc-mount.conf");

/// Checks, before anything is registered, that `root` holds the host's root filesystem.
pub fn check_root(root: &Path, _words: &[String]) -> Result<(), crate::commands::UsageError> {
    if root.join("etc").is_dir() {
        return Ok(());
    }
    Err(crate::commands::UsageError(format!(
        "--persist: {} does not hold the host's root filesystem: run the image with `-v /:/host` \
         (or pass --persist=DIR for another mount point)",
        root.display()
    )))
}

/// Writes everything under `root` (the host's `/`) after a successful `install` `report`;
/// `words` are the targets the user asked for (none: the configuration's). Returns the host
/// paths written.
pub fn run(root: &Path, words: &[String], report: &Report) -> Result<Vec<PathBuf>> {
    check_root(root, words)?;
    if report.failed() {
        bail!("not persisting: the installation failed (see the entries above)");
    }
    // Every destination first: nothing is written unless all of them are safe.
    let binary = root.join(HOST_BINARY);
    let mut interpreters = Vec::new();
    let mut seen = BTreeSet::new();
    for entry in &report.entries {
        let Some(interp) = &entry.interpreter else {
            continue;
        };
        if !matches!(
            entry.action,
            Action::Added | Action::Replaced | Action::Kept
        ) || !seen.insert(interp.clone())
        {
            continue;
        }
        let name = interp
            .file_name()
            .with_context(|| format!("interpreter path {} has no file name", interp.display()))?;
        interpreters.push((interp.clone(), root.join(HOST_INTERPRETERS).join(name)));
    }
    let drop_in = root.join(HOST_DROP_IN);
    let unit = std::fs::read_to_string(UNIT_SOURCE)
        .with_context(|| format!("reading {UNIT_SOURCE} from the image"))?;
    let host_unit = root.join(HOST_UNIT);
    let links: Vec<PathBuf> = wanted_by(&unit)
        .iter()
        .map(|target| {
            root.join("etc/systemd/system")
                .join(format!("{target}.wants"))
                .join("binfmtd.service")
        })
        .collect();
    let mount_drop_in = root.join(HOST_MOUNT_DROP_IN);
    let destinations = [&binary, &drop_in, &host_unit, &mount_drop_in]
        .into_iter()
        .chain(interpreters.iter().map(|(_, dest)| dest))
        .chain(&links);
    for dest in destinations {
        no_symlink_between(root, dest)?;
    }

    let mut written = Vec::new();
    install_file(Path::new("/proc/self/exe"), &binary, 0o755)?;
    written.push(binary);
    for (interp, dest) in interpreters {
        install_file(&interp, &dest, 0o755)?;
        written.push(dest);
    }
    write_file(&drop_in, drop_in_text(words).as_bytes(), 0o644)?;
    written.push(drop_in);
    write_file(&host_unit, host_unit_text(&unit).as_bytes(), 0o644)?;
    written.push(host_unit);
    write_file(&mount_drop_in, MOUNT_DROP_IN.as_bytes(), 0o644)?;
    written.push(mount_drop_in);
    for link in links {
        enable(&link)?;
        written.push(link);
    }
    Ok(written)
}

/// The drop-in: the interpreters' directory, and the targets when the user named some.
pub fn drop_in_text(words: &[String]) -> String {
    let mut text = format!(
        "# Written by `binfmtd install --persist` (binfmtd's container image): the interpreters\n\
         # it copied. Local settings belong in /etc/binfmtd/binfmtd.toml.\n\
         interpreter_dirs = [\"/{HOST_INTERPRETERS}\"]\n"
    );
    if !words.is_empty() {
        let quoted: Vec<String> = words.iter().map(|w| format!("{w:?}")).collect();
        text.push_str(&format!("targets = [{}]\n", quoted.join(", ")));
    }
    text
}

/// The image's unit with `ExecStart=` pointing at the host copy of the binary.
pub fn host_unit_text(unit: &str) -> String {
    let mut text = unit.replace("/usr/bin/binfmtd", &format!("/{HOST_BINARY}"));
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// The `WantedBy=` targets of the unit's `[Install]` section.
pub fn wanted_by(unit: &str) -> Vec<String> {
    let mut section = "";
    let mut targets = Vec::new();
    for line in unit.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line;
        } else if section == "[Install]"
            && let Some(value) = line.strip_prefix("WantedBy=")
        {
            targets.extend(value.split_whitespace().map(str::to_string));
        }
    }
    targets
}

/// Refuses a destination below `root` reached through a symlink: inside the container an
/// absolute link (`/host/usr/local -> /opt`) resolves in the container's filesystem, so the file
/// would land there and vanish with it while the host never gets it.
fn no_symlink_between(root: &Path, dest: &Path) -> Result<()> {
    let Ok(relative) = dest.strip_prefix(root) else {
        bail!("{} is not below {}", dest.display(), root.display());
    };
    let mut path = root.to_path_buf();
    let components: Vec<_> = relative.components().collect();
    // The directories leading to the file: the file itself is replaced by a rename, which never
    // follows a link.
    for component in components.iter().take(components.len().saturating_sub(1)) {
        path.push(component);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => bail!(
                "refusing to write {}: {} is a symlink, which would be followed inside the \
                 container instead of on the host; replace it with a directory or install \
                 binfmtd on the host another way (the .deb, the static binary)",
                dest.display(),
                path.display()
            ),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e).with_context(|| format!("inspecting {}", path.display())),
        }
    }
    Ok(())
}

/// Copies `from` to `to` through a temporary file in the same directory and a rename.
fn install_file(from: &Path, to: &Path, mode: u32) -> Result<()> {
    let bytes = std::fs::read(from).with_context(|| format!("reading {}", from.display()))?;
    write_file(to, &bytes, mode)
}

/// Writes `bytes` to `to` atomically (temporary file, fsync, rename) with `mode`.
fn write_file(to: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::PermissionsExt;
    let dir = to
        .parent()
        .with_context(|| format!("{} has no parent directory", to.display()))?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".binfmtd.")
        .tempfile_in(dir)
        .with_context(|| format!("creating a file in {}", dir.display()))?;
    tmp.write_all(bytes)
        .and_then(|()| {
            tmp.as_file()
                .set_permissions(std::fs::Permissions::from_mode(mode))
        })
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("writing {}", to.display()))?;
    tmp.persist(to)
        .with_context(|| format!("renaming into {}", to.display()))?;
    Ok(())
}

/// Creates (or replaces) the symlink `link` → `/etc/systemd/system/binfmtd.service`, as
/// `systemctl enable` does.
fn enable(link: &Path) -> Result<()> {
    let dir = link
        .parent()
        .with_context(|| format!("{} has no parent directory", link.display()))?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    match std::fs::remove_file(link) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("replacing {}", link.display())),
    }
    std::os::unix::fs::symlink(format!("/{HOST_UNIT}"), link)
        .with_context(|| format!("enabling the service: symlink {}", link.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNIT: &str = "[Unit]\nDescription=x\n\n[Service]\nExecStart=/usr/bin/binfmtd daemon \
                        $BINFMTD_OPTS\n\n[Install]\nWantedBy=multi-user.target\n";

    #[test]
    fn the_host_unit_runs_the_host_copy() {
        let text = host_unit_text(UNIT);
        assert!(text.contains("ExecStart=/usr/local/bin/binfmtd daemon $BINFMTD_OPTS"));
        assert!(!text.contains("/usr/bin/binfmtd"));
    }

    #[test]
    fn wanted_by_comes_from_the_install_section_only() {
        assert_eq!(wanted_by(UNIT), ["multi-user.target"]);
        let two = "[Unit]\nWantedBy=nope.target\n[Install]\nWantedBy=a.target b.target\n";
        assert_eq!(wanted_by(two), ["a.target", "b.target"]);
    }

    #[test]
    fn the_drop_in_is_valid_configuration() {
        for words in [
            vec![],
            vec!["arm64".to_string(), "linux/riscv64".to_string()],
        ] {
            let dir = tempfile::tempdir().expect("tempdir");
            let file = dir.path().join("c.toml");
            std::fs::write(&file, drop_in_text(&words)).expect("write");
            let settings = crate::config::load(&crate::config::ConfigSource::File(file))
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                settings.interpreter_dirs,
                [PathBuf::from("/usr/local/lib/binfmtd/qemu")]
            );
        }
    }

    #[test]
    fn a_directory_without_etc_is_not_a_host_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = run(dir.path(), &[], &Report::default()).expect_err("no etc/");
        assert!(err.to_string().contains("-v /:/host"), "{err}");
    }

    #[test]
    fn a_symlinked_directory_below_the_root_is_refused() {
        let host = tempfile::tempdir().expect("tempdir");
        let elsewhere = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(host.path().join("usr")).expect("usr");
        std::os::unix::fs::symlink(elsewhere.path(), host.path().join("usr/local"))
            .expect("symlink");
        let dest = host.path().join(HOST_BINARY);
        let err = no_symlink_between(host.path(), &dest).expect_err("symlink");
        assert!(err.to_string().contains("is a symlink"), "{err}");
        // Plain directories, existing or not yet, are fine; so is a link at the file itself,
        // which the rename replaces.
        let ok = host.path().join("etc/systemd/system/binfmtd.service");
        no_symlink_between(host.path(), &ok).expect("plain path");
    }

    #[test]
    fn enabling_twice_replaces_the_link() {
        let dir = tempfile::tempdir().expect("tempdir");
        let link = dir.path().join("multi-user.target.wants/binfmtd.service");
        enable(&link).expect("first");
        enable(&link).expect("second");
        assert_eq!(
            std::fs::read_link(&link).expect("link"),
            PathBuf::from("/etc/systemd/system/binfmtd.service")
        );
    }
}
