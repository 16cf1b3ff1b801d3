//! The reference a monitor compares new looks with, part by part.
//!
//! A look in which some part failed (a timeout, SERVFAIL, a greeting that never
//! came) says nothing about that part. The reference therefore keeps, for each
//! part, the last value that was actually observed: a PTR zone that always
//! fails does not stop the domain being monitored, and a `_dmarc` lookup that
//! timed out once does not hide the `p=reject` → `p=none` that follows.

use crate::observation::lookup::Lookup;
use crate::observation::smtp::SmtpProbe;
use crate::observation::{ExchangeObservation, NameserverObservation, Observation};

impl Observation {
    /// Whether any part of the observation could not be had (any failed lookup, an
    /// unanswered authoritative question, an SMTP dialogue that stopped before EHLO).
    pub fn has_failures(&self) -> bool {
        let mut failed = self.mx.is_failed() || self.soa.is_failed() || self.ns.is_failed();
        if let Some(implicit) = &self.implicit {
            failed |= implicit.any_failed();
        }
        if let Some(policy) = &self.policy {
            failed |= policy.spf.is_failed()
                || policy.dmarc.is_failed()
                || policy.mta_sts.is_failed()
                || policy.tls_rpt.is_failed();
        }
        for exchange in &self.exchanges {
            failed |= exchange.lookups.any_failed();
            for addr in &exchange.addresses {
                failed |= addr.ptr.as_ref().is_some_and(Lookup::is_failed);
                failed |= addr.ptr_forward.iter().any(|f| f.addresses.is_failed());
                failed |= addr.smtp.as_ref().is_some_and(incomplete_dialogue);
            }
            if let Some(reg) = &exchange.registration {
                failed |= reg.delegation.is_failed() || reg.suffix.is_failed();
            }
        }
        for ns in &self.nameservers {
            failed |=
                ns.address_failure.is_some() || ns.answers.iter().any(|a| a.result.is_failed());
        }
        failed
    }
}

/// A dialogue that connected but did not get as far as the EHLO reply: its TLS state is unknown.
fn incomplete_dialogue(probe: &SmtpProbe) -> bool {
    probe.connect.is_connected() && probe.offers_starttls().is_none()
}

fn keep<T: Clone>(previous: &Lookup<T>, current: &Lookup<T>) -> Lookup<T> {
    if current.is_failed() && !previous.is_failed() {
        previous.clone()
    } else {
        current.clone()
    }
}

/// `current`, with each part that failed replaced by the same part of `previous` (when that was had).
pub fn carry_forward(previous: &Observation, current: &Observation) -> Observation {
    let mut merged = current.clone();
    if current.mx.is_failed() && !previous.mx.is_failed() {
        merged.mx = previous.mx.clone();
        merged.exchanges = previous.exchanges.clone();
        merged.implicit = previous.implicit.clone();
    } else {
        for exchange in &mut merged.exchanges {
            if let Some(before) = previous.exchanges.iter().find(|e| e.name == exchange.name) {
                carry_exchange(before, exchange);
            }
        }
        if let (Some(prev), Some(cur)) = (&previous.implicit, &mut merged.implicit) {
            cur.a = keep(&prev.a, &cur.a);
            cur.aaaa = keep(&prev.aaaa, &cur.aaaa);
        }
    }
    merged.soa = keep(&previous.soa, &current.soa);
    merged.ns = keep(&previous.ns, &current.ns);
    if let (Some(prev), Some(cur)) = (&previous.policy, &mut merged.policy) {
        cur.spf = keep(&prev.spf, &cur.spf);
        cur.dmarc = keep(&prev.dmarc, &cur.dmarc);
        cur.mta_sts = keep(&prev.mta_sts, &cur.mta_sts);
        cur.tls_rpt = keep(&prev.tls_rpt, &cur.tls_rpt);
    }
    if merged.policy.is_none() {
        merged.policy = previous.policy.clone();
    }
    if let (Some(prev), Some(cur)) = (&previous.mail_auth, &mut merged.mail_auth) {
        // A DKIM key that could not be read this time keeps its last observed value, so a rotation
        // during an outage is still compared with the key before it.
        for selector in &mut cur.dkim {
            if let Some(before) = prev.dkim.iter().find(|s| s.selector == selector.selector) {
                selector.record = keep(&before.record, &selector.record);
            }
        }
    }
    if let (Some(prev), Some(cur)) = (&previous.dnssec, &mut merged.dnssec) {
        carry_dnssec(prev, cur);
    }
    for ns in &mut merged.nameservers {
        if let Some(before) = previous
            .nameservers
            .iter()
            .find(|p| p.name == ns.name && p.address == ns.address)
        {
            carry_nameserver(before, ns);
        }
    }
    merged
}

/// DNSSEC proofs that could not be determined, and TLSA lookups that failed, keep their last
/// observed value (the diff then compares the next real answer with the last real one).
fn carry_dnssec(
    before: &crate::observation::dnssec::DnssecObservation,
    current: &mut crate::observation::dnssec::DnssecObservation,
) {
    for proof in &mut current.domain {
        if proof.proof.is_indeterminate()
            && let Some(prev) = before.domain.iter().find(|p| p.question == proof.question)
            && !prev.proof.is_indeterminate()
        {
            proof.proof = prev.proof.clone();
        }
    }
    for exchange in &mut current.exchanges {
        let Some(prev) = before.exchanges.iter().find(|e| e.name == exchange.name) else {
            continue;
        };
        if exchange.tlsa.is_failed() && !prev.tlsa.is_failed() {
            exchange.tlsa = prev.tlsa.clone();
            exchange.tlsa_proof = prev.tlsa_proof.clone();
        }
    }
}

fn carry_exchange(before: &ExchangeObservation, current: &mut ExchangeObservation) {
    if current.lookups.any_failed() && !before.lookups.any_failed() {
        current.lookups = before.lookups.clone();
        current.addresses = before.addresses.clone();
        current.registration = before.registration.clone();
        return;
    }
    for addr in &mut current.addresses {
        let Some(prev) = before.addresses.iter().find(|a| a.ip == addr.ip) else {
            continue;
        };
        if let (Some(p), Some(c)) = (&prev.ptr, &addr.ptr)
            && c.is_failed()
            && !p.is_failed()
        {
            addr.ptr = prev.ptr.clone();
            addr.ptr_forward = prev.ptr_forward.clone();
        }
        if let (Some(p), Some(c)) = (&prev.smtp, &addr.smtp)
            && incomplete_dialogue(c)
            && !incomplete_dialogue(p)
        {
            addr.smtp = prev.smtp.clone();
        }
    }
}

fn carry_nameserver(before: &NameserverObservation, current: &mut NameserverObservation) {
    for answer in &mut current.answers {
        if let Some(prev) = before
            .answers
            .iter()
            .find(|a| a.question == answer.question)
            && answer.result.is_failed()
            && !prev.result.is_failed()
        {
            *answer = prev.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testkit::*;
    use crate::observation::PolicyRecords;
    use crate::observation::lookup::Failure;

    #[test]
    fn failed_parts_keep_their_last_observed_value() {
        let policy = |dmarc: Lookup<Vec<String>>| PolicyRecords {
            spf: nodata(),
            dmarc,
            mta_sts: nodata(),
            tls_rpt: nodata(),
        };
        let mut before = healthy();
        before.policy = Some(policy(observed(vec!["v=DMARC1; p=reject".into()], 300)));
        let mut now = healthy();
        now.policy = Some(policy(failed(Failure::Timeout)));
        now.exchanges[1].addresses[0].ptr = Some(failed(Failure::ServFail));
        assert!(now.has_failures());
        let merged = carry_forward(&before, &now);
        assert!(!merged.has_failures());
        assert_eq!(
            merged.policy.as_ref().unwrap().dmarc,
            before.policy.as_ref().unwrap().dmarc
        );
        assert_eq!(
            merged.exchanges[1].addresses[0].ptr,
            before.exchanges[1].addresses[0].ptr
        );

        let mut gone = healthy();
        gone.mx = failed(Failure::ServFail);
        gone.exchanges.clear();
        let merged = carry_forward(&before, &gone);
        assert_eq!(merged.exchanges.len(), before.exchanges.len());
        assert!(merged.mx.value().is_some());
    }

    #[test]
    fn observed_values_replace_the_old_ones() {
        let before = healthy();
        let mut now = healthy();
        now.mx = nodata();
        now.exchanges.clear();
        let merged = carry_forward(&before, &now);
        assert!(
            merged.mx.is_absent(),
            "an observed absence is kept, not papered over"
        );
    }

    #[test]
    fn a_dkim_key_or_dnssec_proof_that_could_not_be_read_keeps_its_last_value() {
        use crate::observation::dnssec::Proof;
        let with = with_dkim_key_and_mx_proof;
        let before = with(
            observed(vec!["v=DKIM1; p=AAAA".into()], 300),
            Proof::Secure {
                zone: "example.com".into(),
            },
        );
        let outage = with(
            failed(crate::observation::lookup::Failure::Timeout),
            Proof::Indeterminate {
                detail: "timeout".into(),
            },
        );
        let merged = carry_forward(&before, &outage);
        assert_eq!(merged.mail_auth, before.mail_auth);
        assert_eq!(merged.dnssec, before.dnssec);
        // So a key rotated during the outage is still a change against the key before it.
        let rotated = with(
            observed(vec!["v=DKIM1; p=BBBB".into()], 300),
            Proof::Secure {
                zone: "example.com".into(),
            },
        );
        let changes = crate::monitor::diff::diff(&merged, &rotated, &[], &[]);
        assert_eq!(changes.len(), 1, "{changes:?}");
    }
}
