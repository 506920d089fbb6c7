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
    for word in words.iter().map(|w| w.trim()) {
        if word.is_empty() {
            return Err(UsageError(
                "an empty target name: give target names such as arm64, or all (`binfmtd table` \
                 lists them)"
                    .into(),
            ));
        }
        let target: Target = word
            .parse()
            .map_err(|e: elf_magic::UnknownTarget| UsageError(e.to_string()))?;
        if !list.contains(&target) {
            list.push(target);
        }
    }
    Ok(Targets::List(list))
}

/// tonistiigi/binfmt's `--install LIST`: like [`parse_targets`], but an unknown or empty word is
/// not an error: it is returned for a log line ("unsupported architecture"), and the rest is
/// installed.
pub fn parse_targets_leniently(words: &[String]) -> (Targets, Vec<String>) {
    if words.iter().any(|w| w.trim().eq_ignore_ascii_case("all")) {
        return (Targets::All, Vec::new());
    }
    let mut list: Vec<Target> = Vec::new();
    let mut unknown = Vec::new();
    for word in words.iter().map(|w| w.trim()).filter(|w| !w.is_empty()) {
        match word.parse::<Target>() {
            Ok(t) if !list.contains(&t) => list.push(t),
            Ok(_) => {}
            Err(_) => unknown.push(word.to_string()),
        }
    }
    (Targets::List(list), unknown)
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
        let err = parse_targets(&[" ".into()], &configured).unwrap_err();
        assert!(err.0.contains("empty target name"), "{err}");
    }

    #[test]
    fn compat_words_keep_the_unknown_apart() {
        let words = ["arm64", "mips99", "linux/riscv64", ""].map(String::from);
        let (targets, unknown) = parse_targets_leniently(&words);
        assert_eq!(
            targets,
            Targets::List(vec![Target::Aarch64, Target::Riscv64])
        );
        assert_eq!(unknown, ["mips99"]);
        assert_eq!(parse_targets_leniently(&["all".into()]).0, Targets::All);
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
