//! The commands: each turns parsed arguments and settings into a result, doing its I/O through
//! `binfmt_misc::BinfmtMisc`, the interpreter store and the host probes.
//!
//! Errors that are the user's to fix before anything can happen (an unknown target, a bad
//! configuration) are [`UsageError`]s: `main` maps them to exit status 2. Everything else that
//! fails is status 1.

pub mod check;
pub mod compat;
pub mod exec;
pub mod install;
pub mod status;
pub mod table;
pub mod uninstall;
pub mod version;

use anyhow::{Context as _, Result};
use std::path::{Path, PathBuf};

use crate::cli::GlobalArgs;
use crate::config::{self, ConfigSource, Settings};

/// An error in how binfmtd was invoked or configured (exit status 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// What every command starts from.
#[derive(Debug, Clone)]
pub struct Context {
    /// The validated configuration, with command-line overrides applied.
    pub settings: Settings,
    /// The binfmt_misc mount point.
    pub mount: PathBuf,
    /// Print JSON instead of text.
    pub json: bool,
}

impl Context {
    /// Loads the configuration (`--config FILE`, else `/etc/binfmtd`, else the built-in default)
    /// and applies `--flags`.
    pub fn load(global: &GlobalArgs) -> Result<Context> {
        let source = match &global.config {
            Some(file) => ConfigSource::File(file.clone()),
            None => ConfigSource::System {
                dir: PathBuf::from(config::SYSTEM_DIR),
            },
        };
        let mut settings = config::load(&source).map_err(|e| UsageError(e.to_string()))?;
        if let Some(flags) = &global.flags {
            let parsed = flags
                .parse()
                .map_err(|e| UsageError(format!("--flags {flags}: {e}")))?;
            settings.override_flags(parsed, "--flags");
        }
        for warning in &settings.warnings {
            tracing::warn!("{warning}");
        }
        Ok(Context {
            settings,
            mount: global.mount.clone(),
            json: global.json,
        })
    }

    /// Checks `--mount` before anything is opened for writing or mounted: see
    /// [`check_mount_path`]. Every command that uses the host's binfmt_misc calls this first
    /// (`exec` mounts its own private instance and checks its path itself).
    pub fn check_mount(&self) -> Result<(), UsageError> {
        check_mount_path(&self.mount)
    }

    /// This context with `install --force`: other tools' entries for the requested targets are
    /// taken over, as with `others = "replace"` for every target, for this run only.
    pub fn forcing(mut self) -> Context {
        self.settings.replace_others();
        self
    }

    /// Prints a serializable result as JSON, or its text form.
    pub fn print<T: serde::Serialize>(
        &self,
        value: &T,
        text: impl FnOnce() -> String,
    ) -> Result<()> {
        if self.json {
            let json = serde_json::to_string_pretty(value).context("encoding JSON")?;
            println!("{json}");
        } else {
            print!("{}", text());
        }
        Ok(())
    }
}

/// Opens the binfmt_misc at `mount` if it is mounted there (`plan` never mounts anything).
pub fn open_existing(mount: &std::path::Path) -> Result<Option<binfmt_misc::BinfmtMisc>> {
    match binfmt_misc::BinfmtMisc::open(mount) {
        Ok(fs) => Ok(Some(fs)),
        Err(e) if e.kind() == binfmt_misc::ErrorKind::NotMounted => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// `--mount` must be an absolute path to a directory that binfmtd may use: binfmt_misc's
/// mount point (or an automount of it), or an empty directory to mount it on. Anything else is
/// a usage error: a relative or missing path (an explicit `--mount` is never created), a
/// regular file, another filesystem mounted there, or a non-empty directory (mounting
/// binfmt_misc there would hide its files). A missing default mount point is left to the
/// mount's own error (the kernel has no binfmt_misc loaded).
fn check_mount_path(mount: &Path) -> Result<(), UsageError> {
    let refuse = |what: &str| {
        UsageError(format!(
            "--mount {}: {what}; point --mount at binfmt_misc's mount point (default {})",
            mount.display(),
            binfmt_misc::DEFAULT_MOUNT
        ))
    };
    if !mount.is_absolute() {
        return Err(refuse("not an absolute path"));
    }
    let meta = match std::fs::metadata(mount) {
        Ok(meta) => meta,
        Err(e) if mount == Path::new(binfmt_misc::DEFAULT_MOUNT) => {
            tracing::debug!("{}: {e}", mount.display());
            return Ok(());
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(refuse("no such directory"));
        }
        Err(e) => return Err(refuse(&format!("cannot look it up ({e})"))),
    };
    if !meta.is_dir() {
        return Err(refuse("not a directory"));
    }
    match binfmt_misc::BinfmtMisc::open(mount) {
        Err(e) if e.kind() == binfmt_misc::ErrorKind::NotBinfmtMisc => {
            let what = match &e {
                binfmt_misc::Error::NotBinfmtMisc { fs_type, .. } => {
                    binfmt_misc::mount::filesystem_name(*fs_type)
                        .map_or_else(|| format!("filesystem type {fs_type:#x}"), str::to_string)
                }
                _ => "another filesystem".to_string(),
            };
            Err(refuse(&format!(
                "{what} is mounted there, not binfmt_misc; binfmtd never mounts over it"
            )))
        }
        Err(e)
            if e.kind() == binfmt_misc::ErrorKind::NotMounted
                && std::fs::read_dir(mount).is_ok_and(|mut d| d.next().is_some()) =>
        {
            Err(UsageError(format!(
                "--mount {}: a non-empty directory, not a binfmt_misc mount; refusing to mount \
                 over it: point --mount at binfmt_misc's mount point or an empty directory",
                mount.display()
            )))
        }
        _ => Ok(()),
    }
}
