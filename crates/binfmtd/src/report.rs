//! What a command did (or, for `plan`, would do), per entry: the contract other tools rely on.
//!
//! JSON (`--json`) is the machine form; [`Report::render_text`] the human one. Field names and
//! action words are stable: `added`, `replaced`, `kept`, `removed`, `skipped`, `failed`.

use serde::Serialize;
use std::fmt::Write as _;
use std::path::PathBuf;

/// What happened to one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Registered anew.
    Added,
    /// Re-registered because something differed (see `reason`).
    Replaced,
    /// Already exactly as wanted: nothing written.
    Kept,
    /// Removed.
    Removed,
    /// Deliberately not done (see `reason`): not a failure.
    Skipped,
    /// Could not be done (see `reason`): the command exits non-zero.
    Failed,
}

impl Action {
    /// Whether this action changes the kernel's table.
    pub fn is_change(self) -> bool {
        matches!(self, Action::Added | Action::Replaced | Action::Removed)
    }
}

/// One entry's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntryReport {
    /// The binfmt_misc entry name (`qemu-aarch64`).
    pub name: String,
    /// The QEMU target it serves, if any.
    pub target: Option<String>,
    /// What happened.
    pub action: Action,
    /// Why (for replaced, skipped, failed, and removed entries), with any remark on overlaps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The reason as a stable word (`native`, `no-interpreter`, `served-by-other`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<&'static str>,
    /// The entry's flags (`PF`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flags: Option<String>,
    /// The interpreter the entry runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interpreter: Option<PathBuf>,
    /// SHA-256 of the interpreter, where known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The interpreter's QEMU version, where known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Why this interpreter: `configured`, `only candidate`, or the newest of several (naming
    /// the others).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chosen: Option<String>,
}

impl EntryReport {
    /// A report with only the required fields set.
    pub fn new(name: impl Into<String>, target: Option<String>, action: Action) -> EntryReport {
        EntryReport {
            name: name.into(),
            target,
            action,
            reason: None,
            reason_code: None,
            flags: None,
            interpreter: None,
            sha256: None,
            version: None,
            chosen: None,
        }
    }

    /// Sets the reason.
    pub fn because(mut self, reason: impl Into<String>) -> EntryReport {
        self.reason = Some(reason.into());
        self
    }
}

/// The result of `install`, `uninstall` or `plan`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Whether the kernel's table changed (for `plan`: would change).
    pub changed: bool,
    /// `true` for `plan`: nothing was changed.
    pub dry_run: bool,
    /// The binfmt_misc mount used.
    pub mount: PathBuf,
    /// One object per entry.
    pub entries: Vec<EntryReport>,
    /// Problems of the whole run (a disabled instance, no space, the interpreter limit), each
    /// once; any makes the exit status 1.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// Warnings (also logged).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl Report {
    /// Whether anything failed (the exit status is then 1).
    pub fn failed(&self) -> bool {
        !self.problems.is_empty() || self.entries.iter().any(|e| e.action == Action::Failed)
    }

    /// Recomputes `changed` from the entries.
    pub fn finish(mut self) -> Report {
        self.changed = self.entries.iter().any(|e| e.action.is_change());
        self
    }

    /// The human form: one line per entry, then a summary line.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let verb = |a: Action| match (self.dry_run, a) {
            (true, Action::Added) => "would add",
            (true, Action::Replaced) => "would replace",
            (true, Action::Removed) => "would remove",
            (_, Action::Added) => "added",
            (_, Action::Replaced) => "replaced",
            (_, Action::Kept) => "kept",
            (_, Action::Removed) => "removed",
            (_, Action::Skipped) => "skipped",
            (_, Action::Failed) => "FAILED",
        };
        for e in &self.entries {
            let _ = write!(out, "{:<14} {:<24}", verb(e.action), e.name);
            if let Some(flags) = &e.flags {
                let _ = write!(out, " flags={flags:<4}");
            }
            if let Some(reason) = &e.reason {
                let _ = write!(out, " ({reason})");
            }
            out.push('\n');
        }
        let count = |a: Action| self.entries.iter().filter(|e| e.action == a).count();
        let _ = writeln!(
            out,
            "{}: {} added, {} replaced, {} kept, {} removed, {} skipped, {} failed",
            if self.dry_run { "plan" } else { "done" },
            count(Action::Added),
            count(Action::Replaced),
            count(Action::Kept),
            count(Action::Removed),
            count(Action::Skipped),
            count(Action::Failed),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_uses_the_documented_words() {
        let report = Report {
            entries: vec![
                EntryReport::new("qemu-aarch64", Some("aarch64".into()), Action::Added),
                EntryReport::new("qemu-i386", Some("i386".into()), Action::Skipped)
                    .because("native"),
            ],
            ..Report::default()
        }
        .finish();
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["changed"], true);
        assert_eq!(json["entries"][0]["action"], "added");
        assert_eq!(json["entries"][1]["action"], "skipped");
        assert_eq!(json["entries"][1]["reason"], "native");
        assert!(json["entries"][0].get("reason").is_none());
    }

    #[test]
    fn unchanged_and_failed() {
        let report = Report {
            entries: vec![
                EntryReport::new("a", None, Action::Kept),
                EntryReport::new("b", None, Action::Failed).because("boom"),
            ],
            ..Report::default()
        }
        .finish();
        assert!(!report.changed);
        assert!(report.failed());
        assert!(report.render_text().contains("FAILED"));
    }
}
