//! `binfmtd table`: the built-in magic/mask table, for people (aligned columns) and tools
//! (`--json`: one object per row with its target's names, magic and mask as lowercase hex, offset
//! and interpreter name).

use anyhow::Result;
use serde::Serialize;
use std::fmt::Write as _;

use super::Context;

/// One row as printed.
#[derive(Debug, Serialize)]
pub struct TableRow {
    /// The row id (entry name without prefix).
    pub id: &'static str,
    /// QEMU's target name.
    pub target: &'static str,
    /// The interpreter binary (`qemu-aarch64`).
    pub interpreter: &'static str,
    /// Offset of the magic in the file.
    pub offset: u16,
    /// Magic bytes, lowercase hex.
    pub magic: String,
    /// Mask bytes, lowercase hex.
    pub mask: String,
    /// Debian architecture names.
    pub debian: Vec<&'static str>,
    /// OCI platforms.
    pub platforms: &'static [&'static str],
    /// `uname -m` names.
    pub uname: &'static [&'static str],
    /// Every name `binfmtd install` accepts for this target.
    pub names: Vec<&'static str>,
    /// How the row differs from QEMU's upstream table, if it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deviation: Option<&'static str>,
}

/// Every row of the table.
pub fn rows() -> Vec<TableRow> {
    elf_magic::TABLE
        .iter()
        .map(|row| TableRow {
            id: row.id,
            target: row.target.name(),
            interpreter: row.target.qemu_binary(),
            offset: row.offset,
            magic: row.magic_hex(),
            mask: row.mask_hex(),
            debian: row.target.debian_arches().to_vec(),
            platforms: row.target.platforms(),
            uname: row.target.uname_machines(),
            names: row.target.names(),
            deviation: row.deviation(),
        })
        .collect()
}

/// Prints the table.
pub fn run(ctx: &Context) -> Result<()> {
    let rows = rows();
    ctx.print(&rows, || render(&rows))
}

fn render(rows: &[TableRow]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<18} {:<13} {:<17} {:<22} OFFSET MAGIC / MASK",
        "ROW", "TARGET", "INTERPRETER", "ALSO KNOWN AS"
    );
    for r in rows {
        let aliases: Vec<&str> = r
            .debian
            .iter()
            .chain(r.platforms.first())
            .copied()
            .collect();
        let _ = writeln!(
            out,
            "{:<18} {:<13} {:<17} {:<22} {:<6} {}\n{:>80} {}",
            r.id,
            r.target,
            r.interpreter,
            aliases.join(","),
            r.offset,
            r.magic,
            "",
            r.mask
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_every_row_with_hex_fields() {
        let rows = rows();
        assert_eq!(rows.len(), elf_magic::TABLE.len());
        let json = serde_json::to_value(&rows).unwrap();
        let aarch64 = json
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == "aarch64")
            .unwrap();
        assert_eq!(aarch64["interpreter"], "qemu-aarch64");
        assert!(
            aarch64["magic"]
                .as_str()
                .unwrap()
                .starts_with("7f454c460201")
        );
        assert_eq!(
            aarch64["magic"].as_str().unwrap().len(),
            aarch64["mask"].as_str().unwrap().len()
        );
        assert!(
            aarch64["platforms"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p == "linux/arm64")
        );
        let i486 = json
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == "i486")
            .unwrap();
        assert_eq!(i486["interpreter"], "qemu-i386");
    }

    #[test]
    fn text_lists_every_row() {
        let text = render(&rows());
        for row in elf_magic::TABLE {
            assert!(text.contains(row.id), "{} missing", row.id);
        }
    }
}
