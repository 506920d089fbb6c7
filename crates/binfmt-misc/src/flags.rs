//! The four binfmt_misc flags (`P`, `O`, `C`, `F`), parsed and printed in the kernel's order.

use std::fmt;
use std::str::FromStr;

/// The flags of a binfmt_misc entry.
///
/// - `P` (`preserve_argv0`): the interpreter also receives the original `argv[0]`.
/// - `O` (`open_binary`): the kernel opens the binary and passes the descriptor to the interpreter.
/// - `C` (`credentials`): credentials come from the binary, not the interpreter; implies `O`.
/// - `F` (`fix_binary`): the interpreter is opened once, at registration, and pinned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags {
    /// `P`: preserve `argv[0]`.
    pub preserve_argv0: bool,
    /// `O`: open the binary and pass its descriptor.
    pub open_binary: bool,
    /// `C`: take credentials from the binary (the kernel then also sets `O`).
    pub credentials: bool,
    /// `F`: open the interpreter at registration time.
    pub fix_binary: bool,
}

impl Flags {
    /// No flag at all (an empty `flags:` line).
    pub const NONE: Flags = Flags {
        preserve_argv0: false,
        open_binary: false,
        credentials: false,
        fix_binary: false,
    };

    /// The flags as the kernel reads them back: `C` implies `O`.
    pub fn normalized(self) -> Flags {
        Flags {
            open_binary: self.open_binary || self.credentials,
            ..self
        }
    }
}

/// A flags string contained a letter that is not one of `P`, `O`, `C`, `F`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown binfmt_misc flag {letter:?} in {input:?}: valid flags are P, O, C and F")]
pub struct FlagsError {
    /// The offending character.
    pub letter: char,
    /// The whole string that was being parsed.
    pub input: String,
}

impl FromStr for Flags {
    type Err = FlagsError;

    /// Parses any sequence of `P`, `O`, `C`, `F` in any case and order; repeats are allowed (the
    /// kernel accepts them too). The empty string is [`Flags::NONE`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut flags = Flags::NONE;
        for c in s.chars() {
            match c.to_ascii_uppercase() {
                'P' => flags.preserve_argv0 = true,
                'O' => flags.open_binary = true,
                'C' => flags.credentials = true,
                'F' => flags.fix_binary = true,
                _ => {
                    return Err(FlagsError {
                        letter: c,
                        input: s.to_string(),
                    });
                }
            }
        }
        Ok(flags)
    }
}

impl fmt::Display for Flags {
    /// The letters in the kernel's canonical order `POCF`, without normalization (`C` prints as
    /// `C`; the kernel would print `OC`, see [`Flags::normalized`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let letters = [
            (self.preserve_argv0, 'P'),
            (self.open_binary, 'O'),
            (self.credentials, 'C'),
            (self.fix_binary, 'F'),
        ];
        for (set, letter) in letters {
            if set {
                write!(f, "{letter}")?;
            }
        }
        Ok(())
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Flags {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Flags {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(p: bool, o: bool, c: bool, fix: bool) -> Flags {
        Flags {
            preserve_argv0: p,
            open_binary: o,
            credentials: c,
            fix_binary: fix,
        }
    }

    #[test]
    fn parses_any_order_and_case() {
        let cases = [
            ("", Flags::NONE),
            ("F", f(false, false, false, true)),
            ("PF", f(true, false, false, true)),
            ("OCF", f(false, true, true, true)),
            ("pocf", f(true, true, true, true)),
            ("FOP", f(true, true, false, true)),
            ("PP", f(true, false, false, false)),
        ];
        for (input, want) in cases {
            assert_eq!(input.parse::<Flags>(), Ok(want), "{input:?}");
        }
    }

    #[test]
    fn rejects_unknown_letters_naming_them() {
        let err = "PX".parse::<Flags>().unwrap_err();
        assert_eq!(err.letter, 'X');
        let msg = err.to_string();
        assert!(
            msg.contains("'X'") && msg.contains("P, O, C and F"),
            "{msg}"
        );
        assert_eq!(" F".parse::<Flags>().unwrap_err().letter, ' ');
    }

    #[test]
    fn displays_in_kernel_order() {
        assert_eq!(f(true, true, true, true).to_string(), "POCF");
        assert_eq!("FOP".parse::<Flags>().unwrap().to_string(), "POF");
        assert_eq!(f(false, false, true, false).to_string(), "C");
        assert_eq!(Flags::NONE.to_string(), "");
    }

    #[test]
    fn credentials_imply_open_binary() {
        let c = f(false, false, true, false);
        assert_eq!(c.normalized(), f(false, true, true, false));
        assert_eq!(c.normalized().to_string(), "OC");
        let p = f(true, false, false, true);
        assert_eq!(p.normalized(), p);
    }

    #[test]
    fn display_parse_round_trip_for_all_sixteen() {
        for bits in 0u8..16 {
            let flags = f(bits & 1 != 0, bits & 2 != 0, bits & 4 != 0, bits & 8 != 0);
            assert_eq!(flags.to_string().parse::<Flags>(), Ok(flags));
        }
    }

    #[cfg(feature = "serde")]
    #[test]
    fn serde_uses_the_kernel_string() {
        let flags = f(true, true, false, true);
        assert_eq!(serde_json::to_string(&flags).unwrap(), "\"POF\"");
        assert_eq!(serde_json::from_str::<Flags>("\"fop\"").unwrap(), flags);
        let err = serde_json::from_str::<Flags>("\"PX\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("'X'"), "{err}");
    }
}
