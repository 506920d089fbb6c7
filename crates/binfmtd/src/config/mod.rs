//! Configuration: TOML layers (embedded default < `/etc/binfmtd/binfmtd.toml` < drop-ins in
//! `/etc/binfmtd/binfmtd.d/*.toml`, or one `--config` file) merged into a validated [`Settings`].
//!
//! Loading only reads the configuration files: a bad configuration is an error with its file,
//! line and column and changes nothing, so the daemon can reject a reload and keep its state.
//!
//! ```
//! use binfmtd::config::{ConfigSource, Targets, load};
//!
//! let settings = load(&ConfigSource::Default)?;
//! assert_eq!(settings.targets, Targets::All);
//! assert_eq!(settings.flags.to_string(), "PF");
//! # Ok::<(), binfmtd::config::ConfigError>(())
//! ```

mod entry;
mod error;
mod file;
mod hex;
mod layer;
mod load;
mod schema;
mod settings;

#[cfg(test)]
mod tests;

pub use error::ConfigError;
pub use load::{
    ConfigSource, DROP_IN_DIR, EMBEDDED_NAME, MAIN_FILE, SYSTEM_DIR, default_toml, load,
};
pub use settings::{DaemonSettings, Distribution, Others, Settings, TargetOverride, Targets};
