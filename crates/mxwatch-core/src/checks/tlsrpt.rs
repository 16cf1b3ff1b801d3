//! TLS-RPT (RFC 8460): where sending servers report TLS failures when delivering to the MX hosts.

use super::mail_common::{receives_mail, records};
use super::{Check, CheckContext, Hit, Subject};
use crate::finding::Severity;
use crate::records::tlsrpt;

pub static TLSRPT_MISSING: Check = Check {
    id: "TLSRPT-MISSING",
    severity: Severity::Info,
    title: "No TLS-RPT record: TLS failures on the MX hosts go unreported",
    explanation: "With `_smtp._tls.<domain>` TXT `v=TLSRPTv1; rua=…`, sending servers that fail to set up TLS to \
                  the MX hosts (an expired certificate, an MTA-STS or DANE mismatch) send a daily report. \
                  Without it, such failures are seen only when mail is lost.",
    fix: "Publish `_smtp._tls.<domain> TXT \"v=TLSRPTv1; rua=mailto:tlsrpt@<domain>\"`.",
    reference: "RFC 8460 §3",
    run: tlsrpt_missing,
};

fn tlsrpt_missing(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    let Some(policy) = &obs.policy else {
        return vec![];
    };
    if !receives_mail(obs) || !policy.tls_rpt.is_absent() {
        return vec![];
    }
    let also = if records(&policy.mta_sts).is_some() {
        " (the domain publishes MTA-STS, whose failures it will not hear of)"
    } else {
        ""
    };
    vec![Hit::new(
        obs.domain.display(),
        format!("no record at _smtp._tls.{}{also}", obs.domain.ascii),
    )]
}

pub static TLSRPT_SYNTAX: Check = Check {
    id: "TLSRPT-SYNTAX",
    severity: Severity::Medium,
    title: "The TLS-RPT record is malformed",
    explanation: "Senders ignore a TLS-RPT record that does not start with `v=TLSRPTv1`, has no valid `rua=` \
                  (mailto: or https:), or is one of several records: no reports are sent.",
    fix: "Publish one record: `v=TLSRPTv1; rua=mailto:tlsrpt@<domain>`.",
    reference: "RFC 8460 §3",
    run: tlsrpt_syntax,
};

fn tlsrpt_syntax(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    let Some(list) = obs.policy.as_ref().and_then(|p| records(&p.tls_rpt)) else {
        return vec![];
    };
    let subject = format!("_smtp._tls.{}", obs.domain.ascii);
    if list.len() > 1 {
        return vec![Hit::new(
            subject,
            format!(
                "{} records; senders then use none (RFC 8460 §3)",
                list.len()
            ),
        )];
    }
    match tlsrpt::parse(&list[0]) {
        Err(e) => vec![Hit::new(subject, e.reason)],
        Ok(_) => vec![],
    }
}
