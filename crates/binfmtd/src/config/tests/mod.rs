//! Unit tests of configuration loading: merging (`merge.rs`) and every error class (`errors.rs`).

mod errors;
mod merge;

use std::fs;
use std::path::{Path, PathBuf};

use super::{ConfigError, ConfigSource, Settings, load};

/// Writes `text` to `dir/rel`, creating parent directories.
fn write(dir: &Path, rel: &str, text: &str) -> PathBuf {
    let path = dir.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, text).unwrap();
    path
}

/// Loads `text` as the `--config` file `c.toml`.
fn load_text(text: &str) -> Result<Settings, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    load(&ConfigSource::File(write(dir.path(), "c.toml", text)))
}

/// The one-line error for `text` loaded as `c.toml`, with the temporary directory stripped.
fn error_of(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let err = load(&ConfigSource::File(write(dir.path(), "c.toml", text))).unwrap_err();
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "error must be one line: {msg}");
    msg.replace(&format!("{}/", dir.path().display()), "")
}
