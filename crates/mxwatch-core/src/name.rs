//! Domain names as users type them, and host names as MX records carry them.
//!
//! Input is forgiving where intent is clear (a pasted URL or e-mail address, a
//! trailing dot, upper case, Unicode) and says so in a note; it is strict and
//! specific where it is not (an empty label, a label over 63 octets, an IP
//! address). Unicode goes through UTS 46 (the `idna` crate); the LDH and length
//! rules of RFC 1035/1123 are checked here so the error can name the label.

use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use thiserror::Error;

pub const MAX_LABEL_OCTETS: usize = 63;
/// RFC 1035 allows 255 octets on the wire, which is 253 characters of text without the trailing dot.
pub const MAX_NAME_CHARS: usize = 253;

/// A domain in both forms: `ascii` (A-labels, lower case, no trailing dot) is
/// what goes on the wire; `unicode` is what a person reads.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DomainName {
    pub ascii: String,
    pub unicode: String,
}

impl DomainName {
    /// Whether the two forms differ (an internationalised name).
    pub fn is_idn(&self) -> bool {
        self.ascii != self.unicode
    }

    /// `bücher.example (xn--bcher-kva.example)` for an IDN, the name alone otherwise.
    pub fn display(&self) -> String {
        if self.is_idn() {
            format!("{} ({})", self.unicode, self.ascii)
        } else {
            self.ascii.clone()
        }
    }
}

/// A domain taken from user input, with what we did to get it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedInput {
    pub domain: DomainName,
    /// Things a user should know: "took the domain from the e-mail address …".
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum NameError {
    #[error("the domain name is empty")]
    Empty,
    #[error("{0:?} is an IP address, not a domain name")]
    IpAddress(String),
    #[error("{0:?} has an empty label (two dots in a row, or a leading dot)")]
    EmptyLabel(String),
    #[error("label {label:?} is {len} octets long; the limit is 63 (RFC 1035 §2.3.4)")]
    LabelTooLong { label: String, len: usize },
    #[error("the name is {0} characters long; the limit is 253 (RFC 1035 §2.3.4)")]
    NameTooLong(usize),
    #[error(
        "label {label:?} contains {found}, which a host name cannot (letters, digits and hyphens only, RFC 1123 §2.1)"
    )]
    InvalidCharacter { label: String, found: String },
    #[error("label {0:?} starts or ends with a hyphen (RFC 1123 §2.1)")]
    HyphenAtEdge(String),
    #[error("{0:?} is not a valid internationalised name (UTS 46)")]
    Idna(String),
    #[error(
        "{0:?} is a top-level domain or public suffix, not a domain someone registers; give a domain under it"
    )]
    PublicSuffix(String),
}

/// Parses one domain as a user gave it on the command line or in a file.
pub fn parse_domain_input(input: &str) -> Result<ParsedInput, NameError> {
    let mut notes = Vec::new();
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(NameError::Empty);
    }
    let host = extract_host(trimmed, &mut notes);
    if host.is_empty() {
        return Err(NameError::Empty);
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<IpAddr>().is_ok() {
        return Err(NameError::IpAddress(bare.to_string()));
    }
    let without_dot = host.strip_suffix('.').unwrap_or(host);
    if without_dot.is_empty() {
        return Err(NameError::Empty);
    }
    if without_dot.split('.').any(str::is_empty) {
        return Err(NameError::EmptyLabel(host.to_string()));
    }
    let ascii = to_ascii(without_dot)?;
    check_host_syntax(&ascii)?;
    if looks_like_ipv4(&ascii) {
        return Err(NameError::IpAddress(ascii));
    }
    if psl::domain(ascii.as_bytes()).is_none() {
        // A suffix in the list's private section (github.io, blogspot.com …) is also a real
        // domain its operator runs; only ICANN suffixes and bare labels are refused.
        let private =
            psl::suffix(ascii.as_bytes()).is_some_and(|s| s.typ() == Some(psl::Type::Private));
        if !private {
            return Err(NameError::PublicSuffix(ascii));
        }
        notes.push(format!(
            "{ascii} is a suffix in the private section of the public suffix list"
        ));
    }
    let unicode = to_unicode(&ascii);
    if unicode != ascii {
        notes.push(format!(
            "internationalised name {unicode} is checked as {ascii}"
        ));
    }
    Ok(ParsedInput {
        domain: DomainName { ascii, unicode },
        notes,
    })
}

/// Takes the host out of a pasted URL or e-mail address.
fn extract_host<'a>(input: &'a str, notes: &mut Vec<String>) -> &'a str {
    if let Some((scheme, rest)) = input.split_once("://") {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let host = if host_port.starts_with('[') {
            host_port.split_inclusive(']').next().unwrap_or(host_port)
        } else {
            host_port.split(':').next().unwrap_or(host_port)
        };
        notes.push(format!("took the domain {host} from the {scheme} URL"));
        return host;
    }
    if let Some(rest) = input.strip_prefix("mailto:") {
        return extract_host(rest, notes);
    }
    if let Some((_, domain)) = input.rsplit_once('@') {
        notes.push(format!("took the domain {domain} from the e-mail address"));
        return domain;
    }
    input
}

fn to_ascii(name: &str) -> Result<String, NameError> {
    idna::uts46::Uts46::new()
        .to_ascii(
            name.as_bytes(),
            idna::uts46::AsciiDenyList::EMPTY,
            idna::uts46::Hyphens::Allow,
            idna::uts46::DnsLength::Ignore,
        )
        .map(|cow| cow.into_owned())
        .map_err(|_| NameError::Idna(name.to_string()))
}

/// The Unicode form of an A-label name, or the name itself when it does not decode.
pub fn to_unicode(ascii: &str) -> String {
    let (unicode, result) = idna::domain_to_unicode(ascii);
    if result.is_ok() {
        unicode
    } else {
        ascii.to_string()
    }
}

/// Checks the RFC 1035/1123 rules for a host name in ASCII form (no trailing dot).
pub fn check_host_syntax(ascii: &str) -> Result<(), NameError> {
    if ascii.len() > MAX_NAME_CHARS {
        return Err(NameError::NameTooLong(ascii.len()));
    }
    for label in ascii.split('.') {
        if label.is_empty() {
            return Err(NameError::EmptyLabel(ascii.to_string()));
        }
        if label.len() > MAX_LABEL_OCTETS {
            return Err(NameError::LabelTooLong {
                label: label.to_string(),
                len: label.len(),
            });
        }
        if let Some(bad) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            return Err(NameError::InvalidCharacter {
                label: label.to_string(),
                found: describe_char(bad),
            });
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(NameError::HyphenAtEdge(label.to_string()));
        }
    }
    Ok(())
}

/// Four all-digit labels, each at most 255: an IPv4 address written as a name.
pub fn looks_like_ipv4(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    let labels: Vec<&str> = name.split('.').collect();
    labels.len() == 4
        && labels
            .iter()
            .all(|l| !l.is_empty() && l.len() <= 3 && l.parse::<u16>().is_ok_and(|n| n <= 255))
}

fn describe_char(c: char) -> String {
    match c {
        ' ' => "a space".to_string(),
        '_' => "an underscore".to_string(),
        c if c.is_control() => format!("the control character U+{:04X}", c as u32),
        c => format!("{c:?}"),
    }
}

/// RFC 6125 §6.4 matching of a host against certificate DNS names: exact, or a
/// wildcard as the whole leftmost label standing for exactly one label.
pub fn cert_name_matches(dns_names: &[String], host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    dns_names.iter().any(|pattern| {
        let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
        if pattern == host {
            return true;
        }
        match (pattern.strip_prefix("*."), host.split_once('.')) {
            (Some(suffix), Some((label, rest))) => {
                !label.is_empty() && rest == suffix && suffix.contains('.')
            }
            _ => false,
        }
    })
}

/// The registrable domain and public suffix of a host name, from the compiled-in public suffix list.
pub fn registrable_domain(ascii: &str) -> Option<(String, String)> {
    let domain = psl::domain(ascii.as_bytes())?;
    let registrable = std::str::from_utf8(domain.as_bytes()).ok()?.to_string();
    let suffix = std::str::from_utf8(domain.suffix().as_bytes())
        .ok()?
        .to_string();
    Some((registrable, suffix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(input: &str) -> ParsedInput {
        parse_domain_input(input).unwrap_or_else(|e| panic!("{input:?}: {e}"))
    }

    #[test]
    fn plain_names_are_lowercased_and_lose_the_trailing_dot() {
        assert_eq!(ok("Example.COM.").domain.ascii, "example.com");
        assert!(ok("example.com").notes.is_empty());
    }

    #[test]
    fn idns_are_shown_in_both_forms() {
        let parsed = ok("Bücher.example");
        assert_eq!(parsed.domain.ascii, "xn--bcher-kva.example");
        assert_eq!(parsed.domain.unicode, "bücher.example");
        assert!(parsed.domain.is_idn());
        assert_eq!(ok("xn--bcher-kva.example").domain.unicode, "bücher.example");
    }

    #[test]
    fn urls_and_email_addresses_give_their_domain_with_a_note() {
        let parsed = ok("https://user@Mail.Example.org:8443/path?q=1");
        assert_eq!(parsed.domain.ascii, "mail.example.org");
        assert!(parsed.notes[0].contains("URL"), "{:?}", parsed.notes);
        let parsed = ok("postmaster@example.net");
        assert_eq!(parsed.domain.ascii, "example.net");
        assert!(parsed.notes[0].contains("e-mail"));
        assert_eq!(ok("mailto:a@b.example.net").domain.ascii, "b.example.net");
    }

    #[test]
    fn bad_input_gets_a_specific_error() {
        assert_eq!(parse_domain_input("   "), Err(NameError::Empty));
        assert_eq!(parse_domain_input("."), Err(NameError::Empty));
        assert!(matches!(
            parse_domain_input("a..example.com"),
            Err(NameError::EmptyLabel(_))
        ));
        assert!(matches!(
            parse_domain_input(".example.com"),
            Err(NameError::EmptyLabel(_))
        ));
        let long_label = format!("{}.com", "a".repeat(64));
        assert!(matches!(
            parse_domain_input(&long_label),
            Err(NameError::LabelTooLong { len: 64, .. })
        ));
        let long_name = format!("{}com", "abcdefghi.".repeat(26));
        assert!(matches!(
            parse_domain_input(&long_name),
            Err(NameError::NameTooLong(_))
        ));
        assert!(matches!(
            parse_domain_input("192.0.2.1"),
            Err(NameError::IpAddress(_))
        ));
        assert!(matches!(
            parse_domain_input("[2001:db8::1]"),
            Err(NameError::IpAddress(_))
        ));
        assert!(matches!(
            parse_domain_input("com"),
            Err(NameError::PublicSuffix(_))
        ));
        assert!(matches!(
            parse_domain_input("co.uk"),
            Err(NameError::PublicSuffix(_))
        ));
        assert!(matches!(
            parse_domain_input("exa mple.com"),
            Err(NameError::InvalidCharacter { .. })
        ));
        assert!(matches!(
            parse_domain_input("-bad.com"),
            Err(NameError::HyphenAtEdge(_))
        ));
    }

    #[test]
    fn errors_name_what_is_wrong() {
        let err = parse_domain_input(&format!("{}.com", "x".repeat(70))).unwrap_err();
        assert!(err.to_string().contains("70 octets"), "{err}");
    }

    #[test]
    fn unknown_tlds_follow_the_default_rule() {
        assert_eq!(ok("healthy.test").domain.ascii, "healthy.test");
        assert_eq!(
            registrable_domain("mx.lapsed-provider.test"),
            Some(("lapsed-provider.test".into(), "test".into()))
        );
        assert_eq!(
            registrable_domain("mx1.mail.example.co.uk"),
            Some(("example.co.uk".into(), "co.uk".into()))
        );
    }

    #[test]
    fn host_syntax_rejects_underscores() {
        assert!(check_host_syntax("mail_server.example.com").is_err());
        assert!(check_host_syntax("mx-1.example.com").is_ok());
        assert!(looks_like_ipv4("127.0.1.30"));
        assert!(!looks_like_ipv4("127.0.1.300"));
        assert!(!looks_like_ipv4("mx.127.0.1"));
    }

    use proptest::prelude::*;

    proptest! {
        #[test]
        fn never_panics(input in "\\PC{0,300}") {
            let _ = parse_domain_input(&input);
        }

        #[test]
        fn accepted_names_satisfy_the_limits(input in "[a-zA-Z0-9.-]{1,270}") {
            if let Ok(parsed) = parse_domain_input(&input) {
                prop_assert!(parsed.domain.ascii.len() <= MAX_NAME_CHARS);
                prop_assert!(parsed.domain.ascii.split('.').all(|l| !l.is_empty() && l.len() <= 63));
            }
        }
    }
}
