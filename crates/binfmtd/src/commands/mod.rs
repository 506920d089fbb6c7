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
use std::path::PathBuf;

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
        check_mount_path(&global.mount)?;
        Ok(Context {
            settings,
            mount: global.mount.clone(),
            json: global.json,
        })
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

/// `--mount` must name a directory (or nothing yet) that binfmtd may mount on: a regular file is
/// a usage error, and so is a non-empty directory that is not a mount point (mounting binfmt_misc
/// there would hide its files). Another filesystem mounted there is refused when it is opened.
fn check_mount_path(mount: &std::path::Path) -> Result<(), UsageError> {
    match std::fs::metadata(mount) {
        Ok(meta) if !meta.is_dir() => Err(UsageError(format!(
            "--mount {}: not a directory; point --mount at binfmt_misc's mount point (default {})",
            mount.display(),
            binfmt_misc::DEFAULT_MOUNT
        ))),
        Ok(_)
            if binfmt_misc::BinfmtMisc::open(mount)
                .is_err_and(|e| e.kind() == binfmt_misc::ErrorKind::NotMounted)
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
