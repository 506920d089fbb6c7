//! Private apt configurations: Debian packages of any suite and architecture, downloaded and
//! unpacked under `target/`, with the machine's own apt state untouched.
//!
//! The same pattern as `tests/fixtures.sh`: an `apt.conf` of our own (`Dir::Etc::SourceList`,
//! `Dir::State::Lists`, `Dir::Cache`, `APT::Architectures`, an empty dpkg status), `apt-get
//! update` at most once a day, `apt-get download` into a shared directory, and `dpkg-deb` to
//! unpack. Nothing is ever installed. Package names are resolved with `apt-cache`, never
//! hard-coded: kernel ABI names move with every point release.

use anyhow::{Context, Result, bail, ensure};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

/// How old the package lists may get before `apt-get update` runs again.
const MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// One private apt configuration (a set of suites and architectures).
pub(crate) struct Apt {
    /// The directory holding `apt.conf`, the lists and apt's cache.
    dir: PathBuf,
    /// Where `.deb` files are downloaded (shared between configurations).
    debs: PathBuf,
}

impl Apt {
    /// Sets up (once) and refreshes (at most daily) the configuration `name` under `cache/apt`
    /// for `suites` (main only) and `arches`.
    pub(crate) fn open(cache: &Path, name: &str, suites: &[&str], arches: &[&str]) -> Result<Apt> {
        let dir = cache.join("apt").join(name);
        let debs = cache.join("debs");
        for sub in ["etc/sources.list.d", "etc/preferences.d", "lists/partial"] {
            fs::create_dir_all(dir.join(sub))?;
        }
        fs::create_dir_all(dir.join("cache/archives/partial"))?;
        fs::create_dir_all(&debs)?;
        if !dir.join("status").exists() {
            fs::write(dir.join("status"), "")?;
        }
        let mirror = mirror();
        let sources: String = suites
            .iter()
            .map(|s| {
                format!(
                    "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg \
                     check-valid-until=no] {mirror} {s} main\n"
                )
            })
            .collect();
        let arch_list: String = arches.iter().map(|a| format!("\"{a}\"; ")).collect();
        let d = dir.display();
        let conf = format!(
            "Dir::Etc::SourceList \"{d}/etc/sources.list\";\n\
             Dir::Etc::SourceParts \"{d}/etc/sources.list.d\";\n\
             Dir::Etc::Preferences \"{d}/etc/preferences\";\n\
             Dir::Etc::PreferencesParts \"{d}/etc/preferences.d\";\n\
             Dir::State::Lists \"{d}/lists\";\n\
             Dir::State::status \"{d}/status\";\n\
             Dir::Cache \"{d}/cache\";\n\
             APT::Architectures {{ {arch_list}}};\n\
             APT::Sandbox::User \"root\";\n\
             Acquire::Languages \"none\";\n"
        );
        let changed = fs::read_to_string(dir.join("etc/sources.list")).ok()
            != Some(sources.clone())
            || fs::read_to_string(dir.join("apt.conf")).ok() != Some(conf.clone());
        fs::write(dir.join("etc/sources.list"), &sources)?;
        fs::write(dir.join("apt.conf"), &conf)?;
        let apt = Apt { dir, debs };
        if changed || !apt.lists_fresh() {
            eprintln!(
                "vm: updating the private apt lists for {}",
                suites.join(" + ")
            );
            apt.run(Command::new("apt-get").args(["-q", "update"]))
                .with_context(|| format!("apt-get update for {}", suites.join(" + ")))?;
        }
        Ok(apt)
    }

    /// The candidate version and architecture of `package` (`name` or `name:arch`).
    pub(crate) fn candidate(&self, package: &str) -> Result<(String, String)> {
        let text = self
            .run(Command::new("apt-cache").args(["show", "--no-all-versions", package]))
            .with_context(|| format!("{package} is not in the private apt lists"))?;
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().to_string())
                .with_context(|| format!("apt-cache show {package} printed no {name}"))
        };
        Ok((field("Version:")?, field("Architecture:")?))
    }

    /// The names `package` depends on (`Depends:` and `PreDepends:` only, alternatives
    /// included, architecture qualifiers and virtual-package brackets removed).
    pub(crate) fn depends(&self, package: &str) -> Result<Vec<String>> {
        let text = self.run(Command::new("apt-cache").args([
            "depends",
            "--no-recommends",
            "--no-suggests",
            "--no-conflicts",
            "--no-breaks",
            "--no-replaces",
            "--no-enhances",
            package,
        ]))?;
        Ok(text
            .lines()
            .filter_map(|l| {
                let l = l.trim_start().trim_start_matches('|');
                l.strip_prefix("Depends:")
                    .or_else(|| l.strip_prefix("PreDepends:"))
            })
            .map(|name| {
                let name = name.trim().trim_start_matches('<').trim_end_matches('>');
                name.split(':').next().unwrap_or(name).to_string()
            })
            .collect())
    }

    /// Downloads the candidates of `packages` (`name` or `name:arch`) unless the exact file is
    /// already there; returns their paths in the same order.
    pub(crate) fn download(&self, packages: &[String]) -> Result<Vec<PathBuf>> {
        let mut paths = Vec::new();
        let mut missing = Vec::new();
        for package in packages {
            let (version, arch) = self.candidate(package)?;
            let name = package.split(':').next().unwrap_or(package);
            let file = format!("{name}_{}_{arch}.deb", version.replace(':', "%3a"));
            let path = self.debs.join(file);
            if !path.is_file() {
                missing.push(package.clone());
            }
            paths.push(path);
        }
        if !missing.is_empty() {
            eprintln!("vm: downloading {}", missing.join(" "));
            let mut cmd = Command::new("apt-get");
            cmd.args(["-q", "download"]).args(&missing);
            cmd.current_dir(&self.debs);
            self.run(&mut cmd)?;
        }
        for path in &paths {
            ensure!(
                path.is_file(),
                "apt-get download did not produce {}",
                path.display()
            );
        }
        Ok(paths)
    }

    /// Runs an apt command with this configuration; its stdout, or an error with its stderr.
    fn run(&self, cmd: &mut Command) -> Result<String> {
        cmd.arg("-c").arg(self.dir.join("apt.conf"));
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot run {cmd:?}"))?;
        if !out.status.success() {
            bail!(
                "{cmd:?} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Whether some `Packages` index is younger than [`MAX_AGE`].
    fn lists_fresh(&self) -> bool {
        let Ok(entries) = fs::read_dir(self.dir.join("lists")) else {
            return false;
        };
        entries.flatten().any(|e| {
            e.file_name().to_string_lossy().contains("Packages")
                && e.metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| SystemTime::now().duration_since(t).ok())
                    .is_some_and(|age| age < MAX_AGE)
        })
    }
}

/// Unpacks `deb` into `dest` once (a `.done` marker makes later calls free); returns `dest`.
pub(crate) fn unpack(deb: &Path, dest: &Path) -> Result<PathBuf> {
    let marker = dest.join(".done");
    if fs::read_to_string(&marker).ok().as_deref() == Some(&*deb.to_string_lossy()) {
        return Ok(dest.to_path_buf());
    }
    if dest.exists() {
        fs::remove_dir_all(dest)?;
    }
    fs::create_dir_all(dest)?;
    let status = Command::new("dpkg-deb")
        .arg("-x")
        .arg(deb)
        .arg(dest)
        .status()
        .context("cannot run dpkg-deb")?;
    ensure!(status.success(), "dpkg-deb -x {} failed", deb.display());
    fs::write(&marker, deb.to_string_lossy().as_bytes())?;
    Ok(dest.to_path_buf())
}

/// Extracts only the members of `deb` whose path matches one of the tar `patterns` into `dest`
/// (fast for 100 MB kernel packages of which two files are needed). Patterns that match nothing
/// are not an error here: the caller looks for what it needs and names what is missing.
pub(crate) fn extract(deb: &Path, dest: &Path, patterns: &[&str]) -> Result<()> {
    fs::create_dir_all(dest)?;
    let mut dpkg = Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(deb)
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot run dpkg-deb")?;
    let tar_in = dpkg.stdout.take().context("dpkg-deb has no stdout")?;
    let tar = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(dest)
        .arg("--wildcards")
        .args(patterns)
        .stdin(tar_in)
        .stderr(Stdio::null())
        .status()
        .context("cannot run tar")?;
    let dpkg = dpkg.wait()?;
    ensure!(
        dpkg.success(),
        "dpkg-deb --fsys-tarfile {} failed",
        deb.display()
    );
    // tar exits 2 when a pattern matched nothing; anything else is a real failure.
    ensure!(
        matches!(tar.code(), Some(0 | 2)),
        "tar failed on {}",
        deb.display()
    );
    Ok(())
}

/// The Debian mirror the machine's own apt uses (deb.debian.org if none is configured).
pub(crate) fn mirror() -> String {
    let deb822 = fs::read_to_string("/etc/apt/sources.list.d/debian.sources").unwrap_or_default();
    let classic = fs::read_to_string("/etc/apt/sources.list").unwrap_or_default();
    deb822
        .lines()
        .find_map(|l| l.strip_prefix("URIs:"))
        .map(|u| u.split_whitespace().next().unwrap_or_default().to_string())
        .or_else(|| {
            classic
                .lines()
                .find_map(|l| l.strip_prefix("deb "))
                .and_then(|rest| rest.split_whitespace().find(|w| w.contains("://")))
                .map(str::to_string)
        })
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "http://deb.debian.org/debian".to_string())
}
