//! The baseline a monitor compares new looks with, part by part.
//!
//! A look in which some part failed (a timeout, SERVFAIL, a greeting that never
//! came) says nothing about that part. The baseline therefore keeps, for each
//! part, the last value that was actually observed: a PTR zone that always
//! fails does not stop the domain being monitored, and a `_dmarc` lookup that
//! timed out once does not hide the `p=reject` → `p=none` that follows.
//!
//! "Each part" means each [`Slot`](crate::observation::parts::Slot) of the observation's one
//! walk over what can fail: a test fails every part of a full observation and requires that
//! [`carry_forward`] leaves none of them failed, so a part added to the walk must be carried here.

use crate::observation::dnssec::DnssecObservation;
use crate::observation::lookup::Lookup;
use crate::observation::mailauth::MailAuthObservation;
use crate::observation::mta_sts::PolicyFetch;
use crate::observation::parts::incomplete_dialogue;
use crate::observation::rdap::RdapObservation;
use crate::observation::{ExchangeObservation, NameserverObservation, Observation};

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
        carry_mail_auth(prev, cur);
    }
    if let (Some(prev), Some(cur)) = (&previous.dnssec, &mut merged.dnssec) {
        carry_dnssec(prev, cur);
    }
    if let (Some(prev), Some(cur)) = (&previous.mta_sts_policy, &mut merged.mta_sts_policy)
        && fetch_failed(cur)
        && !fetch_failed(prev)
        && prev.url == cur.url
    {
        *cur = prev.clone();
    }
    merged.nameservers = carry_nameservers(&previous.nameservers, &merged.nameservers);
    if let (Some(prev), Some(cur)) = (&previous.rdap, &mut merged.rdap) {
        carry_registrations(prev, cur);
    }
    merged
}

/// A registration whose RDAP answer could not be had keeps its last answer.
fn carry_registrations(before: &RdapObservation, current: &mut RdapObservation) {
    for registration in current.domains.iter_mut().filter(|r| r.is_failed()) {
        if let Some(previous) = before.get(&registration.domain)
            && !previous.is_failed()
        {
            registration.outcome = previous.outcome.clone();
        }
    }
}

/// The policy fetch failed for a transient reason (could not determine).
fn fetch_failed(fetch: &PolicyFetch) -> bool {
    matches!(
        &fetch.outcome,
        crate::observation::mta_sts::FetchOutcome::Failed { failure, .. } if failure.is_transient()
    )
}

/// Each mail-authentication answer that could not be read this time keeps its last observed value.
/// A DKIM key, so a rotation during an outage is still compared with the key before it; and the
/// SPF walk's answers, the organisational DMARC, the report authorisations, BIMI and blocklists.
fn carry_mail_auth(before: &MailAuthObservation, current: &mut MailAuthObservation) {
    for selector in &mut current.dkim {
        if let Some(prev) = before.dkim.iter().find(|s| s.selector == selector.selector) {
            selector.record = keep(&prev.record, &selector.record);
        }
    }
    for (key, answer) in &mut current.spf_answers {
        if let Some(prev) = before.spf_answers.get(key) {
            *answer = keep(prev, answer);
        }
    }
    if let (Some(prev), Some(cur)) = (&before.dmarc_org, &mut current.dmarc_org)
        && prev.domain == cur.domain
    {
        cur.record = keep(&prev.record, &cur.record);
    }
    for auth in &mut current.report_authorizations {
        if let Some(prev) = before
            .report_authorizations
            .iter()
            .find(|a| a.name == auth.name)
        {
            auth.record = keep(&prev.record, &auth.record);
        }
    }
    if let (Some(prev), Some(cur)) = (&before.bimi, &mut current.bimi) {
        *cur = keep(prev, cur);
    }
    for answer in &mut current.dnsbl {
        if let Some(prev) = before
            .dnsbl
            .iter()
            .find(|a| a.address == answer.address && a.zone == answer.zone)
        {
            answer.listing = keep(&prev.listing, &answer.listing);
        }
    }
}

/// DNSSEC proofs that could not be determined, and TLSA lookups that failed, keep their last
/// observed value (the diff then compares the next real answer with the last real one). A failed
/// TLSA lookup brings its proof along; a TLSA proof that alone could not be had keeps the last one.
fn carry_dnssec(before: &DnssecObservation, current: &mut DnssecObservation) {
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
        if exchange.address.proof.is_indeterminate()
            && !prev.address.proof.is_indeterminate()
            && prev.address.question == exchange.address.question
        {
            exchange.address.proof = prev.address.proof.clone();
        }
        if exchange.tlsa.is_failed() && !prev.tlsa.is_failed() {
            exchange.tlsa = prev.tlsa.clone();
            exchange.tlsa_proof = prev.tlsa_proof.clone();
        } else if exchange.tlsa_proof.is_indeterminate() && !prev.tlsa_proof.is_indeterminate() {
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
        } else {
            for forward in &mut addr.ptr_forward {
                if let Some(p) = prev.ptr_forward.iter().find(|f| f.name == forward.name) {
                    forward.addresses = keep(&p.addresses, &forward.addresses);
                }
            }
        }
        if let (Some(p), Some(c)) = (&prev.smtp, &addr.smtp)
            && incomplete_dialogue(c)
            && !incomplete_dialogue(p)
        {
            addr.smtp = prev.smtp.clone();
        }
    }
    if let (Some(prev), Some(cur)) = (&before.registration, &mut current.registration)
        && prev.registrable_domain == cur.registrable_domain
    {
        cur.delegation = keep(&prev.delegation, &cur.delegation);
        cur.suffix = keep(&prev.suffix, &cur.suffix);
    }
}

/// Each nameserver keeps its answers that failed this time; a nameserver whose address could not
/// be looked up this time is replaced by its addresses (and their answers) of last time.
fn carry_nameservers(
    before: &[NameserverObservation],
    current: &[NameserverObservation],
) -> Vec<NameserverObservation> {
    let mut merged = Vec::with_capacity(current.len());
    for ns in current {
        if ns.address_failure.is_some() {
            let last: Vec<&NameserverObservation> = before
                .iter()
                .filter(|p| p.name == ns.name && p.address_failure.is_none())
                .collect();
            if !last.is_empty() {
                merged.extend(last.into_iter().cloned());
                continue;
            }
        }
        let mut ns = ns.clone();
        if let Some(prev) = before
            .iter()
            .find(|p| p.name == ns.name && p.address == ns.address)
        {
            carry_nameserver(prev, &mut ns);
        }
        merged.push(ns);
    }
    merged
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
    use crate::observation::parts::Slot;

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

    /// The slots whose parts the walk reports failed.
    fn failed_slots(obs: &Observation) -> std::collections::BTreeSet<Slot> {
        obs.failed_parts().iter().map(|p| p.slot).collect()
    }

    #[test]
    fn the_full_observation_has_every_slot_and_nothing_failed() {
        let full = full_observation();
        let slots: std::collections::BTreeSet<Slot> =
            full.fallible_parts().iter().map(|p| p.slot).collect();
        // NameserverAddress is a part only when a nameserver has no address: failed below.
        let expected: std::collections::BTreeSet<Slot> = Slot::ALL
            .into_iter()
            .filter(|s| *s != Slot::NameserverAddress)
            .collect();
        assert_eq!(slots, expected);
        assert!(!full.has_failures(), "{:?}", full.failed_parts());
    }

    /// Every part of the walk, failed alone or all together, is carried from a baseline where it
    /// was had: a part added to the walk (a new `Slot`) and not to `carry_forward` fails here.
    #[test]
    fn carry_forward_leaves_no_part_failed_that_the_walk_reports() {
        let full = full_observation();
        type Case = (String, Box<dyn Fn(Slot) -> bool>);
        let mut cases: Vec<Case> = vec![
            ("every part".into(), Box::new(|_| true)),
            ("every part but the MX".into(), Box::new(|s| s != Slot::Mx)),
            (
                "every part but the MX and the exchanges' addresses".into(),
                Box::new(|s| !matches!(s, Slot::Mx | Slot::ExchangeA | Slot::ExchangeAaaa)),
            ),
            (
                "every part but the MX, the exchanges' addresses and PTR".into(),
                Box::new(|s| {
                    !matches!(
                        s,
                        Slot::Mx | Slot::ExchangeA | Slot::ExchangeAaaa | Slot::Ptr
                    )
                }),
            ),
            (
                "every part but the TLSA lookup".into(),
                Box::new(|s| s != Slot::Tlsa),
            ),
        ];
        for slot in Slot::ALL {
            cases.push((format!("{slot:?} alone"), Box::new(move |s| s == slot)));
        }
        for (what, fail) in &cases {
            let mut now = full.clone();
            fail_parts(&mut now, fail);
            let failed = failed_slots(&now);
            // The builder reaches every slot it was asked to fail.
            for slot in Slot::ALL.into_iter().filter(|s| fail(*s)) {
                assert!(failed.contains(&slot), "{what}: {slot:?} was not failed");
            }
            let merged = carry_forward(&full, &now);
            assert!(
                !merged.has_failures(),
                "{what}: carry_forward left {:?}",
                merged
                    .failed_parts()
                    .iter()
                    .map(|p| &p.label)
                    .collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn every_slot_is_listed_in_all() {
        // Adding a slot fails to compile here: add it to `Slot::ALL`, to `fail_parts` and
        // `full_observation` in the testkit, and to `carry_forward`.
        fn listed(slot: Slot) -> bool {
            use Slot::*;
            match slot {
                Mx
                | Soa
                | Ns
                | ImplicitA
                | ImplicitAaaa
                | ExchangeA
                | ExchangeAaaa
                | Ptr
                | PtrForward
                | SmtpDialogue
                | RegistrationDelegation
                | RegistrationSuffix
                | PolicySpf
                | PolicyDmarc
                | PolicyMtaSts
                | PolicyTlsRpt
                | SpfAnswer
                | OrgDmarc
                | ReportAuthorization
                | DkimKey
                | Bimi
                | Dnsbl
                | DomainProof
                | ExchangeAddressProof
                | Tlsa
                | TlsaProof
                | MtaStsPolicy
                | NameserverAddress
                | NameserverAnswer
                | Registration => Slot::ALL.contains(&slot),
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for slot in Slot::ALL {
            assert!(listed(slot));
            assert!(seen.insert(slot), "{slot:?} listed twice");
        }
    }
}
