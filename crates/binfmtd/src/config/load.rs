//! Reading the layers (embedded default, main file, drop-ins) and folding them into `Settings`.
//!
//! The only I/O here is reading configuration files and listing the drop-in directory: loading a
//! bad configuration changes nothing, so the daemon can reject a reload and keep running.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::error::{ConfigError, Source};
use super::file;
use super::layer::Layer;
use super::settings::{DaemonSettings, Settings, TargetOverride, credentials_warning};

/// The default system configuration directory.
pub const SYSTEM_DIR: &str = "/etc/binfmtd";
/// The main file's name inside a system directory.
pub const MAIN_FILE: &str = "binfmtd.toml";
/// The drop-in directory's name inside a system directory.
pub const DROP_IN_DIR: &str = "binfmtd.d";
/// The name under which errors in the embedded default are reported.
pub const EMBEDDED_NAME: &str = "<embedded default>";

const DEFAULT_TOML: &str = include_str!("default.toml");

/// The embedded default configuration, commented (also suitable as an example file).
pub fn default_toml() -> &'static str {
    DEFAULT_TOML
}

/// Where the configuration comes from. The embedded default is always the first layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// The embedded default only.
    Default,
    /// `<dir>/binfmtd.toml` (optional), then `<dir>/binfmtd.d/*.toml` sorted by file name
    /// (optional; names starting with `.` are ignored).
    System {
        /// Usually [`SYSTEM_DIR`].
        dir: PathBuf,
    },
    /// Exactly this file, which must exist (`--config FILE`).
    File(PathBuf),
}

impl ConfigSource {
    /// [`ConfigSource::System`] at [`SYSTEM_DIR`].
    pub fn system() -> ConfigSource {
        ConfigSource::System {
            dir: PathBuf::from(SYSTEM_DIR),
        }
    }
}

/// Loads, merges and validates the configuration. Reads files only; never touches binfmt_misc.
pub fn load(source: &ConfigSource) -> Result<Settings, ConfigError> {
    let embedded = Source {
        path: PathBuf::from(EMBEDDED_NAME),
        text: DEFAULT_TOML.to_string(),
    };
    let mut merged = Layer::parse(&embedded)?;
    let mut sources = Vec::new();
    let files = match source {
        ConfigSource::Default => Vec::new(),
        ConfigSource::File(path) => vec![path.clone()],
        ConfigSource::System { dir } => system_files(dir)?,
    };
    for path in files {
        let text = file::read(&path)?;
        merged.merge(Layer::parse(&Source {
            path: path.clone(),
            text,
        })?);
        sources.push(path);
    }
    finish(merged, sources)
}

/// The files of a system directory that exist, in merge order.
fn system_files(dir: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    let mut files = Vec::new();
    let main = dir.join(MAIN_FILE);
    match fs::metadata(&main) {
        Ok(_) => files.push(main),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(source) => return Err(ConfigError::Read { path: main, source }),
    }
    let drop_in = dir.join(DROP_IN_DIR);
    let listing = match fs::read_dir(&drop_in) {
        Ok(listing) => listing,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(files),
        Err(source) => {
            return Err(ConfigError::Read {
                path: drop_in,
                source,
            });
        }
    };
    let mut names: Vec<OsString> = Vec::new();
    for item in listing {
        let item = item.map_err(|source| ConfigError::Read {
            path: drop_in.clone(),
            source,
        })?;
        let name = item.file_name();
        let text = name.to_string_lossy();
        if text.ends_with(".toml") && !text.starts_with('.') {
            names.push(name);
        }
    }
    names.sort();
    files.extend(names.into_iter().map(|n| drop_in.join(n)));
    Ok(files)
}

/// Checks what only the merged result can tell, collects warnings, and drops the positions.
fn finish(layer: Layer, sources: Vec<PathBuf>) -> Result<Settings, ConfigError> {
    let entry_prefix = layer.entry_prefix.ok_or(ConfigError::Incomplete {
        key: "entry_prefix",
    })?;
    let flags = layer
        .flags
        .ok_or(ConfigError::Incomplete { key: "flags" })?;
    let mut warnings = Vec::new();
    if flags.value.credentials {
        warnings.push(credentials_warning(&flags.loc.to_string(), "flags"));
    }
    let mut overrides = std::collections::BTreeMap::new();
    for (target, o) in layer.overrides {
        if let Some(f) = &o.flags
            && f.value.credentials
        {
            warnings.push(credentials_warning(
                &f.loc.to_string(),
                &format!("flags of target {target}"),
            ));
        }
        let o = TargetOverride {
            flags: o.flags.map(|f| f.value),
            interpreter: o.interpreter,
            others: o.others,
        };
        overrides.insert(target, o);
    }
    let mut entries = Vec::new();
    for entry in layer.entries {
        if let Some(row) = elf_magic::TABLE
            .iter()
            .find(|r| crate::engine::naming::entry_name(&entry_prefix, r) == entry.value.name)
        {
            let what = format!(
                "entry `{}` has the name of binfmtd's own entry for target {}; rename it",
                entry.value.name, row.target
            );
            return Err(entry.loc.error(what));
        }
        if entry.value.name.ends_with(binfmt_misc::TEMP_SUFFIX) {
            let what = format!(
                "entry `{}` ends in {}, which binfmtd uses for the temporary entry of a gapless \
                 replace; rename it",
                entry.value.name,
                binfmt_misc::TEMP_SUFFIX
            );
            return Err(entry.loc.error(what));
        }
        if entry.value.flags.credentials {
            let what = format!("flags of entry `{}`", entry.value.name);
            warnings.push(credentials_warning(&entry.loc.to_string(), &what));
        }
        entries.push(entry.value);
    }
    Ok(Settings {
        targets: layer
            .targets
            .ok_or(ConfigError::Incomplete { key: "targets" })?,
        flags: flags.value,
        overrides,
        interpreter_dirs: layer.interpreter_dirs.unwrap_or_default(),
        install_dir: layer
            .install_dir
            .ok_or(ConfigError::Incomplete { key: "install_dir" })?,
        entry_prefix,
        others: layer.others.unwrap_or_default(),
        distribution: layer.distribution.unwrap_or_default(),
        binary_prefix: String::new(),
        in_place_dirs: Vec::new(),
        entries,
        daemon: DaemonSettings {
            remove_on_stop: layer.remove_on_stop.unwrap_or(false),
        },
        sources,
        warnings,
    })
}
