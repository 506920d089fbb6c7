//! The tables: per target, the median CPU seconds of the whole workload under each build and its
//! ratio to the fastest build for that target; then each step separately, and wall clock.

use elf_magic::Target;
use std::fmt::Write as _;
use std::path::Path;

use super::Run;
use super::builds::Build;
use super::workload::Step;
use crate::bench::{prepare, stats};

/// Everything a report is made of.
pub(crate) struct Inputs<'a> {
    pub(crate) targets: &'a [Target],
    pub(crate) builds: &'a [Build],
    pub(crate) notes: &'a [String],
    pub(crate) steps: &'a [Step],
    /// `[target][build]`, one [`Run`] per round.
    pub(crate) samples: &'a [Vec<Vec<Run>>],
    pub(crate) runs: usize,
    pub(crate) busybox: &'a Path,
}

/// Which figure of a run a table shows.
#[derive(Clone, Copy)]
enum Figure {
    /// CPU of every step.
    Cpu,
    /// Wall clock of every step.
    Wall,
    /// CPU of one step.
    Step(usize),
}

impl Figure {
    fn of(self, run: &Run) -> f64 {
        match self {
            Figure::Cpu => run.iter().map(|s| s.1).sum(),
            Figure::Wall => run.iter().map(|s| s.0).sum(),
            Figure::Step(i) => run.get(i).map_or(0.0, |s| s.1),
        }
    }
}

/// The whole report, markdown.
pub(crate) fn render(i: &Inputs<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}\n", prepare::machine_line());
    let work: Vec<&str> = i.steps.iter().map(|s| s.what.as_str()).collect();
    let _ = writeln!(
        out,
        "Emulated work per target: {} (generated text), by {}, exec'd by its path through a \
         binfmt_misc entry (binfmtd's table row, flag F) registered for one build at a time in a \
         fresh private instance. {} run{} per cell, builds interleaved round by round; figures are \
         medians of the CPU time (user + system) of the emulated processes, and the ratio to the \
         fastest build for that target.\n",
        work.join(", "),
        busybox_version(i.busybox),
        i.runs,
        if i.runs == 1 { "" } else { "s" },
    );
    for b in i.builds {
        let _ = writeln!(out, "- {}: `{}`", b.label, b.dir.display());
    }
    for note in i.notes {
        let _ = writeln!(out, "- {note}");
    }
    out.push('\n');
    table(&mut out, i, Figure::Cpu);
    let _ = writeln!(
        out,
        "\nPer step (CPU, median; ratio to the fastest build):\n"
    );
    let _ = write!(out, "| target | step |");
    for b in i.builds {
        let _ = write!(out, " {} |", b.label);
    }
    let _ = write!(out, "\n| --- | --- |");
    for _ in i.builds {
        out.push_str(" ---: |");
    }
    out.push('\n');
    for (ti, t) in i.targets.iter().enumerate() {
        for (si, step) in i.steps.iter().enumerate() {
            let cells = medians(&i.samples[ti], Figure::Step(si));
            let _ = write!(out, "| {} | {} |", arch(*t), step.name);
            for m in &cells {
                let _ = write!(out, " {} |", cell(*m, &cells));
            }
            out.push('\n');
        }
    }
    let _ = writeln!(out, "\nWall clock of the whole workload (median):\n");
    table(&mut out, i, Figure::Wall);
    out
}

/// Rows: builds; columns: targets; cells: median and ratio to the column's fastest.
fn table(out: &mut String, i: &Inputs<'_>, figure: Figure) {
    let _ = write!(out, "| QEMU build |");
    for t in i.targets {
        let _ = write!(out, " {} |", arch(*t));
    }
    let _ = write!(out, "\n| --- |");
    for _ in i.targets {
        out.push_str(" ---: |");
    }
    out.push('\n');
    let columns: Vec<Vec<f64>> = i
        .samples
        .iter()
        .map(|per_build| medians(per_build, figure))
        .collect();
    for (bi, b) in i.builds.iter().enumerate() {
        let _ = write!(out, "| {} |", b.label);
        for column in &columns {
            let _ = write!(out, " {} |", cell(column[bi], column));
        }
        out.push('\n');
    }
}

fn medians(per_build: &[Vec<Run>], figure: Figure) -> Vec<f64> {
    per_build
        .iter()
        .map(|runs| stats::median(&runs.iter().map(|r| figure.of(r)).collect::<Vec<_>>()))
        .collect()
}

fn cell(value: f64, column: &[f64]) -> String {
    let fastest = column.iter().copied().fold(f64::INFINITY, f64::min);
    format!("{:.2} s ({:.2}×)", value / 1e9, value / fastest.max(1.0))
}

/// The Debian architecture name people know the target by (`arm64`, `armhf`, `ppc64el`).
fn arch(t: Target) -> &'static str {
    t.debian_arch().unwrap_or(t.name())
}

/// `BusyBox v1.37.0 (Debian 1:1.37.0-6+b9)`, read from the binary's own banner.
fn busybox_version(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    let needle = b"BusyBox v";
    // The first banner that carries the package version (`… v1.37.0 (Debian …)`).
    let banner = bytes
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .find_map(|(at, _)| {
            let rest = &bytes[at..bytes.len().min(at + 80)];
            let text = &rest[..rest.iter().position(|&b| b == 0)?];
            text.ends_with(b")")
                .then(|| String::from_utf8_lossy(text).into_owned())
        });
    match banner {
        Some(v) => format!("{v}, Debian 13's static busybox"),
        None => format!("busybox ({})", path.display()),
    }
}
