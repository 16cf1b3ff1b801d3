//! What could not be determined, said as such, never as "missing": the failed parts of the
//! observation's one walk ([`Observation::fallible_parts`]) that were asked of the resolver, the
//! DNSSEC proofs, the MTA-STS policy fetch and the registrations asked over RDAP.

use super::{Check, CheckContext, Hit, Subject};
use crate::finding::{Severity, ids};
use crate::observation::lookup::Failure;
use crate::observation::parts::{PartFailure, PartKind, Slot};

pub static DNS_INDETERMINATE: Check = Check {
    id: ids::DNS_INDETERMINATE,
    severity: Severity::Medium,
    title: "An answer could not be had: this part could not be determined",
    explanation: "A DNS question got no usable answer (a timeout, SERVFAIL, REFUSED, a malformed reply). The checks \
                  that depend on it are skipped rather than guessed: nothing is reported missing because a \
                  resolver or nameserver failed. Persistent failures are themselves a problem, since senders \
                  hit them too.",
    fix: "Run the check again; if it persists, check the domain's nameservers (lame delegation, firewalled \
          TCP/53, DNSSEC errors) and the resolver you used.",
    reference: "RFC 2308 §7; RFC 8914",
    run: dns_indeterminate,
};

fn dns_indeterminate(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    let own_spf = format!("TXT {} (SPF)", obs.domain.ascii);
    let has_sts_record = super::mta_sts::sts_records(obs).is_some();
    let mut hits = Vec::new();
    for part in obs.fallible_parts() {
        let Some(failure) = part.failure else {
            continue;
        };
        let detail = match (part.slot, failure) {
            // The domain's own SPF TXT as the SPF walk recorded it: the same question as the
            // policy's SPF TXT, reported once.
            (Slot::SpfAnswer, _) if part.label == own_spf => continue,
            // A CNAME loop is an observed misconfiguration, reported by MX-TARGET-CNAME.
            (
                _,
                PartFailure::Lookup {
                    failure: Failure::CnameLoop | Failure::CnameChainTooLong,
                    ..
                },
            ) => continue,
            // A TLSA lookup that failed is said through its DNSSEC proof (`DNSSEC TLSA …`).
            (Slot::Tlsa, _) => continue,
            (slot, PartFailure::Lookup { failure, detail }) if slot.kind() == PartKind::Dns => {
                if detail.is_empty() {
                    failure.describe().to_string()
                } else {
                    format!("{}: {detail}", failure.describe())
                }
            }
            (_, PartFailure::Proof { detail }) => {
                format!("the DNSSEC status could not be determined: {detail}")
            }
            (Slot::MtaStsPolicy, PartFailure::Fetch { failure, detail }) if has_sts_record => {
                format!(
                    "MTA-STS policy could not be determined: {}: {}",
                    failure.describe(),
                    crate::sanitize::for_terminal(detail)
                )
            }
            // A registration that could not be had is said as such: never a REG-* finding.
            (Slot::Registration, PartFailure::Rdap { failure, detail }) => format!(
                "registration could not be determined: {}: {}",
                failure.describe(),
                crate::sanitize::for_terminal(detail)
            ),
            // The authoritative nameservers are judged by NS-*, the SMTP dialogues by SMTP-* and
            // TLS-*; an MTA-STS fetch without an STS record is not the domain's policy.
            _ => continue,
        };
        hits.push(Hit::new(part.label, detail));
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;
    use crate::observation::Observation;
    use crate::observation::parts::Slot;

    fn subjects(obs: &Observation) -> Vec<String> {
        dns_indeterminate(&Subject::new(obs), &CheckContext::default())
            .into_iter()
            .map(|h| h.subject)
            .collect()
    }

    #[test]
    fn reports_the_resolvers_questions_and_dnssec_proofs_in_walk_order() {
        let mut obs = full_observation();
        fail_parts(&mut obs, |_| true);
        assert_eq!(
            subjects(&obs),
            [
                "MX example.com",
                "SOA example.com",
                "NS example.com",
                "A example.com",
                "AAAA example.com",
                "A mx1.example.com",
                "AAAA mx1.example.com",
                "PTR 192.0.43.10",
                "A mx1.example.com",
                "PTR 2001:500:88:200::10",
                "AAAA mx1.example.com",
                "A mx2.example.net",
                "AAAA mx2.example.net",
                "PTR 198.32.64.12",
                "A mx2.example.net",
                "NS example.net",
                "SOA net",
                "TXT example.com",
                "TXT _dmarc.example.com",
                "TXT _mta-sts.example.com",
                "TXT _smtp._tls.example.com",
                // The domain's own SPF TXT is the policy's, above: said once.
                "TXT _spf.example.net (SPF)",
                "TXT _dmarc.example.com",
                "TXT example.com._report._dmarc.reports.example.org",
                "TXT s1._domainkey.example.com",
                "TXT default._bimi.example.com",
                "192.0.43.10 on bl.example",
                "DNSSEC MX example.com",
                "DNSSEC A mx1.example.com",
                "DNSSEC TLSA _25._tcp.mx1.example.com",
                "RDAP example.com",
                "RDAP example.net",
                // No SMTP dialogue (SMTP-*), TLSA lookup (its proof), nameserver (NS-*), and no
                // MTA-STS fetch: the STS TXT record could not be had either.
            ]
        );
        let hit = &dns_indeterminate(&Subject::new(&obs), &CheckContext::default())[0];
        assert_eq!(hit.detail, "no answer before the timeout: injected");
    }

    #[test]
    fn the_mta_sts_fetch_is_reported_when_the_domain_has_a_policy() {
        let mut obs = full_observation();
        fail_parts(&mut obs, |s| s == Slot::MtaStsPolicy);
        let hits = dns_indeterminate(&Subject::new(&obs), &CheckContext::default());
        assert_eq!(hits.len(), 1);
        assert_eq!(
            hits[0].subject,
            "HTTPS https://mta-sts.example.com/.well-known/mta-sts.txt"
        );
        assert_eq!(
            hits[0].detail,
            "MTA-STS policy could not be determined: no answer before the timeout: injected"
        );
    }

    #[test]
    fn a_cname_loop_is_not_indeterminate() {
        let mut obs = full_observation();
        obs.exchanges[0].lookups.a = failed(Failure::CnameLoop);
        assert!(subjects(&obs).is_empty());
        assert!(obs.has_failures(), "but the part could not be had");
    }
}
