//! The binfmt_misc flags, parsed and printed in the kernel's order: `P`, `O`, `C`, `F` (every
//! kernel since 4.8), and `T`, `D`, `L` (Linux >= 7.3; see [`crate::kernel::Features`]).

use std::fmt;
use std::str::FromStr;

/// The flags of a binfmt_misc entry.
///
/// - `P` (`preserve_argv0`): the interpreter also receives the original `argv[0]`.
/// - `O` (`open_binary`): the kernel opens the binary and passes the descriptor to the interpreter.
/// - `C` (`credentials`): credentials come from the binary, not the interpreter; implies `O`.
/// - `F` (`fix_binary`): the interpreter is opened once, at registration, and pinned.
/// - `T` (`transparent`, Linux >= 7.3): argv is passed untouched and the binary through
///   `AT_EXECFD`; `/proc/self/exe` is the binary. The kernel then also sets `O`.
/// - `D` (`register_disabled`, Linux >= 7.3): the entry is created disabled. Write-only: the
///   kernel never prints it back (the entry's first line says `disabled`).
/// - `L` (`loader`, Linux >= 7.3): the interpreter replaces the binary's `PT_INTERP`.
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
    /// `T`: transparent (Linux >= 7.3; the kernel then also sets `O`).
    pub transparent: bool,
    /// `D`: register the entry disabled (Linux >= 7.3; never read back).
    pub register_disabled: bool,
    /// `L`: the interpreter acts as the binary's program loader (Linux >= 7.3).
    pub loader: bool,
}

impl Flags {
    /// No flag at all (an empty `flags:` line).
    pub const NONE: Flags = Flags {
        preserve_argv0: false,
        open_binary: false,
        credentials: false,
        fix_binary: false,
        transparent: false,
        register_disabled: false,
        loader: false,
    };

    /// The flags as the kernel reads them back: `C` and `T` imply `O`; `D` is never shown.
    pub fn normalized(self) -> Flags {
        Flags {
            open_binary: self.open_binary || self.credentials || self.transparent,
            register_disabled: false,
            ..self
        }
    }

    /// Whether any flag only Linux >= 7.3 accepts (`T`, `D`, `L`) is set.
    pub fn needs_linux_7_3(self) -> bool {
        self.transparent || self.register_disabled || self.loader
    }
}

/// A flags string contained a letter that is not a binfmt_misc flag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown binfmt_misc flag {letter:?} in {input:?}: valid flags are P, O, C and F \
     (and T, D, L on Linux >= 7.3)"
)]
pub struct FlagsError {
    /// The offending character.
    pub letter: char,
    /// The whole string that was being parsed.
    pub input: String,
}

impl FromStr for Flags {
    type Err = FlagsError;

    /// Parses any sequence of `P`, `O`, `C`, `F`, `T`, `D`, `L` in any case and order; repeats
    /// are allowed (the kernel accepts them too). The empty string is [`Flags::NONE`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut flags = Flags::NONE;
        for c in s.chars() {
            match c.to_ascii_uppercase() {
                'P' => flags.preserve_argv0 = true,
                'O' => flags.open_binary = true,
                'C' => flags.credentials = true,
                'F' => flags.fix_binary = true,
                'T' => flags.transparent = true,
                'D' => flags.register_disabled = true,
                'L' => flags.loader = true,
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
    /// The letters in the kernel's canonical order `POCFTDL`, without normalization (`C` prints
    /// as `C`; the kernel would print `OC`, see [`Flags::normalized`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let letters = [
            (self.preserve_argv0, 'P'),
            (self.open_binary, 'O'),
            (self.credentials, 'C'),
            (self.fix_binary, 'F'),
            (self.transparent, 'T'),
            (self.register_disabled, 'D'),
            (self.loader, 'L'),
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
            ..Flags::NONE
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
            msg.contains("'X'") && msg.contains("P, O, C and F") && msg.contains("7.3"),
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
    fn linux_7_3_flags() {
        let t: Flags = "t".parse().unwrap();
        assert!(t.transparent && t.needs_linux_7_3());
        assert_eq!(t.normalized().to_string(), "OT", "T reads back with O");
        let dl: Flags = "FDL".parse().unwrap();
        assert_eq!(dl.to_string(), "FDL");
        assert_eq!(dl.normalized().to_string(), "FL", "D is never read back");
        assert!(!f(true, true, true, true).needs_linux_7_3());
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
