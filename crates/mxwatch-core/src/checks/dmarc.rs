//! DMARC: is there a policy, does it parse, does it ask for anything, may its reports go where
//! they are sent?

use super::mail_common::null_mx;
use super::{Check, CheckContext, Hit, Subject};
use crate::finding::Severity;
use crate::records::dmarc::Policy;

pub static DMARC_MISSING: Check = Check {
    id: "DMARC-MISSING",
    severity: Severity::Medium,
    title: "No DMARC policy",
    explanation: "Without a DMARC record at `_dmarc.<domain>` (or at its organisational domain), receivers have \
                  no instruction for mail that fails SPF and DKIM alignment, and the domain gets no reports of \
                  who sends as it. Large mailbox providers now require DMARC from bulk senders.",
    fix: "Publish `_dmarc.<domain> TXT \"v=DMARC1; p=none; rua=mailto:dmarc@<domain>\"`, read the reports, \
          then move to `p=quarantine` and `p=reject`.",
    reference: "RFC 7489 §6.1, §6.6.3",
    run: dmarc_missing,
};

fn dmarc_missing(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    // A null-MX domain is judged by NULLMX-DMARC instead.
    if null_mx(obs) {
        return vec![];
    }
    match obs.governing_dmarc() {
        Ok(None) => {
            let org = obs
                .mail_auth
                .as_ref()
                .and_then(|m| m.dmarc_org.as_ref())
                .map(|o| format!(" nor at _dmarc.{}", o.domain))
                .unwrap_or_default();
            vec![Hit::new(
                obs.domain.display(),
                format!("no record at _dmarc.{}{org}", obs.domain.ascii),
            )]
        }
        _ => vec![],
    }
}

pub static DMARC_SYNTAX: Check = Check {
    id: "DMARC-SYNTAX",
    severity: Severity::High,
    title: "The DMARC record is unusable or malformed",
    explanation: "Receivers ignore a DMARC record that does not start with `v=DMARC1`, has an invalid `p=`, or \
                  is one of several records at `_dmarc`: the domain then has no DMARC at all, whatever the \
                  record says. Malformed report addresses or values lose reports or the policy.",
    fix: "Publish exactly one record, starting `v=DMARC1; p=…`, with the values named in the finding corrected.",
    reference: "RFC 7489 §6.3, §6.4, §6.6.3",
    run: dmarc_syntax,
};

fn dmarc_syntax(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    let Ok(Some(governing)) = obs.governing_dmarc() else {
        return vec![];
    };
    let subject = format!("_dmarc.{}", governing.domain);
    match governing.parsed() {
        Err(reason) => vec![Hit::new(subject, reason)],
        Ok(record) if record.p.is_none() => vec![Hit::new(
            subject,
            "no \"p=\" tag (required); receivers act as if p=none because \"rua=\" is valid",
        )],
        Ok(_) => vec![],
    }
}

pub static DMARC_NONE: Check = Check {
    id: "DMARC-NONE",
    severity: Severity::Medium,
    title: "DMARC asks receivers to do nothing (p=none)",
    explanation: "With `p=none` (or `pct=0`) DMARC only reports: mail that fails authentication is delivered as \
                  if the domain had no policy, so the domain can still be spoofed. It is the right first step, \
                  not a place to stay.",
    fix: "Once reports show all legitimate mail passing, move to `p=quarantine`, then `p=reject`.",
    reference: "RFC 7489 §6.3, §6.7",
    run: dmarc_none,
};

fn dmarc_none(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    // A null-MX domain is judged by NULLMX-DMARC instead.
    if null_mx(obs) {
        return vec![];
    }
    let Ok(Some(governing)) = obs.governing_dmarc() else {
        return vec![];
    };
    let Ok(record) = governing.parsed() else {
        return vec![];
    };
    let policy = governing.policy(record);
    let via = if governing.inherited {
        format!(
            " (from _dmarc.{}, whose subdomain policy applies)",
            governing.domain
        )
    } else {
        String::new()
    };
    if policy == Policy::None {
        return vec![Hit::new(
            obs.domain.display(),
            format!("the policy is none{via}"),
        )];
    }
    if record.pct == 0 {
        return vec![Hit::new(
            obs.domain.display(),
            format!(
                "p={} with pct=0: applied to no message{via}",
                policy.as_str()
            ),
        )];
    }
    vec![]
}

pub static DMARC_EXTERNAL_UNAUTHORISED: Check = Check {
    id: "DMARC-EXTERNAL-UNAUTHORISED",
    severity: Severity::Medium,
    title: "DMARC reports go to another domain that has not agreed to receive them",
    explanation: "When `rua=`/`ruf=` name an address in another organisation's domain, receivers send reports \
                  only if that domain publishes `<your domain>._report._dmarc.<its domain>` (RFC 7489 §7.1). \
                  Without it, the reports are silently not sent, and the domain flies blind.",
    fix: "Ask the report receiver to publish `<domain>._report._dmarc.<their domain> TXT \"v=DMARC1\"` \
          (report services do this when the domain is added to the account), or send reports to your own domain.",
    reference: "RFC 7489 §7.1",
    run: dmarc_external_unauthorised,
};

fn dmarc_external_unauthorised(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    let Some(mail_auth) = &obs.mail_auth else {
        return vec![];
    };
    mail_auth
        .report_authorizations
        .iter()
        // Observed with no `v=DMARC1` record, or absent: not authorised. Failed: could not determine.
        .filter(|a| !a.record.is_failed() && a.record.value().is_none_or(Vec::is_empty))
        .map(|a| {
            Hit::new(
                a.report_domain.clone(),
                format!(
                    "reports go to {}, but {} has no record",
                    a.report_domain, a.name
                ),
            )
        })
        .collect()
}
