//! Strings from the network are made safe before they reach a terminal.
//!
//! One classifier, [`is_unsafe_for_terminal`], decides which characters may not reach a
//! terminal raw; [`for_terminal`] escapes them in text, [`json_for_terminal`] in JSON text.

use std::fmt::Write as _;

/// Whether `c` must not reach a terminal as it is: a control character (C0, DEL, C1) or a
/// Unicode bidi override, isolate or mark (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F),
/// which can move the cursor, recolour the screen or reorder what a person reads.
pub fn is_unsafe_for_terminal(c: char) -> bool {
    let bidi = matches!(
        c as u32,
        0x202A..=0x202E | 0x2066..=0x2069 | 0x200E | 0x200F
    );
    c.is_control() || bidi
}

/// Replaces control characters (C0, DEL, C1) and the Unicode bidi overrides
/// with visible escapes, so a hostile banner or TXT record cannot move the
/// cursor, recolour the screen or reorder what a person reads.
pub fn for_terminal(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for c in input.chars() {
        if is_unsafe_for_terminal(c) {
            let code = c as u32;
            if code <= 0xFF {
                let _ = write!(out, "\\x{code:02X}");
            } else {
                let _ = write!(out, "\\u{{{code:04X}}}");
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// JSON text with every character [`is_unsafe_for_terminal`] flags, other than the newlines of
/// pretty-printing, written as a `\uXXXX` escape: serde_json leaves DEL, the C1 controls and
/// the bidi overrides raw inside strings, and escaped they are the same JSON and harmless on a
/// terminal. (Raw C0 controls other than newline cannot occur in valid JSON text's strings.)
pub fn json_for_terminal(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c != '\n' && is_unsafe_for_terminal(c) {
            // Outside the BMP nothing is a control or bidi character, so one escape suffices.
            let _ = write!(out, "\\u{:04x}", c as u32);
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

    #[test]
    fn the_classifier_covers_controls_del_c1_and_bidi_and_nothing_else() {
        for c in ['\x00', '\x1b', '\n', '\x7f', '\u{80}', '\u{9b}', '\u{9f}'] {
            assert!(is_unsafe_for_terminal(c), "{c:?}");
        }
        for code in (0x202A..=0x202E)
            .chain(0x2066..=0x2069)
            .chain([0x200E, 0x200F])
        {
            assert!(is_unsafe_for_terminal(char::from_u32(code).unwrap()));
        }
        for c in [
            ' ', 'a', 'ü', '\u{a0}', '\u{200b}', '\u{2029}', '\u{2070}', '😀',
        ] {
            assert!(!is_unsafe_for_terminal(c), "{c:?}");
        }
    }

    #[test]
    fn json_stays_json_and_loses_its_control_characters() {
        let value = serde_json::json!({ "raw": "a\u{7f}b\u{9b}c\u{202e}d\u{1b}e\u{2066}f" });
        let pretty = serde_json::to_string_pretty(&value).unwrap();
        let text = json_for_terminal(&pretty);
        assert!(!text.chars().any(|c| c != '\n' && is_unsafe_for_terminal(c)));
        assert!(!text.contains('\u{202e}'));
        assert_eq!(text.lines().count(), pretty.lines().count());
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, value);
        assert_eq!(
            json_for_terminal("{\"a\": \"bücher\"}"),
            "{\"a\": \"bücher\"}"
        );
    }

    use proptest::prelude::*;

    proptest! {
        #[test]
        fn output_has_no_control_characters(input in "\\PC*|[\\x00-\\x1f\\x7f-\\u{9f}]*") {
            prop_assert!(!for_terminal(&input).chars().any(char::is_control));
        }

        #[test]
        fn output_has_nothing_unsafe_and_safe_text_is_untouched(input in "\\PC*|[\\x00-\\x1f\\x7f-\\u{9f}\\u{200e}\\u{202a}-\\u{202e}\\u{2066}-\\u{2069}a]*") {
            let out = for_terminal(&input);
            prop_assert!(!out.chars().any(is_unsafe_for_terminal));
            if !input.chars().any(is_unsafe_for_terminal) {
                prop_assert_eq!(out, input);
            }
        }
    }
}
