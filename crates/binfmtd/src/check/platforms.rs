//! The OCI platforms a set of check results supports, as tonistiigi/binfmt's `supported` lists
//! them: the canonical platform of every target that executes, plus the variants people select
//! (`linux/amd64/v2`…`v4` as far as the CPU has them, `linux/arm/v7` and `linux/arm/v6`).

use elf_magic::Target;

use super::{State, TargetCheck};

/// The x86-64 micro-architecture levels (`v2`, `v3`, `v4`) a CPU with these `/proc/cpuinfo`
/// flags runs, as defined by the x86-64 psABI.
pub fn x86_64_levels(flags: &[&str]) -> Vec<&'static str> {
    const V2: &[&str] = &["cx16", "lahf_lm", "popcnt", "sse4_1", "sse4_2", "ssse3"];
    const V3: &[&str] = &[
        "avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave",
    ];
    const V4: &[&str] = &["avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"];
    let has = |set: &[&str]| set.iter().all(|f| flags.contains(f));
    let mut levels = Vec::new();
    for (name, set) in [("v2", V2), ("v3", V3), ("v4", V4)] {
        if !has(set) {
            break;
        }
        levels.push(name);
    }
    levels
}

/// The flags of the first CPU in `/proc/cpuinfo` (empty when unreadable or not x86).
pub fn cpu_flags() -> Vec<String> {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("flags"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, f)| f.split_whitespace().map(str::to_string).collect())
        })
        .unwrap_or_default()
}

/// The platforms `checks` support. x86-64 levels are listed only when x86_64 runs natively (the
/// CPU's flags say which); under emulation only `linux/amd64` is claimed.
pub fn supported(checks: &[TargetCheck], cpu_flags: &[&str]) -> Vec<&'static str> {
    let mut out = Vec::new();
    for c in checks.iter().filter(|c| c.executes()) {
        let platforms = c.target.platforms();
        let Some(&canonical) = platforms.first() else {
            continue;
        };
        match c.target {
            Target::X86_64 => {
                out.push(canonical);
                if c.state == State::Native {
                    let levels = x86_64_levels(cpu_flags);
                    out.extend(
                        platforms
                            .iter()
                            .filter(|p| levels.iter().any(|l| p.ends_with(l))),
                    );
                }
            }
            Target::Arm => out.extend(["linux/arm/v7", "linux/arm/v6"]),
            _ => out.push(canonical),
        }
    }
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{Failure, Scope};

    fn result(target: Target, state: State) -> TargetCheck {
        TargetCheck {
            target,
            state,
            entry: None,
            interpreter: None,
            failure: (state == State::Fails).then_some(Failure::NoEntry),
            reason: None,
            fix: None,
            scope: Scope::Host,
        }
    }

    #[test]
    fn levels_follow_the_psabi() {
        let v2 = ["cx16", "lahf_lm", "popcnt", "sse4_1", "sse4_2", "ssse3"];
        assert_eq!(x86_64_levels(&v2), ["v2"]);
        assert!(x86_64_levels(&v2[1..]).is_empty());
        let mut v3 = v2.to_vec();
        v3.extend([
            "avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave",
        ]);
        assert_eq!(x86_64_levels(&v3), ["v2", "v3"]);
        let mut v4 = v3.clone();
        v4.extend(["avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"]);
        assert_eq!(x86_64_levels(&v4), ["v2", "v3", "v4"]);
        let mut gap = v2.to_vec();
        gap.extend(["avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"]);
        assert_eq!(x86_64_levels(&gap), ["v2"], "v4 needs v3");
    }

    #[test]
    fn only_what_executes_with_its_variants() {
        let flags = ["cx16", "lahf_lm", "popcnt", "sse4_1", "sse4_2", "ssse3"];
        let checks = [
            result(Target::X86_64, State::Native),
            result(Target::I386, State::Native),
            result(Target::Arm, State::Works),
            result(Target::Aarch64, State::Works),
            result(Target::Riscv64, State::Fails),
            result(Target::Hexagon, State::Works),
        ];
        assert_eq!(
            supported(&checks, &flags),
            [
                "linux/amd64",
                "linux/amd64/v2",
                "linux/386",
                "linux/arm/v7",
                "linux/arm/v6",
                "linux/arm64"
            ]
        );
        let emulated = [result(Target::X86_64, State::Works)];
        assert_eq!(supported(&emulated, &flags), ["linux/amd64"]);
    }
}
