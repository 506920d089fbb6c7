//! Which table row, and so which target, binfmt_misc would pick for a file header.

use crate::row::{Row, TABLE};
use crate::target::Target;

/// The target whose row matches `header` (the first bytes of a file; 256 are enough, fewer are
/// zero-padded as the kernel does), or `None` when no row matches.
///
/// Table rows never overlap, so at most one row matches.
pub fn detect(header: &[u8]) -> Option<Target> {
    TABLE
        .iter()
        .find(|row| row.matches(header))
        .map(|row| row.target)
}

/// Every row that matches `header`, in table order: normally none or one.
pub fn matching_rows(header: &[u8]) -> Vec<&'static Row> {
    TABLE.iter().filter(|row| row.matches(header)).collect()
}
