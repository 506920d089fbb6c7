//! A writer for the `newc` cpio format, the one the Linux kernel unpacks as an initramfs.
//!
//! Written here rather than with `cpio(1)` so that building an initramfs needs neither root nor
//! a staging tree with the right owners: every member is owned by root, modes are given
//! explicitly and the mtime is 0, so the same inputs give the same archive byte for byte.
//!
//! Format (`Documentation/driver-api/early-userspace/buffer-format.rst`): per member a 110-byte
//! ASCII header (`070701` and 13 eight-digit hex fields), the NUL-terminated name padded to a
//! multiple of 4, then the data padded to a multiple of 4; the archive ends with `TRAILER!!!`.

use anyhow::{Context, Result, ensure};
use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// `S_IFDIR`, `S_IFREG`, `S_IFLNK` as stored in the mode field.
const DIR: u32 = 0o040_000;
const REG: u32 = 0o100_000;
const LNK: u32 = 0o120_000;

/// Writes a newc archive member by member; parent directories are added automatically.
pub(crate) struct Writer<W: Write> {
    out: W,
    /// Directories already written (without a leading `/`).
    dirs: BTreeSet<String>,
    /// The next inode number (every member gets its own; no hard links).
    ino: u32,
}

impl Writer<BufWriter<File>> {
    /// Creates (truncates) `path` and writes an archive into it.
    pub(crate) fn create(path: &Path) -> Result<Self> {
        let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Writer::new(BufWriter::with_capacity(1 << 20, file)))
    }
}

impl<W: Write> Writer<W> {
    /// An archive written to `out`.
    pub(crate) fn new(out: W) -> Self {
        Writer {
            out,
            dirs: BTreeSet::new(),
            ino: 1,
        }
    }

    /// A directory (and its parents), mode `0755`.
    pub(crate) fn dir(&mut self, path: &str) -> Result<()> {
        let path = relative(path)?;
        let mut prefix = String::new();
        for part in path.split('/') {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            if self.dirs.insert(prefix.clone()) {
                let name = prefix.clone();
                self.member(&name, DIR | 0o755, &[])?;
            }
        }
        Ok(())
    }

    /// A regular file with `data` and permission bits `mode`.
    pub(crate) fn file(&mut self, path: &str, mode: u32, data: &[u8]) -> Result<()> {
        let path = relative(path)?;
        self.parents(path)?;
        self.member(path, REG | (mode & 0o7777), data)
    }

    /// A regular file copied from `source` on the host, with permission bits `mode`.
    pub(crate) fn copy(&mut self, path: &str, mode: u32, source: &Path) -> Result<()> {
        let data =
            std::fs::read(source).with_context(|| format!("reading {}", source.display()))?;
        self.file(path, mode, &data)
    }

    /// A symbolic link at `path` pointing to `target`.
    pub(crate) fn symlink(&mut self, path: &str, target: &str) -> Result<()> {
        let path = relative(path)?;
        self.parents(path)?;
        self.member(path, LNK | 0o777, target.as_bytes())
    }

    /// Writes the trailer and flushes; returns the underlying writer.
    pub(crate) fn finish(mut self) -> Result<W> {
        self.header("TRAILER!!!", 0, 0, 0)?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn parents(&mut self, path: &str) -> Result<()> {
        match path.rsplit_once('/') {
            Some((parent, _)) => self.dir(parent),
            None => Ok(()),
        }
    }

    fn member(&mut self, name: &str, mode: u32, data: &[u8]) -> Result<()> {
        let size = u32::try_from(data.len())
            .with_context(|| format!("{name} is larger than newc's 4 GiB limit"))?;
        let ino = self.ino;
        self.ino += 1;
        self.header(name, mode, size, ino)?;
        self.out.write_all(data)?;
        pad(&mut self.out, data.len())?;
        Ok(())
    }

    fn header(&mut self, name: &str, mode: u32, size: u32, ino: u32) -> io::Result<()> {
        let nlink = if mode & DIR == DIR { 2 } else { 1 };
        let namesize = name.len() + 1;
        // magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor,
        // rdevminor, namesize, check
        write!(
            self.out,
            "070701{ino:08x}{mode:08x}{:08x}{:08x}{nlink:08x}{:08x}{size:08x}{:08x}{:08x}{:08x}{:08x}{namesize:08x}{:08x}",
            0, 0, 0, 0, 0, 0, 0, 0
        )?;
        self.out.write_all(name.as_bytes())?;
        self.out.write_all(&[0])?;
        pad(&mut self.out, 110 + namesize)
    }
}

/// Zero bytes up to the next multiple of 4 after `len` bytes.
fn pad(out: &mut impl Write, len: usize) -> io::Result<()> {
    out.write_all(&[0u8; 3][..(4 - len % 4) % 4])
}

/// `path` without its leading `/`; refuses empty names and `..` components.
fn relative(path: &str) -> Result<&str> {
    let path = path.trim_start_matches('/').trim_end_matches('/');
    ensure!(
        !path.is_empty() && !path.split('/').any(|p| p.is_empty() || p == ".."),
        "bad initramfs path {path:?}"
    );
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses an archive back into (name, mode, data) triples, checking the alignment rules.
    fn parse(mut bytes: &[u8]) -> Vec<(String, u32, Vec<u8>)> {
        let mut out = Vec::new();
        let mut offset = 0;
        loop {
            assert_eq!(offset % 4, 0, "member not 4-aligned");
            assert_eq!(&bytes[..6], b"070701");
            let field = |i: usize| {
                let text = std::str::from_utf8(&bytes[6 + 8 * i..14 + 8 * i]).expect("ascii");
                usize::from_str_radix(text, 16).expect("hex")
            };
            let (mode, size, namesize) = (field(1), field(6), field(11));
            let name = String::from_utf8(bytes[110..110 + namesize - 1].to_vec()).expect("utf8");
            assert_eq!(bytes[110 + namesize - 1], 0, "name is NUL-terminated");
            let start = (110 + namesize).div_ceil(4) * 4;
            let end = (start + size).div_ceil(4) * 4;
            if name == "TRAILER!!!" {
                assert_eq!(bytes.len(), start, "nothing after the trailer");
                return out;
            }
            out.push((name, mode as u32, bytes[start..start + size].to_vec()));
            offset += end;
            bytes = &bytes[end..];
        }
    }

    #[test]
    fn members_round_trip_with_parents_and_padding() {
        let mut w = Writer::new(Vec::new());
        w.file("/bin/busybox", 0o755, b"12345").expect("file");
        w.symlink("bin/sh", "busybox").expect("link");
        w.file("/a/b/c", 0o644, b"").expect("empty file");
        w.dir("a/b").expect("existing dir again");
        let members = parse(&w.finish().expect("finish"));
        let names: Vec<&str> = members.iter().map(|m| m.0.as_str()).collect();
        assert_eq!(names, ["bin", "bin/busybox", "bin/sh", "a", "a/b", "a/b/c"]);
        assert_eq!(members[0].1, DIR | 0o755);
        assert_eq!(
            members[1],
            ("bin/busybox".into(), REG | 0o755, b"12345".to_vec())
        );
        assert_eq!(
            members[2],
            ("bin/sh".into(), LNK | 0o777, b"busybox".to_vec())
        );
        assert_eq!(members[5].2, b"");
    }

    #[test]
    fn bad_paths_are_refused() {
        let mut w = Writer::new(Vec::new());
        assert!(w.file("/", 0o644, b"").is_err());
        assert!(w.file("a/../b", 0o644, b"").is_err());
        assert!(w.file("a//b", 0o644, b"").is_err());
    }

    #[test]
    fn the_kernel_format_is_what_cpio_reads() {
        let dir = std::env::temp_dir().join(format!("xtask-cpio-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp");
        let mut w = Writer::new(Vec::new());
        w.file("x/y", 0o600, b"hello").expect("file");
        w.symlink("x/z", "y").expect("link");
        let archive = w.finish().expect("finish");
        let mut child = std::process::Command::new("cpio")
            .args(["-i", "-d", "--quiet", "--no-absolute-filenames"])
            .current_dir(&dir)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("cpio(1) runs (tests/setup.sh installs it)");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(&archive)
            .expect("write");
        assert!(child.wait().expect("wait").success());
        assert_eq!(std::fs::read(dir.join("x/y")).expect("y"), b"hello");
        assert_eq!(
            std::fs::read_link(dir.join("x/z")).expect("z"),
            Path::new("y")
        );
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
