//! What a guest's consoles (one per boot) must contain: every assertion passed, every step of the
//! issue asserted something, every phase ran, and the last one reached the end marker. Pure: the
//! console text in, the result lines out.

use crate::vm::report::Outcome;

/// The steps: issue 12's seven, and 8, issue 14's bug 9 (a persisted install booted with a small
/// store); each must have at least one assertion, `PASS (N) …` / `FAIL (N) …`.
pub(crate) const STEPS: [u32; 8] = [1, 2, 3, 4, 5, 6, 7, 8];
/// The phases (boots) the scenario runs; each announces itself with `INFO phase N: …`.
pub(crate) const PHASES: [u32; 4] = [1, 2, 3, 4];
/// Printed by a phase that ends with a reboot (the host boots the disk again).
pub(crate) const REBOOT: &str = "VMSYS-REBOOT";

/// Expected lines that are missing from `outcome`, as FAIL texts.
pub(crate) fn missing(outcome: &Outcome) -> Vec<String> {
    let mut out = Vec::new();
    for phase in PHASES {
        let mark = format!("phase {phase}:");
        if !outcome.info.iter().any(|i| i.starts_with(&mark)) {
            out.push(format!(
                "phase {phase} never started (no `INFO phase {phase}:` line)"
            ));
        }
    }
    for step in STEPS {
        let mark = format!("({step}) ");
        if !outcome.lines.iter().any(|l| l.text.starts_with(&mark)) {
            out.push(format!("({step}) step {step} asserted nothing"));
        }
    }
    out
}

/// The boot figures (`INFO figure …`), without the prefix.
pub(crate) fn figures(outcome: &Outcome) -> Vec<String> {
    outcome
        .info
        .iter()
        .filter_map(|i| i.strip_prefix("figure "))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_steps() -> String {
        let mut s =
            String::from("INFO phase 1: x\nINFO phase 2: x\nINFO phase 3: x\nINFO phase 4: x\n");
        for step in STEPS {
            s.push_str(&format!("PASS ({step}) something\n"));
        }
        s.push_str("INFO figure exposure: 1.9 OK\nVMTEST-END\n");
        s
    }

    #[test]
    fn a_complete_run_misses_nothing_and_keeps_its_figures() {
        let o = Outcome::parse(&all_steps());
        assert!(o.passed());
        assert!(missing(&o).is_empty());
        assert_eq!(figures(&o), ["exposure: 1.9 OK"]);
    }

    #[test]
    fn a_step_without_assertion_or_a_phase_that_never_ran_is_missing() {
        let text = all_steps()
            .replace("PASS (6) something\n", "")
            .replace("INFO phase 3: x\n", "");
        let m = missing(&Outcome::parse(&text));
        assert_eq!(m.len(), 2, "{m:?}");
        assert!(m[0].contains("phase 3"));
        assert!(m[1].starts_with("(6) "));
    }
}
