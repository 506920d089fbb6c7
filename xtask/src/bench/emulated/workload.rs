//! The fixed workload: a generated text file, three busybox applets over it, and the checks that
//! each emulated run computed the right result (a wrong or empty output must not win).
//!
//! The text is deterministic (a fixed-seed generator of words and lines), so every build and every
//! target works on the same bytes; the expected results come from the host's native tools.

use anyhow::{Context, Result, bail, ensure};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One timed exec of the foreign busybox.
pub(crate) struct Step {
    /// Short name (table rows, output file name).
    pub(crate) name: &'static str,
    /// What it does, for the table's caption.
    pub(crate) what: String,
    /// The busybox applet and its arguments.
    pub(crate) argv: Vec<String>,
    check: Check,
}

/// How a step's standard output is verified.
enum Check {
    /// `sha256sum FILE`: the first word is this digest.
    Digest(String),
    /// The output's SHA-256 is this (the native `LC_ALL=C sort`'s).
    Output(String),
    /// The output gunzips (natively) to bytes with this SHA-256.
    Gunzips(String),
}

/// Generates the input files in `dir` and returns the steps: `sha256sum` of `size` bytes, and
/// `gzip -c` and `sort` of its first sixteenth (branchy code: matching, comparing, allocating).
pub(crate) fn prepare(dir: &Path, size: u64) -> Result<Vec<Step>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let data = dir.join("data.txt");
    let part = dir.join("part.txt");
    let part_size = (size / 16).max(4096);
    write_text(&data, size)?;
    let bytes = std::fs::read(&data).with_context(|| format!("reading {}", data.display()))?;
    let cut = bytes[..part_size as usize]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(part_size as usize, |i| i + 1);
    std::fs::write(&part, &bytes[..cut]).with_context(|| format!("writing {}", part.display()))?;
    let path = |p: &PathBuf| p.display().to_string();
    let mib = |n: u64| format!("{:.2} MiB", n as f64 / 1048576.0);
    Ok(vec![
        Step {
            name: "sha256sum",
            what: format!("`sha256sum` of {}", mib(size)),
            argv: vec!["sha256sum".into(), path(&data)],
            check: Check::Digest(native_sha256(&data)?),
        },
        Step {
            name: "gzip",
            what: format!("`gzip -c` of {}", mib(cut as u64)),
            argv: vec!["gzip".into(), "-c".into(), path(&part)],
            check: Check::Gunzips(native_sha256(&part)?),
        },
        Step {
            name: "sort",
            what: format!("`sort` of {}", mib(cut as u64)),
            argv: vec!["sort".into(), path(&part)],
            check: Check::Output(native(&format!(
                "LC_ALL=C sort '{}' | sha256sum",
                part.display()
            ))?),
        },
    ])
}

impl Step {
    /// Checks the step's output file (`<dir>/<name>.out`, written by the in-sandbox runner).
    pub(crate) fn verify(&self, out: &Path) -> Result<()> {
        let got = match &self.check {
            Check::Digest(want) => {
                let text = std::fs::read_to_string(out)
                    .with_context(|| format!("reading {}", out.display()))?;
                let got = text
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string();
                (got, want)
            }
            Check::Output(want) => (native_sha256(out)?, want),
            Check::Gunzips(want) => (
                native(&format!("gzip -dc '{}' | sha256sum", out.display()))?,
                want,
            ),
        };
        ensure!(
            got.0 == *got.1,
            "{}: the emulated output ({}) is wrong: SHA-256 {} instead of {}",
            self.name,
            out.display(),
            got.0,
            got.1
        );
        Ok(())
    }
}

/// Writes `size` bytes of lowercase words and lines, the same for every call with the same size.
fn write_text(path: &Path, size: u64) -> Result<()> {
    let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let words: Vec<Vec<u8>> = (0..4096)
        .map(|_| {
            let len = 2 + next() % 8;
            (0..len).map(|_| b'a' + (next() % 26) as u8).collect()
        })
        .collect();
    let mut text = Vec::with_capacity(size as usize + 128);
    while (text.len() as u64) < size {
        let count = 3 + next() % 10;
        for i in 0..count {
            if i > 0 {
                text.push(b' ');
            }
            text.extend_from_slice(&words[(next() % words.len() as u64) as usize]);
        }
        text.push(b'\n');
    }
    text.truncate(size as usize);
    let mut file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    file.write_all(&text)
        .with_context(|| format!("writing {}", path.display()))
}

fn native_sha256(path: &Path) -> Result<String> {
    native(&format!("sha256sum < '{}'", path.display()))
}

/// Runs a native shell pipeline and returns the first word of its output.
fn native(script: &str) -> Result<String> {
    let out = Command::new("bash")
        .args(["-o", "pipefail", "-c", script])
        .output()
        .with_context(|| format!("running {script:?}"))?;
    if !out.status.success() {
        bail!(
            "{script:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn the_text_is_the_same_for_the_same_size() -> Result<()> {
        let dir = scratch("text");
        std::fs::create_dir_all(&dir)?;
        let (a, b) = (dir.join("a"), dir.join("b"));
        write_text(&a, 100_000)?;
        write_text(&b, 100_000)?;
        let text = std::fs::read(&a)?;
        assert_eq!(text.len(), 100_000);
        assert_eq!(text, std::fs::read(&b)?);
        assert!(
            text.iter()
                .all(|c| c.is_ascii_lowercase() || b" \n".contains(c))
        );
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    /// Native results pass every check; a wrong output fails it.
    #[test]
    fn checks_accept_right_outputs_and_reject_wrong_ones() -> Result<()> {
        let dir = scratch("checks");
        let steps = prepare(&dir, 256 * 1024)?;
        let out = dir.join("out");
        for step in &steps {
            let (program, args) = step.argv.split_first().context("empty step")?;
            let native = Command::new(program)
                .args(args)
                .env("LC_ALL", "C")
                .output()?;
            assert!(native.status.success(), "{program}");
            std::fs::write(&out, &native.stdout)?;
            step.verify(&out)?;
            // The step's input itself is never its own right output.
            let input = args.last().context("no input")?;
            std::fs::copy(input, &out)?;
            assert!(
                step.verify(&out).is_err(),
                "{} accepted its input",
                step.name
            );
            std::fs::write(&out, b"")?;
            assert!(step.verify(&out).is_err(), "{} accepted nothing", step.name);
        }
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
