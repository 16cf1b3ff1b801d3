//! BIMI (brand logos in mailbox providers): the record's syntax and the DMARC policy it needs.
//! Nothing is fetched: the logo and certificate URLs are only checked for form.

use super::mail_common::records;
use super::{Check, CheckContext, Hit, Subject};
use crate::finding::Severity;
use crate::observation::Observation;
use crate::records::bimi;
use crate::records::dmarc::Policy;

fn bimi_records(obs: &Observation) -> Option<&[String]> {
    obs.mail_auth.as_ref()?.bimi.as_ref().and_then(records)
}

pub static BIMI_SYNTAX: Check = Check {
    id: "BIMI-SYNTAX",
    severity: Severity::Low,
    title: "The BIMI record is malformed",
    explanation: "Mailbox providers ignore a BIMI record at `default._bimi.<domain>` that does not start with \
                  `v=BIMI1`, has no `l=`, names its logo or certificate with anything but an https URL, or whose \
                  logo is not an SVG file: no logo is shown.",
    fix: "Publish `default._bimi.<domain> TXT \"v=BIMI1; l=https://…/logo.svg; a=https://…/vmc.pem\"`.",
    reference: "draft-brand-indicators-for-message-identification §4",
    run: bimi_syntax,
};

fn bimi_syntax(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    let Some(list) = bimi_records(obs) else {
        return vec![];
    };
    let subject = format!("default._bimi.{}", obs.domain.ascii);
    if list.len() > 1 {
        return vec![Hit::new(subject, format!("{} BIMI records", list.len()))];
    }
    match bimi::parse(&list[0]) {
        Err(e) => vec![Hit::new(subject, e.reason)],
        Ok(_) => vec![],
    }
}

pub static BIMI_DMARC_NOT_ENFORCED: Check = Check {
    id: "BIMI-DMARC-NOT-ENFORCED",
    severity: Severity::Low,
    title: "BIMI is published but DMARC does not enforce: no logo will be shown",
    explanation: "Mailbox providers show a BIMI logo only for domains whose DMARC policy is `quarantine` or \
                  `reject` at `pct=100`: with a weaker policy the BIMI record has no effect.",
    fix: "Move DMARC to `p=quarantine` or `p=reject` with `pct=100` (and `sp=` no weaker).",
    reference: "draft-brand-indicators-for-message-identification §3.1",
    run: bimi_dmarc_not_enforced,
};

fn bimi_dmarc_not_enforced(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    let Some([one]) = bimi_records(obs) else {
        return vec![];
    };
    if !bimi::parse(one).is_ok_and(|r| r.logo.is_some()) {
        return vec![];
    }
    let detail = match obs.governing_dmarc() {
        Err(()) => return vec![],
        Ok(None) => "there is no DMARC policy".to_string(),
        Ok(Some(governing)) => match governing.parsed() {
            Err(_) => "the DMARC record is unusable".to_string(),
            Ok(record) => {
                let policy = governing.policy(record);
                if policy >= Policy::Quarantine && record.pct == 100 {
                    return vec![];
                }
                format!("DMARC is p={} pct={}", policy.as_str(), record.pct)
            }
        },
    };
    vec![Hit::new(obs.domain.display(), detail)]
}
