//! What DNSSEC validation found, per RRset: the model the collector fills and the checks read.
//!
//! Each RRset gets a [`Proof`] in RFC 4033 §5 terms (secure, insecure, bogus, indeterminate),
//! with the evidence: the zone whose keys signed it, the unsigned delegation that makes it
//! insecure, or the link of the chain of trust that broke. A lookup that failed is
//! `Indeterminate` ("could not determine"), never "unsigned".

use crate::observation::lookup::Lookup;
use crate::records::tlsa::TlsaRecord;
use serde::{Deserialize, Serialize};

/// The validation status of one RRset (or of its proven absence).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Proof {
    /// Signed, and the chain of trust from the anchor validates: `zone` signed it.
    Secure { zone: String },
    /// Provably unsigned: `zone` is delegated without DS, and the parent's signed denial says so.
    Insecure { zone: String, proof: String },
    /// Signed data that does not validate: `link` says which link of the chain broke, at `zone`.
    Bogus {
        link: BrokenLink,
        zone: String,
        detail: String,
    },
    /// A lookup on the way failed (timeout, SERVFAIL …): could not determine.
    Indeterminate { detail: String },
}

/// Which link of the chain of trust is broken (RFC 4035 §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BrokenLink {
    /// The root DNSKEY set matches no configured trust anchor.
    UntrustedRoot,
    /// The parent has DS records, but no DNSKEY of the child matches any of them.
    DnskeyNotMatchingDs,
    /// The zone publishes no DNSKEY although its parent has a DS for it.
    MissingDnskey,
    /// An RRset of a signed zone has no RRSIG from that zone.
    MissingSignature,
    /// Every RRSIG has expired.
    SignatureExpired,
    /// Every RRSIG is not yet valid (inception in the future).
    SignatureNotYetValid,
    /// No RRSIG names a DNSKEY of the zone (key tag or algorithm unknown).
    NoMatchingKey,
    /// The signature does not verify with the key it names.
    BadSignature,
    /// A negative answer from a signed zone without a valid NSEC/NSEC3 proof.
    NoDenialProof,
}

impl BrokenLink {
    pub fn describe(self) -> &'static str {
        match self {
            BrokenLink::UntrustedRoot => "the root keys match no trust anchor",
            BrokenLink::DnskeyNotMatchingDs => "no DNSKEY matches the DS at the parent",
            BrokenLink::MissingDnskey => "the zone has a DS at its parent but publishes no DNSKEY",
            BrokenLink::MissingSignature => "an RRset of a signed zone is not signed",
            BrokenLink::SignatureExpired => "the signature has expired",
            BrokenLink::SignatureNotYetValid => "the signature is not valid yet",
            BrokenLink::NoMatchingKey => "the signature names no DNSKEY of the zone",
            BrokenLink::BadSignature => "the signature does not verify",
            BrokenLink::NoDenialProof => "a negative answer without a valid NSEC/NSEC3 proof",
        }
    }
}

impl Proof {
    pub fn is_secure(&self) -> bool {
        matches!(self, Proof::Secure { .. })
    }

    pub fn is_insecure(&self) -> bool {
        matches!(self, Proof::Insecure { .. })
    }

    pub fn is_bogus(&self) -> bool {
        matches!(self, Proof::Bogus { .. })
    }

    pub fn is_indeterminate(&self) -> bool {
        matches!(self, Proof::Indeterminate { .. })
    }

    /// The weaker of two proofs, for data that needs both (a CNAME and its target):
    /// bogus, then indeterminate, then insecure, then secure.
    pub fn weakest(self, other: Proof) -> Proof {
        fn rank(p: &Proof) -> u8 {
            match p {
                Proof::Bogus { .. } => 0,
                Proof::Indeterminate { .. } => 1,
                Proof::Insecure { .. } => 2,
                Proof::Secure { .. } => 3,
            }
        }
        if rank(&other) < rank(&self) {
            other
        } else {
            self
        }
    }

    /// One line for a person.
    pub fn describe(&self) -> String {
        match self {
            Proof::Secure { zone } => format!("secure (signed by {zone})"),
            Proof::Insecure { zone, proof } => format!("insecure: {zone} is unsigned ({proof})"),
            Proof::Bogus { link, zone, detail } => {
                format!("bogus at {zone}: {} ({detail})", link.describe())
            }
            Proof::Indeterminate { detail } => format!("could not determine ({detail})"),
        }
    }
}

/// The proof for one question, e.g. `MX example.com`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RrsetProof {
    /// `MX example.com`, `A mx1.example.com`, `TLSA _25._tcp.mx1.example.com`.
    pub question: String,
    pub proof: Proof,
}

/// DNSSEC and DANE as seen for one domain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DnssecObservation {
    /// The trust anchor the chain was validated from (`IANA root KSKs`, or the file given).
    pub anchor: String,
    /// The domain's own RRsets (its MX, or its proven absence).
    pub domain: Vec<RrsetProof>,
    /// One entry per exchange, in the order of `Observation::exchanges`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exchanges: Vec<ExchangeDnssec>,
}

impl DnssecObservation {
    /// The proof of the domain's MX RRset (or of its absence).
    pub fn mx(&self) -> Option<&Proof> {
        self.domain
            .iter()
            .find(|p| p.question.starts_with("MX "))
            .map(|p| &p.proof)
    }

    pub fn exchange(&self, name: &str) -> Option<&ExchangeDnssec> {
        self.exchanges.iter().find(|e| e.name == name)
    }
}

/// DNSSEC and TLSA of one exchange.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExchangeDnssec {
    pub name: String,
    /// The proof of the exchange's A RRset (or of its absence): is its zone signed?
    pub address: RrsetProof,
    /// The TLSA RRset at `_25._tcp.<exchange>` (RFC 7672 §2.2), as parsed.
    pub tlsa: Lookup<Vec<TlsaRecord>>,
    /// Its DNSSEC proof; TLSA records are usable only when it is `Secure`.
    pub tlsa_proof: Proof,
}

impl ExchangeDnssec {
    /// The TLSA records a DANE client would use: DNSSEC-secure and usable for SMTP, for an
    /// exchange whose address records are secure too (RFC 7672 §2.2.2: a client looks up TLSA
    /// only for a host name whose address RRset, after any CNAMEs, validates).
    pub fn usable_tlsa(&self) -> Vec<&TlsaRecord> {
        if !self.tlsa_proof.is_secure() || !self.address.proof.is_secure() {
            return vec![];
        }
        self.tlsa
            .value()
            .map(|records| records.iter().filter(|r| r.unusable().is_none()).collect())
            .unwrap_or_default()
    }

    /// Whether any TLSA record is published at all (usable or not, secure or not).
    pub fn has_tlsa(&self) -> bool {
        self.tlsa.value().is_some_and(|r| !r.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weakest_prefers_bogus_then_indeterminate() {
        let secure = Proof::Secure { zone: "a".into() };
        let insecure = Proof::Insecure {
            zone: "b".into(),
            proof: "NSEC".into(),
        };
        let indeterminate = Proof::Indeterminate {
            detail: "timeout".into(),
        };
        let bogus = Proof::Bogus {
            link: BrokenLink::BadSignature,
            zone: "c".into(),
            detail: String::new(),
        };
        assert!(secure.clone().weakest(insecure.clone()).is_insecure());
        assert!(insecure.clone().weakest(secure.clone()).is_insecure());
        assert!(insecure.weakest(indeterminate.clone()).is_indeterminate());
        assert!(indeterminate.weakest(bogus.clone()).is_bogus());
        assert!(bogus.weakest(secure).is_bogus());
    }

    #[test]
    fn tlsa_is_unusable_when_the_address_is_not_secure() {
        let secure = Proof::Secure {
            zone: "example.com".into(),
        };
        let record = TlsaRecord::from_presentation(&format!("3 1 1 {}", "ab".repeat(32))).unwrap();
        let mut exchange = ExchangeDnssec {
            name: "mx.example.com".into(),
            address: RrsetProof {
                question: "A mx.example.com".into(),
                proof: secure.clone(),
            },
            tlsa: Lookup::Observed {
                value: vec![record],
                ttl: 300,
                cname_chain: vec![],
                elapsed_ms: 0,
            },
            tlsa_proof: secure,
        };
        assert_eq!(exchange.usable_tlsa().len(), 1);
        // A CNAME into an unsigned zone: the address is insecure, so DANE does not apply.
        exchange.address.proof = Proof::Insecure {
            zone: "hoster.example".into(),
            proof: "NSEC".into(),
        };
        assert!(exchange.usable_tlsa().is_empty());
    }

    #[test]
    fn proofs_serialise_with_a_status_tag() {
        let p = Proof::Bogus {
            link: BrokenLink::SignatureExpired,
            zone: "example.com".into(),
            detail: "expired 2026-01-01".into(),
        };
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["status"], "bogus");
        assert_eq!(json["link"], "signature_expired");
        assert_eq!(serde_json::from_value::<Proof>(json).unwrap(), p);
    }
}
