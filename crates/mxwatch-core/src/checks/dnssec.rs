//! DNSSEC: is the domain signed, does its MX validate, are the exchanges' zones signed.
//!
//! Only proofs decide: `Insecure` (a signed denial of the DS) is "unsigned", `Bogus` is
//! "broken"; an `Indeterminate` proof is reported by DNS-INDETERMINATE and never here.

use super::{Check, CheckContext, Hit, Subject, exchange_label};
use crate::finding::Severity;
use crate::observation::dnssec::Proof;

pub static DNSSEC_UNSIGNED: Check = Check {
    id: "DNSSEC-UNSIGNED",
    severity: Severity::Low,
    title: "The domain is not signed with DNSSEC",
    explanation: "The chain of trust ends above the domain: its parent proves (with a signed NSEC/NSEC3 record) that \
                  there is no DS for it, so its MX records cannot be authenticated. An attacker on the path of a \
                  sender's resolver can then redirect mail, and DANE cannot protect the delivery. Most domains are \
                  unsigned; this is advice, not an outage.",
    fix: "Sign the zone (most DNS hosts offer it as one switch, e.g. Knot `dnssec-signing: on`, BIND \
          `dnssec-policy default`) and publish the DS record at the registrar.",
    reference: "RFC 4033 §3, §5; RFC 7672 §1.3",
    run: dnssec_unsigned,
};

fn dnssec_unsigned(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    let Some(dnssec) = &obs.dnssec else {
        return vec![];
    };
    match dnssec.mx() {
        Some(Proof::Insecure { zone, proof }) => vec![Hit::new(
            obs.domain.ascii.clone(),
            format!(
                "{zone} is delegated without DS ({proof}); anchor: {}",
                dnssec.anchor
            ),
        )],
        _ => vec![],
    }
}

pub static DNSSEC_BOGUS: Check = Check {
    id: "DNSSEC-BOGUS",
    severity: Severity::High,
    title: "DNSSEC validation fails: validating resolvers answer SERVFAIL",
    explanation: "The domain (or an exchange's zone) is signed, but the chain of trust does not validate: an expired \
                  signature, a DS at the parent that matches no DNSKEY, a signature that does not verify, or an \
                  unsigned answer from a signed zone. Every validating resolver (a large share of senders) then \
                  treats the records as forged and answers SERVFAIL, so their mail is not delivered. The answer \
                  was asked twice before this was reported.",
    fix: "Fix the link named in the detail: re-sign the zone (expired signatures), or make the DS at the parent \
          match the zone's current KSK (after a key rollover), or remove the DS to go unsigned on purpose.",
    reference: "RFC 4033 §5; RFC 4035 §5",
    run: dnssec_bogus,
};

fn dnssec_bogus(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    let Some(dnssec) = &obs.dnssec else {
        return vec![];
    };
    let mut hits = Vec::new();
    for rrset in &dnssec.domain {
        if rrset.proof.is_bogus() {
            hits.push(Hit::new(rrset.question.clone(), rrset.proof.describe()));
        }
    }
    for exchange in &dnssec.exchanges {
        for rrset in [&exchange.address] {
            if rrset.proof.is_bogus() {
                hits.push(Hit::new(rrset.question.clone(), rrset.proof.describe()));
            }
        }
        if exchange.tlsa_proof.is_bogus() {
            hits.push(Hit::new(
                format!("TLSA _25._tcp.{}", exchange.name),
                exchange.tlsa_proof.describe(),
            ));
        }
    }
    hits
}

pub static DNSSEC_MX_UNSIGNED: Check = Check {
    id: "DNSSEC-MX-UNSIGNED",
    severity: Severity::Low,
    title: "The domain is signed, but an exchange's zone is not",
    explanation: "The MX records validate, but the exchange's addresses (and any TLSA record) live in a zone that is \
                  provably unsigned. Senders cannot authenticate where the exchange is, and DANE cannot be used for \
                  it (RFC 7672 §2.2.2 requires a secure TLSA RRset).",
    fix: "Sign the exchange's zone too (or use an exchange name in a signed zone), then publish TLSA records for it.",
    reference: "RFC 7672 §2.2; RFC 4035 §5",
    run: dnssec_mx_unsigned,
};

fn dnssec_mx_unsigned(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    let Some(dnssec) = &obs.dnssec else {
        return vec![];
    };
    if !dnssec.mx().is_some_and(Proof::is_secure) {
        return vec![];
    }
    dnssec
        .exchanges
        .iter()
        .filter_map(|e| match &e.address.proof {
            Proof::Insecure { zone, proof } => Some(Hit::new(
                exchange_label(&e.name),
                format!("its zone {zone} is unsigned ({proof})"),
            )),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::checks::testkit::{healthy, ids};
    use crate::observation::Observation;
    use crate::observation::dnssec::{BrokenLink, DnssecObservation, ExchangeDnssec, RrsetProof};
    use crate::observation::lookup::{Absence, Lookup};

    pub fn secure(zone: &str) -> Proof {
        Proof::Secure { zone: zone.into() }
    }

    pub fn insecure(zone: &str) -> Proof {
        Proof::Insecure {
            zone: zone.into(),
            proof: "NSEC at the parent: NS, no DS".into(),
        }
    }

    pub fn no_tlsa<T>() -> Lookup<T> {
        Lookup::Absent {
            absence: Absence::NxDomain,
            negative_ttl: None,
            cname_chain: vec![],
            elapsed_ms: 0,
        }
    }

    /// The healthy observation with DNSSEC: the MX proof and one address proof per exchange.
    pub fn with_dnssec(mx: Proof, exchange: impl Fn(&str) -> Proof) -> Observation {
        let mut obs = healthy();
        let exchanges = obs
            .exchanges
            .iter()
            .map(|e| ExchangeDnssec {
                name: e.name.clone(),
                address: RrsetProof {
                    question: format!("A {}", e.name),
                    proof: exchange(&e.name),
                },
                tlsa: no_tlsa(),
                tlsa_proof: exchange(&e.name),
            })
            .collect();
        obs.dnssec = Some(DnssecObservation {
            anchor: "test anchor".into(),
            domain: vec![RrsetProof {
                question: format!("MX {}", obs.domain.ascii),
                proof: mx,
            }],
            exchanges,
        });
        obs
    }

    fn dnssec_ids(obs: &Observation) -> Vec<String> {
        ids(obs)
            .into_iter()
            .filter(|id| id.starts_with("DNSSEC"))
            .collect()
    }

    #[test]
    fn a_signed_domain_with_signed_exchanges_is_silent() {
        let obs = with_dnssec(secure("example.com"), |_| secure("example.com"));
        assert!(dnssec_ids(&obs).is_empty(), "{:?}", ids(&obs));
    }

    #[test]
    fn no_dnssec_observation_is_silent() {
        assert!(dnssec_ids(&healthy()).is_empty());
    }

    #[test]
    fn an_insecure_mx_is_unsigned() {
        let obs = with_dnssec(insecure("example.com"), |_| insecure("example.com"));
        assert_eq!(dnssec_ids(&obs), ["DNSSEC-UNSIGNED"]);
    }

    #[test]
    fn bogus_mx_or_exchange_is_bogus() {
        let bogus = Proof::Bogus {
            link: BrokenLink::DnskeyNotMatchingDs,
            zone: "example.com".into(),
            detail: "DS 12345 at com".into(),
        };
        let obs = with_dnssec(bogus.clone(), |_| secure("example.com"));
        assert_eq!(dnssec_ids(&obs), ["DNSSEC-BOGUS"]);
        let obs = with_dnssec(secure("example.com"), |_| bogus.clone());
        assert!(dnssec_ids(&obs).contains(&"DNSSEC-BOGUS".to_string()));
    }

    #[test]
    fn indeterminate_is_never_unsigned_or_bogus() {
        let indet = Proof::Indeterminate {
            detail: "timeout".into(),
        };
        let obs = with_dnssec(indet.clone(), |_| indet.clone());
        assert!(dnssec_ids(&obs).is_empty(), "{:?}", ids(&obs));
        assert!(ids(&obs).contains(&"DNS-INDETERMINATE".to_string()));
    }

    #[test]
    fn a_signed_domain_with_an_unsigned_exchange_zone() {
        let obs = with_dnssec(secure("example.com"), |name| {
            if name.starts_with("mx2") {
                insecure("example.net")
            } else {
                secure("example.com")
            }
        });
        assert_eq!(dnssec_ids(&obs), ["DNSSEC-MX-UNSIGNED"]);
        // An unsigned domain is DNSSEC-UNSIGNED only: its exchanges cannot be expected to be signed.
        let obs = with_dnssec(insecure("example.com"), |_| insecure("example.net"));
        assert_eq!(dnssec_ids(&obs), ["DNSSEC-UNSIGNED"]);
    }
}
