//! Property tests: the encoder's output decodes (as the kernel decodes it) to the rule; the
//! kernel's read-back text parses to the rule; overlap is symmetric and has a witness.

use std::path::{Path, PathBuf};

use binfmt_misc::{BUF_SIZE, Entry, Flags, MAX_REGISTER_LEN, Matcher, Rule, encode, parse_entry};
use proptest::prelude::*;

use crate::common::{decode_register_line, decoded_rule};

fn flags() -> impl Strategy<Value = Flags> {
    (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(p, o, c, f)| Flags {
        preserve_argv0: p,
        open_binary: o,
        credentials: c,
        fix_binary: f,
        ..Flags::NONE
    })
}

fn magic_matcher() -> impl Strategy<Value = Matcher> {
    (0usize..BUF_SIZE)
        .prop_flat_map(|offset| {
            let max = (BUF_SIZE - offset).min(48);
            (Just(offset), prop::collection::vec(any::<u8>(), 1..=max))
        })
        .prop_flat_map(|(offset, magic)| {
            let n = magic.len();
            (
                Just(offset),
                Just(magic),
                prop::option::of(prop::collection::vec(any::<u8>(), n)),
            )
        })
        .prop_map(|(offset, magic, mask)| Matcher::Magic {
            offset,
            magic,
            mask,
        })
}

fn matcher() -> impl Strategy<Value = Matcher> {
    prop_oneof![3 => magic_matcher(), 1 => "[a-zA-Z0-9_:#,-]{1,12}".prop_map(Matcher::Extension)]
}

fn rule() -> impl Strategy<Value = Rule> {
    let name = "[a-zA-Z0-9_.:#,+-]{1,40}".prop_filter("reserved", |n| {
        !matches!(n.as_str(), "." | ".." | "status" | "register")
    });
    let interpreter = "(/[a-zA-Z0-9 :#,|;._-]{1,30}){1,5}".prop_map(PathBuf::from);
    (name, matcher(), interpreter, flags()).prop_map(|(name, matcher, interpreter, flags)| Rule {
        name,
        matcher,
        interpreter,
        flags,
    })
}

proptest! {
    #[test]
    fn encode_decodes_to_the_rule(r in rule()) {
        let line = encode(&r).unwrap();
        prop_assert!(line.len() <= MAX_REGISTER_LEN);
        prop_assert_eq!(line.iter().filter(|&&b| b == line[0]).count(), 7);
        let decoded = decode_register_line(&line);
        prop_assert!(decoded.is_some(), "the kernel would reject {:?}", String::from_utf8_lossy(&line));
        let back = decoded_rule(&decoded.unwrap());
        prop_assert_eq!(back, r);
    }

    #[test]
    fn kernel_text_parses_to_the_rule(r in rule(), enabled in any::<bool>()) {
        let entry = Entry { enabled, ..Entry::from_rule(&r) };
        let parsed = parse_entry(&r.name, &entry.to_kernel_text()).unwrap();
        prop_assert_eq!(&parsed, &entry);
        prop_assert_eq!(parsed.differences(&r).is_empty(), enabled);
    }

    #[test]
    fn bad_mask_lengths_are_never_encoded(r in rule(), extra in 1usize..4) {
        if let Matcher::Magic { offset, magic, .. } = r.matcher.clone() {
            let mask = Some(vec![0xff; magic.len() + extra]);
            let bad = Rule { matcher: Matcher::Magic { offset, magic, mask }, ..r };
            prop_assert!(encode(&bad).is_err());
        }
    }

    #[test]
    fn overlap_is_symmetric_and_has_a_witness(a in magic_matcher(), b in magic_matcher()) {
        prop_assert_eq!(a.overlaps(&b), b.overlaps(&a));
        let witness = witness(&a, &b);
        let x = Path::new("x");
        prop_assert_eq!(a.overlaps(&b), a.matches(x, &witness) && b.matches(x, &witness));
        prop_assert!(a.matches(x, &witness_of(&a)));
    }
}

/// The header that matches `a` where it cares, and then `b` where it cares and `a` does not.
fn witness(a: &Matcher, b: &Matcher) -> Vec<u8> {
    let mut header = vec![0u8; BUF_SIZE];
    let mut fixed = vec![0u8; BUF_SIZE];
    for m in [a, b] {
        if let Matcher::Magic {
            offset,
            magic,
            mask,
        } = m
        {
            for (j, &byte) in magic.iter().enumerate() {
                let bits = mask.as_ref().map_or(0xff, |k| k[j]) & !fixed[offset + j];
                header[offset + j] = (header[offset + j] & !bits) | (byte & bits);
                fixed[offset + j] |= bits;
            }
        }
    }
    header
}

fn witness_of(m: &Matcher) -> Vec<u8> {
    witness(m, m)
}
