//! A scan's input, line by line.

use super::seen::SeenDomains;
use mxwatch_core::{ParsedInput, parse_domain_input, sanitize::for_terminal};

/// What one line of the list is.
#[derive(Clone, Debug, PartialEq)]
pub enum ScanItem {
    /// A domain to audit.
    Domain { line: u64, input: ParsedInput },
    /// A line that names no domain: reported with its number, then skipped.
    Malformed {
        line: u64,
        text: String,
        error: String,
    },
    /// A domain already listed on an earlier line: audited once.
    Duplicate {
        line: u64,
        domain: String,
        first_line: u64,
    },
}

impl ScanItem {
    pub fn line(&self) -> u64 {
        match self {
            ScanItem::Domain { line, .. }
            | ScanItem::Malformed { line, .. }
            | ScanItem::Duplicate { line, .. } => *line,
        }
    }
}

/// Turns lines into [`ScanItem`]s. It remembers each domain's first line (to report
/// duplicates): memory grows with the number of distinct domains, 24 bytes each
/// ([`SeenDomains`]).
#[derive(Default)]
pub struct InputReader {
    seen: SeenDomains,
}

/// The longest line read as a domain: anything longer is malformed (a name is at most 253
/// octets; a pasted URL may be longer, but not this long).
pub const MAX_LINE: usize = 4096;

impl InputReader {
    /// The item of line `line` (1-based), or `None` for a blank line or a comment.
    pub fn item(&mut self, line: u64, text: &str) -> Option<ScanItem> {
        let text = text.split('#').next().unwrap_or("").trim();
        if text.is_empty() {
            return None;
        }
        if text.len() > MAX_LINE {
            return Some(ScanItem::Malformed {
                line,
                text: for_terminal(&text.chars().take(80).collect::<String>()) + "…",
                error: format!("a line of {} bytes is not a domain", text.len()),
            });
        }
        match parse_domain_input(text) {
            Err(e) => Some(ScanItem::Malformed {
                line,
                text: for_terminal(text),
                error: e.to_string(),
            }),
            Ok(input) => match self.seen.first_line_or_insert(&input.domain.ascii, line) {
                Some(first_line) => Some(ScanItem::Duplicate {
                    line,
                    domain: input.domain.ascii,
                    first_line,
                }),
                None => Some(ScanItem::Domain { line, input }),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_items() {
        let mut reader = InputReader::default();
        assert_eq!(reader.item(1, "   "), None);
        assert_eq!(reader.item(2, "# a comment"), None);
        let Some(ScanItem::Domain { line, input }) = reader.item(3, "Example.COM. # ours") else {
            panic!("a domain");
        };
        assert_eq!((line, input.domain.ascii.as_str()), (3, "example.com"));
        let Some(ScanItem::Domain { input, .. }) = reader.item(4, "https://www.example.org/x")
        else {
            panic!("a URL's domain");
        };
        assert_eq!(input.domain.ascii, "www.example.org");
        assert_eq!(
            reader.item(5, "postmaster@example.com"),
            Some(ScanItem::Duplicate {
                line: 5,
                domain: "example.com".into(),
                first_line: 3
            })
        );
        let Some(ScanItem::Malformed { line, error, .. }) = reader.item(6, "exa mple..com") else {
            panic!("malformed");
        };
        assert_eq!(line, 6);
        assert!(!error.is_empty());
        let long = "a".repeat(MAX_LINE + 1);
        assert!(matches!(
            reader.item(7, &long),
            Some(ScanItem::Malformed { line: 7, .. })
        ));
    }

    #[test]
    fn control_characters_in_a_bad_line_are_made_visible() {
        let mut reader = InputReader::default();
        let Some(ScanItem::Malformed { text, .. }) = reader.item(1, "bad\u{1b}[2Jname..") else {
            panic!("malformed");
        };
        assert!(!text.contains('\u{1b}'), "{text:?}");
    }
}
