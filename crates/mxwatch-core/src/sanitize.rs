//! Strings from the network are made safe before they reach a terminal.

/// Replaces control characters (C0, DEL, C1) and the Unicode bidi overrides
/// with visible escapes, so a hostile banner or TXT record cannot move the
/// cursor, recolour the screen or reorder what a person reads.
pub fn for_terminal(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for c in input.chars() {
        let code = c as u32;
        let bidi = matches!(code, 0x202A..=0x202E | 0x2066..=0x2069 | 0x200E | 0x200F);
        if c.is_control() || bidi {
            if code <= 0xFF {
                out.push_str(&format!("\\x{code:02X}"));
            } else {
                out.push_str(&format!("\\u{{{code:04X}}}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_made_visible() {
        assert_eq!(
            for_terminal("220 mx\x1b[2J ok\r\n"),
            "220 mx\\x1B[2J ok\\x0D\\x0A"
        );
        assert_eq!(for_terminal("a\u{202E}b"), "a\\u{202E}b");
        assert_eq!(for_terminal("bücher"), "bücher");
    }

    use proptest::prelude::*;

    proptest! {
        #[test]
        fn output_has_no_control_characters(input in "\\PC*|[\\x00-\\x1f\\x7f-\\u{9f}]*") {
            prop_assert!(!for_terminal(&input).chars().any(char::is_control));
        }
    }
}
