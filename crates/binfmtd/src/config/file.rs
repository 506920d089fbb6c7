//! Reading one configuration file: a regular file, at most [`MAX_SIZE`] bytes, UTF-8 text.
//!
//! The file is opened without blocking (a FIFO or a device would otherwise wait forever for a
//! writer) and checked with `fstat` on the opened descriptor, so what is checked is what is read.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use super::error::ConfigError;

/// The largest configuration file accepted. The commented default is about 10 KB; a file
/// many times that large is a mistake (a wrong path, a log), not a configuration.
pub(super) const MAX_SIZE: u64 = 1 << 20;

/// The text of the configuration file at `path`.
pub(super) fn read(path: &Path) -> Result<String, ConfigError> {
    let io_error = |source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)
        .map_err(io_error)?;
    let meta = file.metadata().map_err(io_error)?;
    if !meta.is_file() {
        return Err(ConfigError::NotRegular {
            path: path.to_path_buf(),
            kind: kind(&meta.file_type()),
        });
    }
    if meta.len() > MAX_SIZE {
        return Err(too_large(path, meta.len()));
    }
    let bytes = read_capped(file).map_err(io_error)?;
    if bytes.len() as u64 > MAX_SIZE {
        return Err(too_large(path, bytes.len() as u64));
    }
    text(path, bytes)
}

/// At most one byte more than [`MAX_SIZE`] (a file growing while it is read is caught too).
fn read_capped(file: File) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    file.take(MAX_SIZE + 1).read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn too_large(path: &Path, size: u64) -> ConfigError {
    ConfigError::TooLarge {
        path: path.to_path_buf(),
        size,
    }
}

/// The bytes as text, or an error naming the line and column of the first invalid byte.
pub(super) fn text(path: &Path, bytes: Vec<u8>) -> Result<String, ConfigError> {
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let before = &e.as_bytes()[..valid];
        let line = before.iter().filter(|b| **b == b'\n').count() + 1;
        let line_start = before
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1);
        // `before` is valid UTF-8 by construction; count characters for the column.
        let column = String::from_utf8_lossy(&before[line_start..])
            .chars()
            .count()
            + 1;
        ConfigError::NotUtf8 {
            path: path.to_path_buf(),
            line,
            column,
        }
    })
}

/// A file type in words.
fn kind(t: &std::fs::FileType) -> &'static str {
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else {
        "not a regular file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_byte_is_placed_by_line_and_column() {
        let err = text(Path::new("c.toml"), b"a = 1\n# caf\xe9\n".to_vec()).unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::NotUtf8 {
                    line: 2,
                    column: 6,
                    ..
                }
            ),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains("line 2") && !msg.contains("permission"),
            "{msg}"
        );
    }

    #[test]
    fn a_directory_a_fifo_and_a_huge_file_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = read(dir.path()).unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::NotRegular { .. } | ConfigError::Read { .. }
            ),
            "{err:?}"
        );
        let fifo = dir.path().join("fifo.toml");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let err = read(&fifo).unwrap_err();
        assert!(
            err.to_string().contains("not a regular file") && err.to_string().contains("FIFO"),
            "{err}"
        );
        let huge = dir.path().join("huge.toml");
        File::create(&huge).unwrap().set_len(MAX_SIZE + 1).unwrap();
        let err = read(&huge).unwrap_err();
        assert!(err.to_string().contains("too large"), "{err}");
        let fine = dir.path().join("fine.toml");
        std::fs::write(&fine, "targets = [\"arm64\"]\n").unwrap();
        assert_eq!(read(&fine).unwrap(), "targets = [\"arm64\"]\n");
    }
}
