//! One binfmt_misc magic/mask row and the kernel's matching rule, plus the question whether two
//! rows can ever match the same file.

use std::fmt::Write as _;

use crate::target::Target;

pub use crate::table::{TABLE, UPSTREAM};

/// The number of header bytes binfmt_misc compares (`BINPRM_BUF_SIZE` since Linux 5.1); bytes
/// past the end of a shorter file read as zero.
pub const HEADER_LEN: usize = 256;

/// A binfmt_misc magic rule (type `M`) that sends matching files to one target's emulator.
///
/// `magic` and `mask` have the same length; byte `i` of the file at `offset + i` must agree with
/// `magic[i]` in every bit set in `mask[i]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    /// The target whose emulator runs the matching files.
    pub target: Target,
    /// A unique identifier: the target's name for its primary row, `<name>-<what>` otherwise.
    pub id: &'static str,
    /// Where in the file the magic starts (0 for every ELF row).
    pub offset: u16,
    /// The expected bytes.
    pub magic: &'static [u8],
    /// Which bits of each byte are compared.
    pub mask: &'static [u8],
}

impl Row {
    /// Whether binfmt_misc would pick this row for a file starting with `header`.
    ///
    /// Kernel semantics: the first [`HEADER_LEN`] bytes of the file, zero-padded past its end,
    /// must satisfy `((h[offset + i] ^ magic[i]) & mask[i]) == 0` for every `i`. A missing mask
    /// byte counts as `0xff` (an exact compare), as in the kernel when no mask is given.
    pub fn matches(&self, header: &[u8]) -> bool {
        let visible = &header[..header.len().min(HEADER_LEN)];
        self.magic.iter().enumerate().all(|(i, &magic)| {
            let byte = visible
                .get(usize::from(self.offset) + i)
                .copied()
                .unwrap_or(0);
            (byte ^ magic) & self.mask_at(i) == 0
        })
    }

    /// Whether some file header matches both `self` and `other` (binfmt_misc would then pick
    /// whichever was registered last).
    ///
    /// Two rows overlap unless some bit that both compare has different expected values, or one
    /// of them can match nothing at all (it demands non-zero bits past [`HEADER_LEN`]).
    pub fn overlaps(&self, other: &Row) -> bool {
        if !self.can_match() || !other.can_match() {
            return false;
        }
        (0..HEADER_LEN).all(|pos| match (self.constraint(pos), other.constraint(pos)) {
            (Some((value_a, mask_a)), Some((value_b, mask_b))) => {
                (value_a ^ value_b) & mask_a & mask_b == 0
            }
            _ => true,
        })
    }

    /// The lowest header that matches both rows, if they overlap: every compared bit set as
    /// demanded, every other bit zero. Useful to show *why* two rows conflict.
    pub fn overlap_witness(&self, other: &Row) -> Option<[u8; HEADER_LEN]> {
        if !self.overlaps(other) {
            return None;
        }
        let mut header = [0u8; HEADER_LEN];
        for (pos, byte) in header.iter_mut().enumerate() {
            for row in [self, other] {
                if let Some((value, mask)) = row.constraint(pos) {
                    *byte |= value & mask;
                }
            }
        }
        Some(header)
    }

    /// The magic as lowercase hex without separators, as binfmt_misc's entry files print it.
    pub fn magic_hex(&self) -> String {
        hex(self.magic)
    }

    /// The mask as lowercase hex without separators.
    pub fn mask_hex(&self) -> String {
        hex(self.mask)
    }

    /// The `e_machine` value this row demands, read from the magic at bytes 18..20 in the byte
    /// order of its `EI_DATA` byte; `None` for a row that does not cover an ELF header.
    pub fn e_machine(&self) -> Option<u16> {
        if self.offset != 0 || self.magic.get(..4) != Some(b"\x7fELF".as_slice()) {
            return None;
        }
        let bytes = [*self.magic.get(18)?, *self.magic.get(19)?];
        Some(match self.magic.get(5) {
            Some(2) => u16::from_be_bytes(bytes),
            _ => u16::from_le_bytes(bytes),
        })
    }

    /// What this row changes relative to QEMU's upstream table ([`UPSTREAM`]), or `None` when it
    /// is upstream's row byte for byte.
    pub fn deviation(&self) -> Option<&'static str> {
        crate::table::deviation(self.id)
    }

    /// The mask byte for magic byte `i` (`0xff` if the mask is short).
    fn mask_at(&self, i: usize) -> u8 {
        self.mask.get(i).copied().unwrap_or(0xff)
    }

    /// `(magic, mask)` at header position `pos`, or `None` if the row does not look there.
    fn constraint(&self, pos: usize) -> Option<(u8, u8)> {
        let i = pos.checked_sub(usize::from(self.offset))?;
        Some((*self.magic.get(i)?, self.mask_at(i)))
    }

    /// False if the row demands non-zero bits past [`HEADER_LEN`], where every file reads zero.
    fn can_match(&self) -> bool {
        self.magic.iter().enumerate().all(|(i, &magic)| {
            usize::from(self.offset) + i < HEADER_LEN || magic & self.mask_at(i) == 0
        })
    }
}

/// Lowercase hex of `bytes`, no separators.
fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        // Writing to a String cannot fail.
        let _ = write!(out, "{byte:02x}");
    }
    out
}
