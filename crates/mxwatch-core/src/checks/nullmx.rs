//! A domain that takes no mail (null MX, RFC 7505) should also say that it sends none.

use super::mail_common::null_mx;
use super::{Check, CheckContext, Hit, Subject};
use crate::finding::Severity;
use crate::records::dmarc::Policy;
use crate::records::spf::{self, Mechanism, Qualifier};

pub static NULLMX_SPF: Check = Check {
    id: "NULLMX-SPF",
    severity: Severity::Medium,
    title: "The domain takes no mail (null MX) but its SPF does not refuse all senders",
    explanation: "A null MX says the domain receives no mail; a domain that sends none either should say so \
                  with `v=spf1 -all`, so receivers reject mail forged in its name. Parked and unused domains \
                  are favourite spoofing targets because nobody watches them.",
    fix: "Publish `<domain> TXT \"v=spf1 -all\"`.",
    reference: "RFC 7505 §4; RFC 7208 §5.1; M3AAWG parked domains best practices",
    run: nullmx_spf,
};

fn nullmx_spf(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    if !null_mx(obs) {
        return vec![];
    }
    let Some(policy) = &obs.policy else {
        return vec![];
    };
    let detail = match policy.spf.value() {
        _ if policy.spf.is_failed() => return vec![],
        None => "no SPF record".to_string(),
        Some(records) if records.is_empty() => "no SPF record".to_string(),
        Some(records) if records.len() > 1 => "several SPF records".to_string(),
        Some(records) => match spf::parse(&records[0]) {
            Err(e) => format!("the SPF record does not parse ({e})"),
            Ok(record) => {
                let refuses_all = record.redirect.is_none()
                    && record.directives.len() == 1
                    && record.directives[0].mechanism == Mechanism::All
                    && record.directives[0].qualifier == Qualifier::Fail;
                if refuses_all {
                    return vec![];
                }
                format!(
                    "the SPF record is \"{}\", not \"v=spf1 -all\"",
                    crate::sanitize::for_terminal(&records[0])
                )
            }
        },
    };
    vec![Hit::new(obs.domain.display(), detail)]
}

pub static NULLMX_DMARC: Check = Check {
    id: "NULLMX-DMARC",
    severity: Severity::Medium,
    title: "The domain takes no mail (null MX) but DMARC does not reject mail in its name",
    explanation: "A domain that neither receives nor sends mail should publish DMARC `p=reject`, so receivers \
                  reject every message forged in its name (with SPF `-all`, nothing can align).",
    fix: "Publish `_dmarc.<domain> TXT \"v=DMARC1; p=reject\"`.",
    reference: "RFC 7505 §4; RFC 7489 §6.3",
    run: nullmx_dmarc,
};

fn nullmx_dmarc(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    if !null_mx(obs) {
        return vec![];
    }
    let detail = match obs.governing_dmarc() {
        Err(()) => return vec![],
        Ok(None) => "no DMARC record".to_string(),
        Ok(Some(governing)) => match governing.parsed() {
            Err(reason) => format!("the DMARC record is unusable ({reason})"),
            Ok(record) => {
                let policy = governing.policy(record);
                if policy == Policy::Reject && record.pct == 100 {
                    return vec![];
                }
                format!("the policy is {} (pct={})", policy.as_str(), record.pct)
            }
        },
    };
    vec![Hit::new(obs.domain.display(), detail)]
}
