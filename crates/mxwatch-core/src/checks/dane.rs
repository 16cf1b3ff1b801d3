//! DANE for SMTP (RFC 7672): TLSA at `_25._tcp.<exchange>`, trusted only when DNSSEC-secure,
//! matched against the chain each MX address presented.

use super::smtp::probes;
use super::{Check, CheckContext, Hit, Subject, exchange_label};
use crate::finding::Severity;
use crate::observation::Observation;
use crate::observation::smtp::{StartTls, TlsFailure};
use crate::records::tlsa::{DaneMatch, match_chain};

pub static DANE_MISMATCH: Check = Check {
    id: "DANE-MISMATCH",
    severity: Severity::High,
    title: "The certificate does not match the exchange's TLSA records: DANE senders will not deliver",
    explanation: "The exchange publishes usable, DNSSEC-validated TLSA records, so DANE senders (Postfix, Exim, many \
                  large providers) authenticate it with them. No record matches the chain the host presented (or \
                  STARTTLS failed), and under RFC 7672 that is a delivery failure: the mail waits in their queues \
                  and bounces. Usually a certificate was renewed with a new key and the TLSA record was not \
                  updated first.",
    fix: "Publish a TLSA record for the new key before deploying it (3 1 1 of the SPKI; keep the old one until the \
          switch), or put back the certificate the records describe.",
    reference: "RFC 7672 §3.1, §2.2; RFC 6698 §2.1",
    run: dane_mismatch,
};

/// Whether DANE authenticates this probe's host: DNSSEC-secure usable TLSA records match the chain
/// it presented. WebPKI problems on such a host do not stop DANE-aware senders (RFC 7672 §3.1).
pub(crate) fn dane_validates(
    obs: &Observation,
    exchange: &str,
    probe: &crate::observation::smtp::SmtpProbe,
) -> bool {
    let Some(dane) = obs.dnssec.as_ref().and_then(|d| d.exchange(exchange)) else {
        return false;
    };
    let records = dane.usable_tlsa();
    if records.is_empty() || probe.certificates.is_empty() {
        return false;
    }
    let name_ok = probe.verdict.as_ref().is_some_and(|v| v.name_matches);
    matches!(
        match_chain(&records, &probe.certificates, name_ok),
        DaneMatch::EndEntity | DaneMatch::TrustAnchor
    )
}

/// DANE at one endpoint (an exchange at one address), in a word for a person: what the
/// dashboard's exchange × address matrix shows beside SMTP, STARTTLS and the certificate. The
/// findings (DANE-MISMATCH, DANE-UNSIGNED, …) say the same per exchange with explanations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EndpointDane {
    /// DNSSEC and TLSA were not looked at (the audit ran without DNSSEC).
    NotChecked,
    /// The TLSA lookup failed: could not determine.
    Indeterminate,
    /// No TLSA record: DANE senders use opportunistic TLS (or MTA-STS).
    NoRecords,
    /// TLSA records exist but none is usable (not DNSSEC-secure, or no usage/selector/matching
    /// type fit for SMTP): DANE senders ignore them.
    Unusable,
    /// Usable records, but the host was not seen presenting a certificate (not probed, not
    /// reached, a handshake that failed before one): could not determine.
    Unknown,
    /// A usable record matches the presented chain.
    Matches,
    /// Usable records and no match, or no STARTTLS: DANE senders will not deliver here.
    Mismatch(String),
}

impl std::fmt::Display for EndpointDane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EndpointDane::NotChecked => f.write_str("not checked"),
            EndpointDane::Indeterminate => f.write_str("TLSA lookup failed"),
            EndpointDane::NoRecords => f.write_str("no TLSA"),
            EndpointDane::Unusable => f.write_str("TLSA not usable"),
            EndpointDane::Unknown => f.write_str("could not determine"),
            EndpointDane::Matches => f.write_str("matches"),
            EndpointDane::Mismatch(why) => write!(f, "mismatch: {why}"),
        }
    }
}

/// [`EndpointDane`] of `exchange` at the address `probe` (None: not probed) was made to.
pub fn endpoint_dane(
    obs: &Observation,
    exchange: &str,
    probe: Option<&crate::observation::smtp::SmtpProbe>,
) -> EndpointDane {
    let Some(dane) = obs.dnssec.as_ref().and_then(|d| d.exchange(exchange)) else {
        return EndpointDane::NotChecked;
    };
    if dane.tlsa.is_failed() {
        return EndpointDane::Indeterminate;
    }
    if !dane.has_tlsa() {
        return EndpointDane::NoRecords;
    }
    let records = dane.usable_tlsa();
    if records.is_empty() {
        return EndpointDane::Unusable;
    }
    let Some(probe) = probe else {
        return EndpointDane::Unknown;
    };
    match &probe.starttls {
        StartTls::NotOffered | StartTls::Refused { .. } => {
            EndpointDane::Mismatch("no STARTTLS".into())
        }
        StartTls::NotReached => EndpointDane::Unknown,
        _ if probe.certificates.is_empty() => EndpointDane::Unknown,
        _ => {
            let name_ok = probe.verdict.as_ref().is_some_and(|v| v.name_matches);
            match match_chain(&records, &probe.certificates, name_ok) {
                DaneMatch::EndEntity | DaneMatch::TrustAnchor => EndpointDane::Matches,
                DaneMatch::NoMatch(why) => EndpointDane::Mismatch(why),
            }
        }
    }
}

fn dane_mismatch(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    let Some(dnssec) = &obs.dnssec else {
        return vec![];
    };
    let mut hits = Vec::new();
    for exchange in &obs.exchanges {
        let Some(dane) = dnssec.exchange(&exchange.name) else {
            continue;
        };
        let records = dane.usable_tlsa();
        if records.is_empty() {
            continue;
        }
        for (ip, probe) in probes(exchange) {
            let subject = format!("{} ({ip})", exchange_label(&exchange.name));
            let problem = match &probe.starttls {
                StartTls::NotOffered => {
                    Some("the host does not offer STARTTLS, which DANE requires".to_string())
                }
                StartTls::Refused { reply } => Some(format!(
                    "STARTTLS was refused ({}), which DANE treats as a failure",
                    reply.one_line()
                )),
                // No certificate seen: a timeout or a broken connection is "could not determine"
                // (the TLS checks report it), and a server our client cannot talk to is
                // DANE-UNVERIFIED; neither is evidence of a mismatch.
                StartTls::HandshakeFailed { .. } if probe.certificates.is_empty() => None,
                StartTls::NotReached => None,
                _ => {
                    let name_ok = probe.verdict.as_ref().is_some_and(|v| v.name_matches);
                    match match_chain(&records, &probe.certificates, name_ok) {
                        DaneMatch::NoMatch(why) => Some(format!(
                            "{why} (records: {})",
                            records
                                .iter()
                                .map(|r| r.short())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )),
                        DaneMatch::EndEntity | DaneMatch::TrustAnchor => None,
                    }
                }
            };
            if let Some(detail) = problem {
                hits.push(Hit::new(subject, detail));
            }
        }
    }
    hits
}

pub static DANE_UNVERIFIED: Check = Check {
    id: "DANE-UNVERIFIED",
    severity: Severity::Low,
    title: "The certificate could not be checked against the exchange's TLSA records",
    explanation: "The exchange publishes usable, DNSSEC-validated TLSA records, but the TLS handshake failed before \
                  a certificate was seen, for a reason that lies in mxwatch's TLS client (rustls) as much as in the \
                  server: TLS 1.0/1.1 only, no common cipher suite, or a key it refuses. DANE senders whose TLS \
                  library accepts these may still deliver and match the certificate, so this is not a mismatch; \
                  the TLS findings for the host say what is outdated.",
    fix: "Offer TLS 1.2 or later with ECDHE and AEAD cipher suites and a key of at least 2048 bits (RSA) or 256 \
          bits (EC); then mxwatch can check the certificate against the TLSA records.",
    reference: "RFC 7672 §3.1; RFC 8996",
    run: dane_unverified,
};

fn dane_unverified(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    let Some(dnssec) = &obs.dnssec else {
        return vec![];
    };
    let mut hits = Vec::new();
    for exchange in &obs.exchanges {
        let Some(dane) = dnssec.exchange(&exchange.name) else {
            continue;
        };
        if dane.usable_tlsa().is_empty() {
            continue;
        }
        for (ip, probe) in probes(exchange) {
            let StartTls::HandshakeFailed { kind, detail } = &probe.starttls else {
                continue;
            };
            if !probe.certificates.is_empty() {
                continue;
            }
            let reason = match kind {
                TlsFailure::OldVersion => "the server offers only TLS versions before 1.2",
                TlsFailure::NoCommonCipher => "no cipher suite or key exchange in common",
                TlsFailure::WeakKey => "the server's key or signature is one mxwatch refuses",
                // Could not determine: the TLS checks and the probe error say so.
                TlsFailure::Timeout | TlsFailure::Other => continue,
            };
            hits.push(Hit::new(
                format!("{} ({ip})", exchange_label(&exchange.name)),
                format!("could not verify the certificate: {reason} ({detail})"),
            ));
        }
    }
    hits
}

pub static DANE_UNSIGNED: Check = Check {
    id: "DANE-UNSIGNED",
    severity: Severity::Medium,
    title: "TLSA records are published, but not DNSSEC-secure: DANE is not in effect",
    explanation: "A TLSA record is only trusted when its RRset validates with DNSSEC (RFC 7672 §2.2). These records \
                  live in an unsigned zone, so every sender ignores them: the protection against STARTTLS \
                  downgrade and forged certificates that they seem to give is not there.",
    fix: "Sign the zone that holds `_25._tcp.<exchange>` and publish its DS at the parent, or remove the records.",
    reference: "RFC 7672 §2.2; RFC 6698 §4",
    run: dane_unsigned,
};

fn dane_unsigned(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    let Some(dnssec) = &obs.dnssec else {
        return vec![];
    };
    dnssec
        .exchanges
        .iter()
        .filter_map(|e| {
            if !e.has_tlsa() {
                return None;
            }
            let detail = if e.tlsa_proof.is_insecure() {
                format!("the TLSA RRset is {}", e.tlsa_proof.describe())
            } else if e.tlsa_proof.is_secure() && e.address.proof.is_insecure() {
                // RFC 7672 §2.2.2: TLSA counts only for a host whose addresses validate.
                format!(
                    "the TLSA RRset is secure, but the exchange's address is {}: senders use \
                     TLSA only for an exchange whose address records validate (RFC 7672 §2.2.2)",
                    e.address.proof.describe()
                )
            } else {
                return None;
            };
            Some(Hit::new(format!("_25._tcp.{}", e.name), detail))
        })
        .collect()
}

pub static DANE_PARTIAL: Check = Check {
    id: "DANE-PARTIAL",
    severity: Severity::Medium,
    title: "Only some exchanges have usable TLSA records",
    explanation: "DANE senders authenticate the exchanges that have secure, usable TLSA records and deliver to the \
                  others with unauthenticated (opportunistic) TLS (RFC 7672 §2.2.1). An attacker who blocks the \
                  protected exchanges pushes mail to the unprotected ones, so the protection is only as strong as \
                  the weakest exchange.",
    fix: "Publish TLSA records for every exchange (in signed zones), or accept and document the gap.",
    reference: "RFC 7672 §2.2.1, §2.2.2",
    run: dane_partial,
};

fn dane_partial(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    let Some(dnssec) = &obs.dnssec else {
        return vec![];
    };
    let (with, without): (Vec<_>, Vec<_>) = dnssec
        .exchanges
        .iter()
        // An exchange whose TLSA could not be determined is neither.
        .filter(|e| !e.tlsa_proof.is_indeterminate() && !e.tlsa.is_failed())
        .partition(|e| !e.usable_tlsa().is_empty());
    if with.is_empty() || without.is_empty() {
        return vec![];
    }
    let names = |list: &[&crate::observation::dnssec::ExchangeDnssec]| {
        list.iter()
            .map(|e| exchange_label(&e.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    vec![Hit::new(
        obs.domain.ascii.clone(),
        format!("usable TLSA: {}; none: {}", names(&with), names(&without)),
    )]
}

pub static DANE_SYNTAX: Check = Check {
    id: "DANE-SYNTAX",
    severity: Severity::Medium,
    title: "A TLSA record is malformed or unusable for SMTP",
    explanation: "SMTP clients use only DANE-TA(2) and DANE-EE(3) records with a known selector and matching type \
                  and a digest of the right length (RFC 7672 §3.1.3; RFC 6698 §2.1). Other records are ignored: \
                  when no usable record is left, the exchange has no DANE at all, although it looks as if it had.",
    fix: "Publish `3 1 1 <SHA-256 of the SubjectPublicKeyInfo>` (or 2 1 1 for the issuing CA) and remove the \
          PKIX (0/1) and malformed records.",
    reference: "RFC 7672 §3.1.3; RFC 6698 §2.1",
    run: dane_syntax,
};

fn dane_syntax(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    let Some(dnssec) = &obs.dnssec else {
        return vec![];
    };
    let mut hits = Vec::new();
    for exchange in &dnssec.exchanges {
        if let crate::observation::lookup::Lookup::Failed {
            failure: crate::observation::lookup::Failure::Malformed,
            detail,
            ..
        } = &exchange.tlsa
        {
            hits.push(Hit::new(
                format!("_25._tcp.{}", exchange.name),
                format!("the TLSA RRset could not be parsed: {detail}"),
            ));
        }
        for record in exchange.tlsa.value().into_iter().flatten() {
            if let Some(why) = record.unusable() {
                hits.push(Hit::new(
                    format!("_25._tcp.{}", exchange.name),
                    format!("{}: {why}", record.short()),
                ));
            }
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::dnssec::tests::{insecure, secure, with_dnssec};
    use crate::checks::testkit::{ids, leaf_certificate as leaf, tls_probe as probe};
    use crate::observation::lookup::Lookup;
    use crate::observation::smtp::StartTls;
    use crate::records::tlsa::TlsaRecord;

    fn tlsa(records: &[&str]) -> Lookup<Vec<TlsaRecord>> {
        Lookup::Observed {
            value: records
                .iter()
                .map(|r| TlsaRecord::from_presentation(r).unwrap())
                .collect(),
            ttl: 300,
            cname_chain: vec![],
            elapsed_ms: 0,
        }
    }

    /// Healthy, signed; every exchange has `records` and presents a chain with `seed`'s leaf.
    fn obs(records: &[&str], seed: &str, signed: bool) -> Observation {
        let proof = |_: &str| {
            if signed {
                secure("example.com")
            } else {
                insecure("example.com")
            }
        };
        let mut obs = with_dnssec(proof("x"), proof);
        for e in &mut obs.dnssec.as_mut().unwrap().exchanges {
            e.tlsa = tlsa(records);
        }
        for e in &mut obs.exchanges {
            for a in &mut e.addresses {
                a.smtp = Some(probe(StartTls::Established, vec![leaf(seed)]));
            }
        }
        obs
    }

    fn dane_ids(obs: &Observation) -> Vec<String> {
        let mut ids: Vec<String> = ids(obs)
            .into_iter()
            .filter(|id| id.starts_with("DANE"))
            .collect();
        ids.dedup();
        ids
    }

    #[test]
    fn each_endpoint_says_what_dane_makes_of_it() {
        let spki = leaf("a").spki_sha256;
        let record = format!("3 1 1 {spki}");
        let verdict = |obs: &Observation| {
            let x = &obs.exchanges[0];
            endpoint_dane(obs, &x.name, x.addresses[0].smtp.as_ref())
        };
        assert_eq!(verdict(&obs(&[&record], "a", true)), EndpointDane::Matches);
        assert!(matches!(
            verdict(&obs(&[&record], "b", true)),
            EndpointDane::Mismatch(_)
        ));
        assert_eq!(
            verdict(&obs(&[&record], "a", false)),
            EndpointDane::Unusable
        );
        assert_eq!(verdict(&obs(&[], "a", true)), EndpointDane::NoRecords);
        let mut not_probed = obs(&[&record], "a", true);
        not_probed.exchanges[0].addresses[0].smtp = None;
        assert_eq!(verdict(&not_probed), EndpointDane::Unknown);
        let mut no_starttls = obs(&[&record], "a", true);
        no_starttls.exchanges[0].addresses[0].smtp = Some(probe(StartTls::NotOffered, vec![]));
        assert!(matches!(verdict(&no_starttls), EndpointDane::Mismatch(_)));
        let mut failed = obs(&[&record], "a", true);
        failed.dnssec.as_mut().unwrap().exchanges[0].tlsa = Lookup::Failed {
            failure: crate::observation::lookup::Failure::Timeout,
            detail: "no reply".into(),
            cname_chain: vec![],
            elapsed_ms: 2000,
        };
        assert_eq!(verdict(&failed), EndpointDane::Indeterminate);
        let mut unchecked = obs(&[&record], "a", true);
        unchecked.dnssec = None;
        assert_eq!(verdict(&unchecked), EndpointDane::NotChecked);
    }

    #[test]
    fn a_matching_record_is_silent() {
        let spki = leaf("a").spki_sha256;
        let obs = obs(&[&format!("3 1 1 {spki}")], "a", true);
        assert!(dane_ids(&obs).is_empty(), "{:?}", ids(&obs));
    }

    #[test]
    fn a_new_key_without_a_new_record_is_a_mismatch() {
        let spki = leaf("a").spki_sha256;
        let obs = obs(&[&format!("3 1 1 {spki}")], "b", true);
        assert_eq!(dane_ids(&obs), ["DANE-MISMATCH"]);
    }

    #[test]
    fn no_starttls_under_dane_is_a_mismatch() {
        let spki = leaf("a").spki_sha256;
        let mut obs = obs(&[&format!("3 1 1 {spki}")], "a", true);
        obs.exchanges[0].addresses[0].smtp = Some(probe(StartTls::NotOffered, vec![]));
        assert_eq!(dane_ids(&obs), ["DANE-MISMATCH"]);
    }

    #[test]
    fn unsigned_records_are_unsigned_not_mismatched() {
        let obs = obs(&[&format!("3 1 1 {}", "f".repeat(64))], "a", false);
        assert_eq!(dane_ids(&obs), ["DANE-UNSIGNED"]);
    }

    #[test]
    fn secure_records_for_an_insecure_address_are_unsigned_not_mismatched() {
        let spki = leaf("a").spki_sha256;
        // The key changed ("b"), but the exchange's address is a CNAME into an unsigned zone.
        let mut obs = obs(&[&format!("3 1 1 {spki}")], "b", true);
        for e in &mut obs.dnssec.as_mut().unwrap().exchanges {
            e.address.proof = insecure("hoster.example");
        }
        assert_eq!(dane_ids(&obs), ["DANE-UNSIGNED"]);
        let hit = crate::checks::run_all(&obs, &Default::default())
            .into_iter()
            .find(|f| f.id == "DANE-UNSIGNED")
            .unwrap();
        assert!(hit.detail.contains("RFC 7672 §2.2.2"), "{}", hit.detail);
    }

    #[test]
    fn a_failed_handshake_without_a_certificate_is_never_a_mismatch() {
        use crate::observation::smtp::TlsFailure;
        let spki = leaf("a").spki_sha256;
        let failed = |kind| {
            probe(
                StartTls::HandshakeFailed {
                    kind,
                    detail: "x".into(),
                },
                vec![],
            )
        };
        for (kind, expected) in [
            (TlsFailure::Timeout, vec![]),
            (TlsFailure::Other, vec![]),
            (TlsFailure::OldVersion, vec!["DANE-UNVERIFIED"]),
            (TlsFailure::NoCommonCipher, vec!["DANE-UNVERIFIED"]),
            (TlsFailure::WeakKey, vec!["DANE-UNVERIFIED"]),
        ] {
            let mut obs = obs(&[&format!("3 1 1 {spki}")], "a", true);
            for e in &mut obs.exchanges {
                for a in &mut e.addresses {
                    a.smtp = Some(failed(kind));
                }
            }
            assert_eq!(dane_ids(&obs), expected, "{kind:?}");
        }
    }

    #[test]
    fn pkix_usages_and_bad_digests_are_syntax() {
        let spki = leaf("a").spki_sha256;
        let obs = obs(&[&format!("1 1 1 {spki}"), "3 1 1 abcd"], "b", true);
        // No usable record left: no mismatch, no partial (no exchange has usable TLSA).
        assert_eq!(dane_ids(&obs), ["DANE-SYNTAX"]);
        assert_eq!(
            ids(&obs).iter().filter(|i| *i == "DANE-SYNTAX").count(),
            4,
            "two records on each of two exchanges"
        );
    }

    #[test]
    fn some_exchanges_without_records_is_partial() {
        let spki = leaf("a").spki_sha256;
        let mut obs = obs(&[&format!("3 1 1 {spki}")], "a", true);
        let second = &mut obs.dnssec.as_mut().unwrap().exchanges[1];
        second.tlsa = crate::checks::dnssec::tests::no_tlsa();
        assert_eq!(dane_ids(&obs), ["DANE-PARTIAL"]);
        // An exchange whose TLSA lookup failed is not counted as "without".
        obs.dnssec.as_mut().unwrap().exchanges[1].tlsa = Lookup::Failed {
            failure: crate::observation::lookup::Failure::Timeout,
            detail: String::new(),
            cname_chain: vec![],
            elapsed_ms: 0,
        };
        assert!(dane_ids(&obs).is_empty());
    }
}
