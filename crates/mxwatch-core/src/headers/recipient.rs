//! Whose MX the message should have entered: the recipient domain, from the
//! fields the delivering hosts add (`Delivered-To`, `X-Original-To`) before the
//! one the sender wrote (`To`).

use mail_parser::{Header, HeaderName, HeaderValue};
use serde::Serialize;

/// An address the header names as the recipient, and the field it came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RecipientAddress {
    pub field: &'static str,
    pub address: String,
}

/// The domain whose MX the analysis uses, and why that one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RecipientDomain {
    /// Lower-case ASCII (A-label) form.
    pub domain: String,
    /// `--domain`, or the field and address it was taken from.
    pub source: String,
}

/// Candidates, best first: every `Delivered-To` (top first: the final delivery), then
/// `X-Original-To`, then the first address of `To`.
pub fn addresses(headers: &[Header<'_>]) -> Vec<RecipientAddress> {
    let mut delivered = Vec::new();
    let mut original = Vec::new();
    let mut to = Vec::new();
    for header in headers {
        match (&header.name, &header.value) {
            (HeaderName::DeliveredTo, value) => {
                delivered.extend(text(value).map(|a| ("Delivered-To", a)))
            }
            (HeaderName::Other(name), value) if name.eq_ignore_ascii_case("X-Original-To") => {
                original.extend(text(value).map(|a| ("X-Original-To", a)))
            }
            (HeaderName::To, HeaderValue::Address(list)) => to.extend(
                list.first()
                    .and_then(|a| a.address())
                    .map(|a| ("To", a.to_string())),
            ),
            _ => {}
        }
    }
    delivered
        .into_iter()
        .chain(original)
        .chain(to.into_iter().take(1))
        .map(|(field, address)| RecipientAddress { field, address })
        .collect()
}

fn text(value: &HeaderValue<'_>) -> Option<String> {
    let text = value.as_text()?.trim();
    let text = text.trim_start_matches('<').trim_end_matches('>').trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// The first candidate whose domain is a domain name.
pub fn choose(candidates: &[RecipientAddress]) -> Option<RecipientDomain> {
    candidates.iter().find_map(|candidate| {
        let (_, domain) = candidate.address.rsplit_once('@')?;
        let parsed = crate::parse_domain_input(domain).ok()?;
        Some(RecipientDomain {
            domain: parsed.domain.ascii,
            source: format!("{}: {}", candidate.field, candidate.address),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(text: &str) -> Option<RecipientDomain> {
        let parsed = super::super::parse(text.as_bytes()).unwrap();
        choose(&parsed.recipients)
    }

    #[test]
    fn delivery_fields_win_over_to() {
        let d = from("To: Bob <bob@to.example>\nDelivered-To: alice@Delivered.Example\n").unwrap();
        assert_eq!(d.domain, "delivered.example");
        assert_eq!(d.source, "Delivered-To: alice@Delivered.Example");
        let d = from("To: bob@to.example\nX-Original-To: <list@orig.example>\n").unwrap();
        assert_eq!(d.domain, "orig.example");
        let d = from("To: \"B\" <bob@to.example>, c@other.example\n").unwrap();
        assert_eq!(d.domain, "to.example");
    }

    #[test]
    fn junk_addresses_are_skipped() {
        let d = from("Delivered-To: no-at-sign\nDelivered-To: x@[192.0.2.1]\nTo: a@ok.example\n");
        assert_eq!(d.unwrap().domain, "ok.example");
        assert_eq!(from("Subject: none\n"), None);
    }
}
