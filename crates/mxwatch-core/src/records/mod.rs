//! Every pure parser of bytes or text that mxwatch reads from the wire: the mail-policy TXT records
//! (SPF and its evaluator, DMARC, DKIM keys, TLS-RPT, BIMI, MTA-STS and its policy file), TLSA
//! RDATA, and SMTP reply lines. No I/O and no observation: each takes text or bytes and says what
//! it means, or exactly where it stops making sense.
//!
//! Why our own and not mail-auth's (Stalwart): mail-auth 0.13 parses for a *receiver*, and a receiver
//! is lenient on purpose: it drops a term it does not understand (`ipv4:192.0.2.1` vanishes without an
//! error), accepts `ip4:…/33`, and keeps no `pct`. An auditor must name the exact term that breaks a
//! record, so these parsers follow the RFC grammars strictly and say where they stop. mail-auth stays a
//! dev-dependency: a differential test checks that whatever we accept, it accepts too.

pub mod bimi;
pub mod dkim;
pub mod dmarc;
pub mod mta_sts;
pub mod rdap;
pub mod smtp;
pub mod spf;
pub mod taglist;
pub mod tlsa;
pub mod tlsrpt;

/// Why a record does not parse, for a person: the offending part and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordError {
    pub reason: String,
}

impl RecordError {
    pub fn new(reason: impl Into<String>) -> Self {
        RecordError {
            reason: reason.into(),
        }
    }
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

/// A short, printable excerpt of untrusted record text for messages.
pub(crate) fn excerpt(text: &str) -> String {
    let clean = crate::sanitize::for_terminal(text);
    if clean.chars().count() > 60 {
        format!("{}…", clean.chars().take(60).collect::<String>())
    } else {
        clean
    }
}
