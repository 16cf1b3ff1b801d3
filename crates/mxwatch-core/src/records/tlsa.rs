//! TLSA records (RFC 6698) as SMTP uses them (RFC 7672): a pure parser of the RDATA,
//! the usability rules for SMTP, and matching against a presented certificate chain.
//!
//! Hand-written because it is small and must be total: hickory-proto decodes TLSA, but
//! the checks need to judge records hickory would accept (usage 0/1, wrong digest
//! lengths) and the core crate has no DNS library.

use crate::observation::smtp::Certificate;
use serde::{Deserialize, Serialize};

/// One TLSA record: usage, selector, matching type and the association data (hex).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsaRecord {
    pub usage: u8,
    pub selector: u8,
    pub matching: u8,
    /// The certificate association data, lower-case hex.
    pub data: String,
    /// For matching type 0 (the full certificate or SPKI): the SHA-256 of the data, hex, filled
    /// by the collector so a full match can be judged against the chain's digests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_sha256: Option<String>,
}

/// Largest association data we keep: a full certificate is a few kB; more is hostile.
pub const MAX_TLSA_DATA: usize = 16 * 1024;

/// Why a TLSA record cannot be used for SMTP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unusable {
    /// PKIX-TA(0) and PKIX-EE(1) are not used for SMTP (RFC 7672 §3.1.3).
    PkixUsage(u8),
    UnknownUsage(u8),
    UnknownSelector(u8),
    UnknownMatching(u8),
    /// The digest length does not fit the matching type (32 for SHA-256, 64 for SHA-512).
    WrongDigestLength {
        matching: u8,
        len: usize,
    },
    /// No association data at all.
    Empty,
}

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unusable::PkixUsage(u) => write!(
                f,
                "usage {u} (PKIX) is not used for SMTP (RFC 7672 §3.1.3): use 3 (DANE-EE) or 2 (DANE-TA)"
            ),
            Unusable::UnknownUsage(u) => write!(f, "unknown certificate usage {u}"),
            Unusable::UnknownSelector(s) => write!(f, "unknown selector {s}"),
            Unusable::UnknownMatching(m) => write!(f, "unknown matching type {m}"),
            Unusable::WrongDigestLength { matching, len } => write!(
                f,
                "matching type {matching} needs a {}-byte digest, the record has {len} bytes",
                if *matching == 1 { 32 } else { 64 }
            ),
            Unusable::Empty => write!(f, "no certificate association data"),
        }
    }
}

/// Why bytes are not a TLSA RDATA at all.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TlsaError {
    #[error("TLSA RDATA of {0} bytes is shorter than its 3 fixed fields")]
    TooShort(usize),
    #[error("TLSA association data of {0} bytes is over the {MAX_TLSA_DATA}-byte limit")]
    TooLong(usize),
    #[error("not a TLSA record in presentation form: {0}")]
    Presentation(String),
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl TlsaRecord {
    /// Parses TLSA RDATA (RFC 6698 §2.1): usage, selector, matching type, data. Total on any bytes.
    pub fn from_rdata(rdata: &[u8]) -> Result<TlsaRecord, TlsaError> {
        let [usage, selector, matching, data @ ..] = rdata else {
            return Err(TlsaError::TooShort(rdata.len()));
        };
        if data.len() > MAX_TLSA_DATA {
            return Err(TlsaError::TooLong(data.len()));
        }
        Ok(TlsaRecord {
            usage: *usage,
            selector: *selector,
            matching: *matching,
            data: hex(data),
            data_sha256: None,
        })
    }

    /// Parses the presentation form `3 1 1 ab12…` (RFC 6698 §2.2; the data may be split by blanks).
    pub fn from_presentation(text: &str) -> Result<TlsaRecord, TlsaError> {
        let bad = || TlsaError::Presentation(text.chars().take(80).collect());
        let mut words = text.split_whitespace();
        let mut field = || -> Result<u8, TlsaError> {
            words.next().and_then(|w| w.parse().ok()).ok_or_else(bad)
        };
        let (usage, selector, matching) = (field()?, field()?, field()?);
        let data: String = words.collect::<String>().to_ascii_lowercase();
        if !data.len().is_multiple_of(2) || !data.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(bad());
        }
        if data.len() / 2 > MAX_TLSA_DATA {
            return Err(TlsaError::TooLong(data.len() / 2));
        }
        Ok(TlsaRecord {
            usage,
            selector,
            matching,
            data,
            data_sha256: None,
        })
    }

    /// Length of the association data in bytes.
    pub fn data_len(&self) -> usize {
        self.data.len() / 2
    }

    /// Why a DANE SMTP client would ignore this record, or `None` when it is usable.
    pub fn unusable(&self) -> Option<Unusable> {
        match self.usage {
            0 | 1 => return Some(Unusable::PkixUsage(self.usage)),
            2 | 3 => {}
            u => return Some(Unusable::UnknownUsage(u)),
        }
        if self.selector > 1 {
            return Some(Unusable::UnknownSelector(self.selector));
        }
        let len = self.data_len();
        match self.matching {
            0 if len == 0 => Some(Unusable::Empty),
            0 => None,
            1 if len != 32 => Some(Unusable::WrongDigestLength { matching: 1, len }),
            2 if len != 64 => Some(Unusable::WrongDigestLength { matching: 2, len }),
            1 | 2 => None,
            m => Some(Unusable::UnknownMatching(m)),
        }
    }

    /// Whether this record's data matches one certificate (selector and matching type applied).
    pub fn matches_certificate(&self, cert: &Certificate) -> bool {
        let wanted = match (self.selector, self.matching) {
            (0, 0) => return self.data_sha256.as_deref() == Some(cert.sha256.as_str()),
            (1, 0) => return self.data_sha256.as_deref() == Some(cert.spki_sha256.as_str()),
            (0, 1) => &cert.sha256,
            (1, 1) => &cert.spki_sha256,
            (0, 2) => &cert.sha512,
            (1, 2) => &cert.spki_sha512,
            _ => return false,
        };
        !wanted.is_empty() && wanted.eq_ignore_ascii_case(&self.data)
    }

    /// `3 1 1 ab12…` (the data shortened for reports).
    pub fn short(&self) -> String {
        let data = if self.data.chars().count() > 16 {
            format!("{}…", self.data.chars().take(16).collect::<String>())
        } else {
            self.data.clone()
        };
        format!("{} {} {} {data}", self.usage, self.selector, self.matching)
    }
}

/// How a presented chain fares against the usable TLSA records (RFC 7672 §3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DaneMatch {
    /// A DANE-EE(3) record matches the leaf (no name or date check applies).
    EndEntity,
    /// A DANE-TA(2) record matches a CA certificate of the chain, the chain links up to it, and
    /// the leaf is valid for the exchange name.
    TrustAnchor,
    /// No usable record matches; the reason for a person.
    NoMatch(String),
}

/// Matches `chain` (leaf first, as presented) against `records` (already filtered to usable ones).
/// `name_matches` is the leaf's name check for the exchange (needed for DANE-TA only).
pub fn match_chain(
    records: &[&TlsaRecord],
    chain: &[Certificate],
    name_matches: bool,
) -> DaneMatch {
    let Some(leaf) = chain.first() else {
        return DaneMatch::NoMatch("no certificate was presented".into());
    };
    if records
        .iter()
        .any(|r| r.usage == 3 && r.matches_certificate(leaf))
    {
        return DaneMatch::EndEntity;
    }
    let mut ta_found_but = None;
    for (index, ca) in chain.iter().enumerate().skip(1) {
        if !records
            .iter()
            .any(|r| r.usage == 2 && r.matches_certificate(ca))
        {
            continue;
        }
        // The chain must link from the leaf up to this CA (issuer of each is the next's subject).
        let linked = chain[..=index]
            .windows(2)
            .all(|pair| pair[0].issuer == pair[1].subject);
        if !linked {
            ta_found_but =
                Some("a DANE-TA record matches a CA certificate the leaf does not chain to");
        } else if !name_matches {
            ta_found_but =
                Some("a DANE-TA record matches, but the leaf is not valid for the exchange name");
        } else {
            return DaneMatch::TrustAnchor;
        }
    }
    let why = ta_found_but.map(str::to_string).unwrap_or_else(|| {
        format!(
            "none of {} usable TLSA record(s) matches the presented chain of {} certificate(s)",
            records.len(),
            chain.len()
        )
    });
    DaneMatch::NoMatch(why)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cert(subject: &str, issuer: &str, seed: &str) -> Certificate {
        Certificate {
            subject: subject.into(),
            issuer: issuer.into(),
            dns_names: vec!["mx.example.com".into()],
            not_before: 0,
            not_after: 0,
            key_type: "EC".into(),
            key_bits: 256,
            self_signed: subject == issuer,
            sha256: seed.repeat(64),
            spki_sha256: format!("{seed}{}", "1".repeat(63)),
            sha512: seed.repeat(128),
            spki_sha512: format!("{seed}{}", "2".repeat(127)),
        }
    }

    fn record(text: &str) -> TlsaRecord {
        TlsaRecord::from_presentation(text).unwrap()
    }

    #[test]
    fn parses_rdata_and_presentation() {
        let r = TlsaRecord::from_rdata(&[3, 1, 1, 0xab, 0xcd]).unwrap();
        assert_eq!((r.usage, r.selector, r.matching), (3, 1, 1));
        assert_eq!(r.data, "abcd");
        assert_eq!(TlsaRecord::from_rdata(&[3, 1]), Err(TlsaError::TooShort(2)));
        let p = record("3 1 1 AB CD");
        assert_eq!(p.data, "abcd");
        assert!(TlsaRecord::from_presentation("3 1 x abcd").is_err());
        assert!(TlsaRecord::from_presentation("3 1 1 abc").is_err());
        assert!(TlsaRecord::from_presentation("3 1 1 zz").is_err());
    }

    #[test]
    fn usability_for_smtp() {
        let digest = "a".repeat(64);
        assert_eq!(record(&format!("3 1 1 {digest}")).unusable(), None);
        assert_eq!(record(&format!("2 0 1 {digest}")).unusable(), None);
        assert_eq!(
            record(&format!("1 1 1 {digest}")).unusable(),
            Some(Unusable::PkixUsage(1))
        );
        assert_eq!(
            record(&format!("0 0 1 {digest}")).unusable(),
            Some(Unusable::PkixUsage(0))
        );
        assert_eq!(
            record(&format!("4 1 1 {digest}")).unusable(),
            Some(Unusable::UnknownUsage(4))
        );
        assert_eq!(
            record(&format!("3 2 1 {digest}")).unusable(),
            Some(Unusable::UnknownSelector(2))
        );
        assert_eq!(
            record(&format!("3 1 7 {digest}")).unusable(),
            Some(Unusable::UnknownMatching(7))
        );
        assert_eq!(
            record("3 1 1 abcd").unusable(),
            Some(Unusable::WrongDigestLength {
                matching: 1,
                len: 2
            })
        );
        assert_eq!(
            record(&format!("3 1 2 {digest}")).unusable(),
            Some(Unusable::WrongDigestLength {
                matching: 2,
                len: 32
            })
        );
        assert_eq!(record(&format!("3 1 2 {digest}{digest}")).unusable(), None);
    }

    #[test]
    fn dane_ee_matches_the_leaf_spki_or_cert() {
        let leaf = cert("CN=mx", "CN=ca", "a");
        let ca = cert("CN=ca", "CN=ca", "b");
        let chain = vec![leaf.clone(), ca.clone()];
        let spki = record(&format!("3 1 1 {}", leaf.spki_sha256));
        assert_eq!(match_chain(&[&spki], &chain, false), DaneMatch::EndEntity);
        let full512 = record(&format!("3 0 2 {}", leaf.sha512));
        assert_eq!(
            match_chain(&[&full512], &chain, false),
            DaneMatch::EndEntity
        );
        // A DANE-EE record of the CA does not match: EE means the leaf.
        let wrong = record(&format!("3 1 1 {}", ca.spki_sha256));
        assert!(matches!(
            match_chain(&[&wrong], &chain, true),
            DaneMatch::NoMatch(_)
        ));
        let mut full = record("3 1 0 30820122");
        full.data_sha256 = Some(leaf.spki_sha256.clone());
        assert_eq!(match_chain(&[&full], &chain, false), DaneMatch::EndEntity);
    }

    #[test]
    fn dane_ta_needs_the_chain_and_the_name() {
        let leaf = cert("CN=mx", "CN=ca", "a");
        let ca = cert("CN=ca", "CN=ca", "b");
        let chain = vec![leaf.clone(), ca.clone()];
        let ta = record(&format!("2 0 1 {}", ca.sha256));
        assert_eq!(match_chain(&[&ta], &chain, true), DaneMatch::TrustAnchor);
        assert!(matches!(
            match_chain(&[&ta], &chain, false),
            DaneMatch::NoMatch(why) if why.contains("name")
        ));
        let unlinked = vec![cert("CN=mx", "CN=other", "a"), ca.clone()];
        assert!(matches!(
            match_chain(&[&ta], &unlinked, true),
            DaneMatch::NoMatch(why) if why.contains("chain")
        ));
        // DANE-TA never matches the leaf itself.
        let ta_leaf = record(&format!("2 0 1 {}", leaf.sha256));
        assert!(matches!(
            match_chain(&[&ta_leaf], &chain, true),
            DaneMatch::NoMatch(_)
        ));
        assert!(matches!(
            match_chain(&[&ta], &[], true),
            DaneMatch::NoMatch(_)
        ));
    }

    proptest! {
        #[test]
        fn rdata_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(record) = TlsaRecord::from_rdata(&bytes) {
                let _ = record.unusable();
                let _ = record.short();
                prop_assert_eq!(record.data_len() + 3, bytes.len());
            }
        }

        #[test]
        fn presentation_parser_never_panics(text in "\\PC{0,120}") {
            if let Ok(record) = TlsaRecord::from_presentation(&text) {
                let _ = record.unusable();
                let _ = record.short();
            }
        }
    }
}
