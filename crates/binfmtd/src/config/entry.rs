//! `[[entry]]` → `binfmt_misc::Rule`: one extra, non-QEMU entry, checked as the kernel would.
//!
//! Errors point at the offending key: the hex string, the mask, the extension, or (for the
//! kernel's own rules, via `RuleError`) the name, magic, extension or interpreter.

use std::ops::Range;
use std::path::PathBuf;

use binfmt_misc::{Flags, Matcher, Rule, RuleError};
use toml::Spanned;

use super::error::{ConfigError, Source};
use super::hex;
use super::schema::EntryFragment;

/// Builds and validates the rule of one `[[entry]]` table.
pub(super) fn entry_rule(
    src: &Source,
    entry: &Spanned<EntryFragment>,
) -> Result<Rule, ConfigError> {
    let e = entry.get_ref();
    let name = e.name.get_ref();
    let at = |span: &Range<usize>, what: String| src.error(span, format!("entry `{name}`: {what}"));
    let matcher = match (&e.magic, &e.extension) {
        (Some(_), Some(ext)) => {
            let what = "`magic` and `extension` exclude each other; keep one of them".to_string();
            return Err(at(&ext.span(), what));
        }
        (None, None) => {
            let what = "no `magic` and no `extension`; give one of them".to_string();
            return Err(at(&e.name.span(), what));
        }
        (None, Some(ext)) => {
            for (key, span) in [
                ("mask", e.mask.as_ref().map(Spanned::span)),
                ("offset", e.offset.as_ref().map(Spanned::span)),
            ] {
                if let Some(span) = span {
                    let what =
                        format!("`{key}` only applies to `magic`, not `extension`; remove it");
                    return Err(at(&span, what));
                }
            }
            Matcher::Extension(ext.get_ref().clone())
        }
        (Some(magic), None) => {
            let decode = |key: &str, s: &Spanned<String>| {
                hex::decode(s.get_ref())
                    .map_err(|err| at(&s.span(), format!("bad hex in `{key}`: {err}")))
            };
            let magic_bytes = decode("magic", magic)?;
            let mask = match &e.mask {
                Some(m) => {
                    let bytes = decode("mask", m)?;
                    if bytes.len() != magic_bytes.len() {
                        let what = format!(
                            "`mask` has {} bytes but `magic` has {}; give exactly one mask byte per magic byte",
                            bytes.len(),
                            magic_bytes.len()
                        );
                        return Err(at(&m.span(), what));
                    }
                    Some(bytes)
                }
                None => None,
            };
            let offset = e.offset.as_ref().map_or(0, |o| *o.get_ref());
            Matcher::Magic {
                offset,
                magic: magic_bytes,
                mask,
            }
        }
    };
    let flags = match &e.flags {
        Some(f) => super::layer::parse_flags(src, f)?,
        None => Flags::NONE,
    };
    let rule = Rule {
        name: name.clone(),
        matcher,
        interpreter: PathBuf::from(e.interpreter.get_ref()),
        flags,
    };
    if let Err(err) = binfmt_misc::encode(&rule) {
        let span = rule_error_span(entry, &err);
        return Err(src.error(&span, format!("entry `{name}`: {err}")));
    }
    Ok(rule)
}

/// The key a kernel rule violation is about.
fn rule_error_span(entry: &Spanned<EntryFragment>, err: &RuleError) -> Range<usize> {
    let e = entry.get_ref();
    let of = |s: &Option<Spanned<String>>| s.as_ref().map_or_else(|| e.name.span(), Spanned::span);
    match err {
        RuleError::EmptyMagic { .. } | RuleError::MaskLength { .. } => of(&e.magic),
        RuleError::MagicOutOfBuffer { .. } => e
            .offset
            .as_ref()
            .map_or_else(|| of(&e.magic), Spanned::span),
        RuleError::EmptyExtension { .. } | RuleError::BadExtension { .. } => of(&e.extension),
        RuleError::EmptyInterpreter { .. }
        | RuleError::RelativeInterpreter { .. }
        | RuleError::BadInterpreter { .. } => e.interpreter.span(),
        _ => e.name.span(),
    }
}
