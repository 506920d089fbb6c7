//! Hex strings for `magic` and `mask`: pairs of hex digits as `binfmtd table --json` prints them,
//! whitespace allowed anywhere between digits (`"7f 45 4c 46"`), either case.

/// Decodes `text`; the error says which character is wrong or that a digit is missing.
pub(super) fn decode(text: &str) -> Result<Vec<u8>, String> {
    let mut digits = Vec::with_capacity(text.len());
    for (i, c) in text.chars().enumerate() {
        if c.is_ascii_whitespace() {
            continue;
        }
        match c.to_digit(16) {
            // `to_digit(16)` is < 16, so it fits a byte.
            Some(d) => digits.push(d as u8),
            None => {
                return Err(format!(
                    "`{c}` (character {}) is not a hex digit; write bytes as hex pairs like \"7f454c46\"",
                    i + 1
                ));
            }
        }
    }
    if digits.len() % 2 != 0 {
        return Err(format!(
            "odd number of hex digits ({}); write every byte as two digits, e.g. \"0f\" not \"f\"",
            digits.len()
        ));
    }
    Ok(digits
        .chunks(2)
        .map(|pair| pair[0] << 4 | pair[1])
        .collect())
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn decodes_pairs_with_spaces_and_either_case() {
        assert_eq!(decode("7f454c46").unwrap(), b"\x7fELF");
        assert_eq!(decode(" 7F 45\t4c 46 ").unwrap(), b"\x7fELF");
        assert_eq!(decode("").unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn rejects_bad_digits_and_odd_counts() {
        let err = decode("7f4g").unwrap_err();
        assert!(
            err.starts_with("`g` (character 4) is not a hex digit;"),
            "{err}"
        );
        let err = decode("7f 4").unwrap_err();
        assert!(err.starts_with("odd number of hex digits (3);"), "{err}");
        assert!(decode("0x7f").is_err());
    }
}
