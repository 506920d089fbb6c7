//! Turns a guest's console into result lines: `[6.1 amd64] PASS …` / `[6.1 amd64] FAIL …`.
//!
//! The scenario prints one assertion per line, `PASS <what>` or `FAIL <what>: <why>`, may print
//! `INFO <text>` for context, and ends with `VMTEST-END`. Everything else on the console (kernel
//! messages, busybox noise) is ignored. A console without `VMTEST-END` means the guest did not
//! finish (timeout, panic, a hung step): that is a failure of its own, with the last console
//! lines as evidence.

/// One result line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    /// Whether the assertion held.
    pub(crate) pass: bool,
    /// What was asserted (and, for a failure, why it failed).
    pub(crate) text: String,
}

/// What one cell produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// The assertions, in order.
    pub(crate) lines: Vec<Line>,
    /// `INFO` lines, in order.
    pub(crate) info: Vec<String>,
    /// Whether the scenario ran to its end marker.
    pub(crate) finished: bool,
}

/// The scenario's end marker.
pub(crate) const END: &str = "VMTEST-END";

impl Outcome {
    /// Parses a console transcript.
    pub(crate) fn parse(console: &str) -> Outcome {
        let mut out = Outcome {
            lines: Vec::new(),
            info: Vec::new(),
            finished: false,
        };
        for raw in console.lines() {
            let clean = without_escapes(raw);
            let line = clean.trim_end_matches('\r').trim_start();
            if let Some(text) = line.strip_prefix("PASS ") {
                out.lines.push(Line {
                    pass: true,
                    text: text.to_string(),
                });
            } else if let Some(text) = line.strip_prefix("FAIL ") {
                out.lines.push(Line {
                    pass: false,
                    text: text.to_string(),
                });
            } else if let Some(text) = line.strip_prefix("INFO ") {
                out.info.push(text.to_string());
            } else if line == END {
                out.finished = true;
            }
        }
        out
    }

    /// Whether every assertion passed, there was at least one, and the scenario finished.
    pub(crate) fn passed(&self) -> bool {
        self.finished && !self.lines.is_empty() && self.lines.iter().all(|l| l.pass)
    }

    /// The result lines for the cell `name`, plus a failure line when the scenario did not
    /// finish (with the console's last lines) or asserted nothing.
    pub(crate) fn render(&self, name: &str, console: &str, why_unfinished: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .lines
            .iter()
            .map(|l| {
                format!(
                    "[{name}] {} {}",
                    if l.pass { "PASS" } else { "FAIL" },
                    l.text
                )
            })
            .collect();
        if !self.finished {
            let tail: Vec<&str> = console
                .lines()
                .map(str::trim_end)
                .filter(|l| !l.is_empty())
                .rev()
                .take(8)
                .collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            out.push(format!(
                "[{name}] FAIL the scenario did not finish: {why_unfinished}; last console lines: {}",
                tail.join(" | ")
            ));
        } else if self.lines.is_empty() {
            out.push(format!("[{name}] FAIL the scenario asserted nothing"));
        }
        out
    }
}

/// `line` without terminal escape sequences (CSI `ESC [ … final`, OSC `ESC ] … BEL|ESC \\`, and
/// two-byte `ESC x`): systemd's console output on a serial line can put them at the start of the
/// next line the scenario prints.
fn without_escapes(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('[') => {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            Some(']') => {
                while let Some(c) = chars.next() {
                    if c == '\x07' || (c == '\x1b' && chars.next_if_eq(&'\\').is_some()) {
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pass_fail_info_and_the_end_marker_are_recognised_among_kernel_noise() {
        let console = "[    1.0] Linux version 6.1\r\nPASS binfmt_misc loads\r\n\
                       INFO flags PF\nrandom noise PASS not at the start\n\
                       FAIL install all exits 0: exit 1\nVMTEST-END\n[ 9.0] reboot: Power down\n";
        let o = Outcome::parse(console);
        assert!(o.finished);
        assert_eq!(o.info, ["flags PF"]);
        assert_eq!(
            o.lines,
            [
                Line {
                    pass: true,
                    text: "binfmt_misc loads".into()
                },
                Line {
                    pass: false,
                    text: "install all exits 0: exit 1".into()
                }
            ]
        );
        assert!(!o.passed());
        let lines = o.render("6.1 amd64", console, "");
        assert_eq!(lines[0], "[6.1 amd64] PASS binfmt_misc loads");
        assert_eq!(lines[1], "[6.1 amd64] FAIL install all exits 0: exit 1");
    }

    #[test]
    fn escape_sequences_before_a_marker_are_ignored() {
        // What a Debian 13 guest's serial console really showed before a scenario line.
        let console =
            "\x1b[!p\x1b]104\x07\x1b[?7hINFO phase 2: Debian\nPASS (3) ok\x1b[0m\nVMTEST-END\n";
        let o = Outcome::parse(console);
        assert_eq!(o.info, ["phase 2: Debian"]);
        assert_eq!(o.lines[0].text, "(3) ok");
        assert!(o.passed());
    }

    #[test]
    fn an_unfinished_or_empty_scenario_fails() {
        let o = Outcome::parse("PASS a\nKernel panic - not syncing\n");
        assert!(!o.passed());
        let lines = o.render(
            "5.10 amd64",
            "PASS a\nKernel panic - not syncing\n",
            "timed out",
        );
        assert!(lines.last().is_some_and(|l| l.contains(
            "FAIL the scenario did not finish: \
                                                        timed out"
        )));
        assert!(lines.last().is_some_and(|l| l.contains("Kernel panic")));
        let empty = Outcome::parse("VMTEST-END\n");
        assert!(!empty.passed());
        assert!(
            empty
                .render("x", "", "")
                .iter()
                .any(|l| l.contains("asserted nothing"))
        );
        assert!(Outcome::parse("PASS a\nVMTEST-END\n").passed());
    }
}
