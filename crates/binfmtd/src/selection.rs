//! Turning the words users type (`all`, `arm64`, `linux/arm/v7`, `qemu-*`) into targets and
//! entry names.

use elf_magic::Target;

use crate::commands::UsageError;
use crate::config::Targets;

/// Parses `install`/`plan` arguments: empty means "what the configuration says"; `all` anywhere
/// means all; anything else must be a target name (an unknown one is a usage error that lists
/// the closest names).
pub fn parse_targets(words: &[String], configured: &Targets) -> Result<Targets, UsageError> {
    if words.is_empty() {
        return Ok(configured.clone());
    }
    if words.iter().any(|w| w.eq_ignore_ascii_case("all")) {
        return Ok(Targets::All);
    }
    let mut list: Vec<Target> = Vec::new();
    for word in words.iter().map(|w| w.trim()).filter(|w| !w.is_empty()) {
        let target: Target = word
            .parse()
            .map_err(|e: elf_magic::UnknownTarget| UsageError(e.to_string()))?;
        if !list.contains(&target) {
            list.push(target);
        }
    }
    Ok(Targets::List(list))
}

/// Whether `name` matches a shell-style glob with `*` and `?` (as in `--uninstall qemu-*`).
pub fn glob_matches(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

/// Whether a word is a glob rather than a name.
pub fn is_glob(word: &str) -> bool {
    word.contains(['*', '?'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_from_words() {
        let configured = Targets::All;
        assert_eq!(parse_targets(&[], &configured).unwrap(), Targets::All);
        let words = ["arm64", "linux/arm/v7", "aarch64"].map(String::from);
        assert_eq!(
            parse_targets(&words, &configured).unwrap(),
            Targets::List(vec![Target::Aarch64, Target::Arm])
        );
        assert_eq!(
            parse_targets(&["ALL".into()], &Targets::List(vec![])).unwrap(),
            Targets::All
        );
        let err = parse_targets(&["aarch46".into()], &configured).unwrap_err();
        assert!(err.0.contains("aarch64"), "{err}");
    }

    #[test]
    fn globs() {
        assert!(glob_matches("qemu-*", "qemu-aarch64"));
        assert!(glob_matches("*", ""));
        assert!(glob_matches("qemu-?rm", "qemu-arm"));
        assert!(!glob_matches("qemu-*", "FEX-x86_64"));
        assert!(!glob_matches("qemu-arm", "qemu-armeb"));
        assert!(is_glob("qemu-*") && !is_glob("qemu-arm"));
    }
}
