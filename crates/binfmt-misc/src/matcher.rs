//! How an entry recognises a file: magic bytes at an offset, or a file-name extension.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::rule::BUF_SIZE;

/// What a binfmt_misc entry matches.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Matcher {
    /// Type `M`: `magic` (masked by `mask`, if any) at byte `offset` of the file.
    Magic {
        /// Offset of the first magic byte in the file.
        offset: usize,
        /// The bytes to compare.
        magic: Vec<u8>,
        /// Which bits of each magic byte matter; `None` compares every bit.
        mask: Option<Vec<u8>>,
    },
    /// Type `E`: the text after the last `.` of the executed path, without the dot.
    Extension(String),
}

impl Matcher {
    /// Whether the kernel would pick this matcher for `path` whose first bytes are `header`.
    ///
    /// Mirrors `load_misc_binary`: the kernel looks at the first [`BUF_SIZE`] bytes of the file,
    /// zero-padded past the end of the file, and compares `(byte ^ magic) & mask`; an extension is
    /// compared case-sensitively with the text after the last `.` of the path as executed (a dot
    /// in a directory name therefore never matches, as the rest contains a `/`).
    pub fn matches(&self, path: &Path, header: &[u8]) -> bool {
        match self {
            Matcher::Magic {
                offset,
                magic,
                mask,
            } => {
                if offset.saturating_add(magic.len()) > BUF_SIZE {
                    return false;
                }
                let byte_at =
                    |i: usize| header.get(i).copied().filter(|_| i < BUF_SIZE).unwrap_or(0);
                magic.iter().enumerate().all(|(j, &m)| {
                    let bits = mask
                        .as_ref()
                        .map_or(0xff, |mask| mask.get(j).copied().unwrap_or(0xff));
                    (byte_at(offset + j) ^ m) & bits == 0
                })
            }
            Matcher::Extension(ext) => {
                let bytes = path.as_os_str().as_bytes();
                match bytes.iter().rposition(|&b| b == b'.') {
                    Some(dot) => &bytes[dot + 1..] == ext.as_bytes(),
                    None => false,
                }
            }
        }
    }

    /// Whether some file can match both `self` and `other`.
    ///
    /// Two magic matchers overlap unless, at some absolute byte position both of them look at,
    /// their magic bytes differ in a bit that both masks keep. Two extensions overlap when they
    /// are equal. A magic matcher and an extension matcher are reported as **not** overlapping,
    /// although a file with that extension and that header would match both: binfmtd only compares
    /// like with like, and an extension rule never competes with an architecture's ELF magic.
    pub fn overlaps(&self, other: &Matcher) -> bool {
        match (self, other) {
            (
                Matcher::Magic {
                    offset: oa,
                    magic: ma,
                    mask: ka,
                },
                Matcher::Magic {
                    offset: ob,
                    magic: mb,
                    mask: kb,
                },
            ) => {
                let start = (*oa).max(*ob);
                let end = (oa + ma.len()).min(ob + mb.len());
                (start..end).all(|pos| {
                    let (ia, ib) = (pos - oa, pos - ob);
                    let bits = mask_at(ka.as_deref(), ia) & mask_at(kb.as_deref(), ib);
                    (ma[ia] ^ mb[ib]) & bits == 0
                })
            }
            (Matcher::Extension(a), Matcher::Extension(b)) => a == b,
            _ => false,
        }
    }
}

fn mask_at(mask: Option<&[u8]>, i: usize) -> u8 {
    mask.map_or(0xff, |m| m.get(i).copied().unwrap_or(0xff))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn magic(offset: usize, magic: &[u8], mask: Option<&[u8]>) -> Matcher {
        Matcher::Magic {
            offset,
            magic: magic.to_vec(),
            mask: mask.map(<[u8]>::to_vec),
        }
    }

    const AARCH64: &[u8] =
        b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00";
    const RISCV64: &[u8] =
        b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xf3\x00";
    const ELF_MASK: &[u8] =
        b"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff";

    #[test]
    fn magic_matches_with_mask_and_zero_padding() {
        let m = magic(0, AARCH64, Some(ELF_MASK));
        let mut header = AARCH64.to_vec();
        header[7] = 3; // EI_OSABI is masked out
        header[16] = 3; // ET_DYN: low bit masked out
        assert!(m.matches(Path::new("x"), &header));
        header[18] = 0xf3;
        assert!(!m.matches(Path::new("x"), &header));
        // Past EOF the kernel sees zeros: "ZZ" matches "ZZ\0\0".
        assert!(magic(0, b"ZZ\0\0", None).matches(Path::new("x"), b"ZZ"));
        assert!(!magic(0, b"ZZ\0\x01", None).matches(Path::new("x"), b"ZZ"));
        assert!(magic(255, b"\0", None).matches(Path::new("x"), b""));
        // Bytes past BUF_SIZE are never looked at, and an out-of-buffer matcher never matches.
        assert!(!magic(256, b"\0", None).matches(Path::new("x"), &[0; 300]));
        assert!(magic(2, b"cd", Some(b"\xff\xff")).matches(Path::new("x"), b"abcd"));
    }

    #[test]
    fn extension_uses_the_last_dot_case_sensitively() {
        let m = Matcher::Extension("jar".into());
        assert!(m.matches(Path::new("/opt/app.jar"), b""));
        assert!(m.matches(Path::new("a.b.jar"), b""));
        assert!(m.matches(Path::new(".jar"), b""));
        assert!(!m.matches(Path::new("/opt/app.JAR"), b""));
        assert!(!m.matches(Path::new("/opt/x.jar/app"), b""));
        assert!(!m.matches(Path::new("/opt/app.jar.bak"), b""));
        assert!(!m.matches(Path::new("jar"), b""));
    }

    #[test]
    fn overlap_of_magics() {
        let a = magic(0, AARCH64, Some(ELF_MASK));
        let r = magic(0, RISCV64, Some(ELF_MASK));
        assert!(a.overlaps(&a));
        assert!(!a.overlaps(&r));
        // A looser mask (ignoring e_machine) overlaps both.
        let mut loose = ELF_MASK.to_vec();
        loose[18] = 0;
        let any64 = magic(0, AARCH64, Some(&loose));
        assert!(any64.overlaps(&a) && any64.overlaps(&r) && r.overlaps(&any64));
        // Disjoint byte ranges always overlap; adjacent ones too.
        assert!(magic(0, b"ab", None).overlaps(&magic(10, b"zz", None)));
        // Absolute offsets: "ELF" at 1 agrees with "\x7fELF" at 0, "ELG" does not.
        assert!(magic(1, b"ELF", None).overlaps(&magic(0, b"\x7fELF", None)));
        assert!(!magic(1, b"ELG", None).overlaps(&magic(0, b"\x7fELF", None)));
        // Bits masked out by either side do not conflict.
        assert!(magic(0, b"\x01", Some(b"\xfe")).overlaps(&magic(0, b"\x00", None)));
        assert!(!magic(0, b"\x01", Some(b"\x01")).overlaps(&magic(0, b"\x00", None)));
    }

    #[test]
    fn overlap_of_extensions_and_mixed() {
        let jar = Matcher::Extension("jar".into());
        assert!(jar.overlaps(&Matcher::Extension("jar".into())));
        assert!(!jar.overlaps(&Matcher::Extension("Jar".into())));
        assert!(!jar.overlaps(&magic(0, b"PK", None)));
        assert!(!magic(0, b"PK", None).overlaps(&jar));
    }

    /// Cross-check `overlaps` against `matches`: when two matchers overlap, the header built
    /// from both magics (each masked position taking the bits that matter) matches both.
    #[test]
    fn overlap_agrees_with_a_witness_header() {
        let cases = [
            (magic(0, AARCH64, Some(ELF_MASK)), magic(0, AARCH64, None)),
            (
                magic(4, b"\x02\x01", Some(b"\xff\x0f")),
                magic(5, b"\x21\x00", Some(b"\x0f\x00")),
            ),
        ];
        for (a, b) in cases {
            assert!(a.overlaps(&b));
            let mut header = [0u8; BUF_SIZE];
            for m in [&a, &b] {
                if let Matcher::Magic {
                    offset,
                    magic,
                    mask,
                } = m
                {
                    for (j, &byte) in magic.iter().enumerate() {
                        let bits = mask_at(mask.as_deref(), j);
                        header[offset + j] = (header[offset + j] & !bits) | (byte & bits);
                    }
                }
            }
            assert!(a.matches(Path::new("x"), &header) && b.matches(Path::new("x"), &header));
        }
    }
}
