//! The checks catalogue: one registry, everything else is a loop over it.
//!
//! A check is a pure function of an [`Observation`] with a stable ID and its
//! documentation beside it. `mxwatch explain`, `docs/checks.md` and the SARIF
//! rule table are generated from [`CHECKS`], so they cannot drift. Adding a
//! check is a `static` in one of the topic files plus one line in [`CHECKS`].

mod bimi;
mod dane;
pub use dane::{EndpointDane, endpoint_dane};
mod dkim;
mod dmarc;
mod dnsbl;
mod dnssec;
mod expected;
mod indeterminate;
mod mail_common;
mod mta_sts;
mod nameservers;
mod nullmx;
mod presence;
mod redundancy;
mod registration;
mod reverse;
mod smtp;
mod spf;
mod subject;
pub use subject::Subject;
mod targets;
#[cfg(test)]
pub(crate) mod testkit;
mod tls;
mod tlsrpt;
pub mod transition;
mod ttl;

use crate::finding::{Finding, FindingId, Severity};
use crate::observation::Observation;

/// What the checks may know besides the observation. No network; the clock is passed in.
#[derive(Clone, Debug)]
pub struct CheckContext {
    /// The MX set the domain is expected to have (`watch` configuration), for `MX-UNEXPECTED`.
    pub expected_mx: Option<std::sync::Arc<crate::expect::MxExpectation>>,
    /// Treat loopback addresses as routable (the loopback lab stands in for the internet).
    pub lab: bool,
    /// "Now" for certificate dates, in Unix seconds (the caller's clock, so checks stay pure).
    pub now_unix: i64,
    /// A certificate expiring within this many days is `TLS-CERT-EXPIRING`.
    pub expiry_warning_days: u32,
    /// A registration expiring within this many days is `REG-EXPIRING` / `REG-MX-EXPIRING`.
    pub registration_expiry_days: u32,
}

/// The default warning window for certificate expiry, in days.
pub const DEFAULT_EXPIRY_WARNING_DAYS: u32 = 14;

/// The default warning window for registration expiry, in days.
pub const DEFAULT_REGISTRATION_EXPIRY_DAYS: u32 = 30;

impl Default for CheckContext {
    fn default() -> Self {
        CheckContext {
            expected_mx: None,
            lab: false,
            // 2026-11-23T00:00:00Z: a fixed "now" for tests that build observations by hand.
            now_unix: 1_795_392_000,
            expiry_warning_days: DEFAULT_EXPIRY_WARNING_DAYS,
            registration_expiry_days: DEFAULT_REGISTRATION_EXPIRY_DAYS,
        }
    }
}

/// One occurrence of a check's problem: what it is about and what was seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hit {
    pub subject: String,
    pub detail: String,
}

impl Hit {
    pub fn new(subject: impl Into<String>, detail: impl Into<String>) -> Self {
        Hit {
            subject: subject.into(),
            detail: detail.into(),
        }
    }
}

/// A check: its documentation and its function.
pub struct Check {
    /// Stable ID; users script on it. Never reuse or rename one.
    pub id: &'static str,
    pub severity: Severity,
    pub title: &'static str,
    /// Why it matters, for a person who has not read the RFC.
    pub explanation: &'static str,
    pub fix: &'static str,
    pub reference: &'static str,
    /// Given the observation with what checks derive from it once per report ([`Subject`]).
    pub run: fn(&Subject<'_>, &CheckContext) -> Vec<Hit>,
}

impl Check {
    pub fn finding(&self, hit: Hit) -> Finding {
        Finding {
            id: FindingId::from_static(self.id),
            severity: self.severity,
            subject: hit.subject,
            title: self.title.to_string(),
            detail: hit.detail,
            fix: self.fix.to_string(),
            reference: self.reference.to_string(),
        }
    }
}

/// Every check, in the order reports list findings of equal severity.
pub static CHECKS: &[&Check] = &[
    &presence::MX_NONE,
    &presence::MX_IMPLICIT,
    &presence::MX_NULL,
    &presence::MX_NULL_MIXED,
    &expected::MX_UNEXPECTED,
    &targets::MX_TARGET_IP,
    &targets::MX_TARGET_SYNTAX,
    &targets::MX_TARGET_TYPO,
    &targets::MX_TARGET_UNREGISTERED,
    &targets::MX_TARGET_NXDOMAIN,
    &targets::MX_TARGET_NO_ADDRESS,
    &targets::MX_TARGET_CNAME,
    &targets::MX_TARGET_PRIVATE,
    &redundancy::MX_DUPLICATE,
    &redundancy::MX_NO_REDUNDANCY,
    &redundancy::MX_TOO_MANY,
    &ttl::MX_TTL,
    &reverse::MX_PTR_MISSING,
    &reverse::MX_PTR_MISMATCH,
    &nameservers::NS_LAME,
    &nameservers::NS_INCONSISTENT_MX,
    &nameservers::NS_SERIAL_MISMATCH,
    &nameservers::NS_UNREACHABLE,
    &smtp::SMTP_ALL_UNREACHABLE,
    &smtp::SMTP_PRIMARY_DOWN,
    &smtp::SMTP_UNREACHABLE,
    &smtp::SMTP_NO_GREETING,
    &smtp::SMTP_PROTOCOL_ERROR,
    &smtp::SMTP_SLOW_GREETING,
    &smtp::SMTP_BANNER_MISMATCH,
    &smtp::SMTP_OPEN_RELAY,
    &tls::TLS_NO_STARTTLS,
    &tls::TLS_STARTTLS_FAILS,
    &tls::TLS_OLD_VERSION,
    &tls::TLS_WEAK_CIPHER,
    &tls::TLS_CERT_EXPIRED,
    &tls::TLS_CERT_EXPIRING,
    &tls::TLS_CERT_UNTRUSTED,
    &tls::TLS_CERT_NAME_MISMATCH,
    &tls::TLS_CERT_WEAK_KEY,
    &tls::TLS_INCONSISTENT,
    &spf::SPF_MISSING,
    &spf::SPF_MULTIPLE,
    &spf::SPF_SYNTAX,
    &spf::SPF_INCLUDE_MISSING,
    &spf::SPF_TOO_MANY_LOOKUPS,
    &spf::SPF_VOID_LOOKUPS,
    &spf::SPF_PERMISSIVE,
    &spf::SPF_NEUTRAL,
    &spf::SPF_PTR,
    &spf::SPF_MX_NOT_COVERED,
    &dmarc::DMARC_MISSING,
    &dmarc::DMARC_SYNTAX,
    &dmarc::DMARC_NONE,
    &dmarc::DMARC_EXTERNAL_UNAUTHORISED,
    &nullmx::NULLMX_SPF,
    &nullmx::NULLMX_DMARC,
    &dkim::DKIM_SELECTOR_MISSING,
    &dkim::DKIM_SYNTAX,
    &dkim::DKIM_WEAK_KEY,
    &dkim::DKIM_REVOKED,
    &dkim::DKIM_NONE_FOUND,
    &tlsrpt::TLSRPT_MISSING,
    &tlsrpt::TLSRPT_SYNTAX,
    &bimi::BIMI_SYNTAX,
    &bimi::BIMI_DMARC_NOT_ENFORCED,
    &dnsbl::DNSBL_LISTED,
    &dnssec::DNSSEC_BOGUS,
    &dnssec::DNSSEC_UNSIGNED,
    &dnssec::DNSSEC_MX_UNSIGNED,
    &dane::DANE_MISMATCH,
    &dane::DANE_UNVERIFIED,
    &dane::DANE_UNSIGNED,
    &dane::DANE_PARTIAL,
    &dane::DANE_SYNTAX,
    &mta_sts::MTASTS_TXT_SYNTAX,
    &mta_sts::MTASTS_POLICY_FETCH,
    &mta_sts::MTASTS_POLICY_SYNTAX,
    &mta_sts::MTASTS_MX_MISMATCH,
    &mta_sts::MTASTS_TESTING,
    &mta_sts::MTASTS_CERT,
    &registration::REG_EXPIRING,
    &registration::REG_MX_EXPIRING,
    &registration::REG_NO_LOCK,
    &registration::REG_REDEMPTION,
    &indeterminate::DNS_INDETERMINATE,
];

/// The IDs the issues named and users script on: never renamed or removed (tests hold them to
/// the catalogue, and to a lab domain built to fire each one).
pub const CONTRACT_IDS: &[&str] = &[
    "MX-NONE",
    "MX-IMPLICIT",
    "MX-NULL",
    "MX-NULL-MIXED",
    "MX-TARGET-IP",
    "MX-TARGET-CNAME",
    "MX-TARGET-NXDOMAIN",
    "MX-TARGET-NO-ADDRESS",
    "MX-TARGET-UNREGISTERED",
    "MX-TARGET-PRIVATE",
    "MX-DUPLICATE",
    "MX-NO-REDUNDANCY",
    "MX-TOO-MANY",
    "MX-TARGET-TYPO",
    "MX-TTL",
    "MX-PTR-MISSING",
    "MX-PTR-MISMATCH",
    "DNS-INDETERMINATE",
    "SMTP-UNREACHABLE",
    "SMTP-ALL-UNREACHABLE",
    "SMTP-PRIMARY-DOWN",
    "SMTP-BANNER-MISMATCH",
    "TLS-NO-STARTTLS",
    "TLS-STARTTLS-FAILS",
    "TLS-OLD-VERSION",
    "TLS-WEAK-CIPHER",
    "TLS-CERT-EXPIRED",
    "TLS-CERT-EXPIRING",
    "TLS-CERT-UNTRUSTED",
    "TLS-CERT-NAME-MISMATCH",
    "TLS-CERT-WEAK-KEY",
    "TLS-INCONSISTENT",
    "NS-INCONSISTENT-MX",
    "NS-SERIAL-MISMATCH",
    "NS-LAME",
    "NS-UNREACHABLE",
    "MX-UNEXPECTED",
    "SPF-MISSING",
    "SPF-MULTIPLE",
    "SPF-SYNTAX",
    "SPF-TOO-MANY-LOOKUPS",
    "SPF-VOID-LOOKUPS",
    "SPF-PERMISSIVE",
    "SPF-MX-NOT-COVERED",
    "SPF-PTR",
    "DMARC-MISSING",
    "DMARC-SYNTAX",
    "DMARC-NONE",
    "DMARC-EXTERNAL-UNAUTHORISED",
    "DKIM-WEAK-KEY",
    "DKIM-SYNTAX",
    "DKIM-REVOKED",
    "DKIM-NONE-FOUND",
    "NULLMX-SPF",
    "NULLMX-DMARC",
    "TLSRPT-MISSING",
    "TLSRPT-SYNTAX",
    "DNSSEC-UNSIGNED",
    "DNSSEC-BOGUS",
    "DNSSEC-MX-UNSIGNED",
    "DANE-MISMATCH",
    "DANE-UNSIGNED",
    "DANE-PARTIAL",
    "DANE-SYNTAX",
    "MTASTS-TXT-SYNTAX",
    "MTASTS-POLICY-FETCH",
    "MTASTS-POLICY-SYNTAX",
    "MTASTS-MX-MISMATCH",
    "MTASTS-TESTING",
    "MTASTS-CERT",
];

/// Looks a check up by ID, ignoring case.
pub fn find(id: &str) -> Option<&'static Check> {
    CHECKS
        .iter()
        .copied()
        .find(|c| c.id.eq_ignore_ascii_case(id))
}

/// Runs every check; findings come out most severe first, then in catalogue order.
pub fn run_all(observation: &Observation, ctx: &CheckContext) -> Vec<Finding> {
    let subject = Subject::new(observation);
    let mut ranked: Vec<(usize, Finding)> = Vec::new();
    for (index, check) in CHECKS.iter().enumerate() {
        for hit in (check.run)(&subject, ctx) {
            ranked.push((index, check.finding(hit)));
        }
    }
    ranked.sort_by(|(ia, a), (ib, b)| b.severity.cmp(&a.severity).then(ia.cmp(ib)));
    ranked.into_iter().map(|(_, f)| f).collect()
}

/// The catalogue as Markdown, followed by the notes of `mxwatch headers`
/// ([`crate::headers::NOTES`]): the source of `docs/checks.md`.
pub fn catalogue_markdown() -> String {
    let mut out = String::from(
        "# mxwatch checks\n\n\
         Generated from the code by `mxwatch explain --all --format markdown`; do not edit by hand.\n\
         A test fails when this file is stale (`MXWATCH_BLESS=1 cargo test -p mxwatch-core` rewrites it).\n\n\
         Severities: **info** worth knowing, nothing wrong; **low** departs from good practice, no mail lost today;\n\
         **medium** mail may be delayed or rejected, routing is fragile; **high** mail is lost or misrouted, or will be;\n\
         **critical** mail can be received by someone else.\n\n\
         | ID | Severity | Title |\n|---|---|---|\n",
    );
    out.push_str(&catalogue_entries(CHECKS.iter().map(|c| CatalogueEntry {
        id: c.id,
        grade: c.severity.as_str(),
        title: c.title,
        explanation: c.explanation,
        fix: c.fix,
        reference: c.reference,
    })));
    // The notes of `mxwatch headers` are documented beside the checks (their own registry).
    out.push_str(&crate::headers::notes::catalogue_markdown());
    // The consequences of a change (`check --zone`, `watch`, `diff`): a registry of their own.
    out.push_str(&transition::catalogue_markdown());
    out
}

/// One entry of a catalogue's Markdown (a check, a `headers` note, a change rule).
pub(crate) struct CatalogueEntry<'a> {
    pub id: &'a str,
    /// The severity, or a note's level.
    pub grade: &'a str,
    pub title: &'a str,
    pub explanation: &'a str,
    pub fix: &'a str,
    pub reference: &'a str,
}

/// The rows of a catalogue's table (after its header), then a section per entry.
pub(crate) fn catalogue_entries<'a>(
    entries: impl Iterator<Item = CatalogueEntry<'a>> + Clone,
) -> String {
    let mut out = String::new();
    for e in entries.clone() {
        out.push_str(&format!(
            "| [`{}`](#{}) | {} | {} |\n",
            e.id,
            e.id.to_ascii_lowercase(),
            e.grade,
            e.title
        ));
    }
    for e in entries {
        out.push_str(&format!(
            "\n## {}\n\n**{}** — {}\n\n{}\n\n**Fix:** {}\n\n**Reference:** {}\n",
            e.id, e.grade, e.title, e.explanation, e.fix, e.reference
        ));
    }
    out
}

/// `preference exchange` lines of the MX set, for details.
pub(crate) fn exchange_label(name: &str) -> String {
    let unicode = crate::name::to_unicode(name);
    if unicode != name {
        format!("{unicode} ({name})")
    } else {
        name.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_unique_and_well_formed() {
        let mut seen = HashSet::new();
        for check in CHECKS {
            assert!(seen.insert(check.id), "duplicate ID {}", check.id);
            assert!(
                check
                    .id
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-'),
                "malformed ID {}",
                check.id
            );
            for (what, text) in [
                ("title", check.title),
                ("explanation", check.explanation),
                ("fix", check.fix),
                ("reference", check.reference),
            ] {
                assert!(!text.trim().is_empty(), "{} has no {what}", check.id);
            }
        }
    }

    #[test]
    fn the_named_finding_ids_are_checks_of_the_registry() {
        for id in FindingId::NAMED {
            let check = find(id.as_str()).unwrap_or_else(|| panic!("{id} is not a check"));
            assert_eq!(check.id, id.as_str());
            assert_eq!(check.finding(Hit::new("s", "d")).id, *id);
        }
    }

    #[test]
    fn the_ids_users_script_on_are_all_there() {
        for id in CONTRACT_IDS {
            assert!(find(id).is_some(), "{id} is missing from CHECKS");
        }
    }

    #[test]
    fn docs_checks_md_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/checks.md");
        let generated = catalogue_markdown();
        if std::env::var_os("MXWATCH_BLESS").is_some() {
            std::fs::write(path, &generated).unwrap();
        }
        let on_disk = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            on_disk == generated,
            "docs/checks.md is stale: run `MXWATCH_BLESS=1 cargo test -p mxwatch-core docs_checks_md_is_current`"
        );
    }
}
