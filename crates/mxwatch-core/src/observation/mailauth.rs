//! What the collector saw of the records that authenticate mail for the domain, beyond the policy
//! TXT records themselves (`observation::PolicyRecords`): the DNS answers of the SPF walk, the
//! organisational domain's DMARC, the authorisations of external DMARC report addresses, DKIM keys
//! at known or guessed selectors, BIMI, and DNS blocklist answers for the MX addresses.

use crate::observation::lookup::Lookup;
use crate::records::spf::eval::Answers;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MailAuthObservation {
    /// Every DNS answer the SPF audit needed, keyed `"TXT name"`, `"A name"`, `"AAAA name"`,
    /// `"MX name"`, `"PTR address"` (TXT: the SPF records only). Judged by `records::spf::eval`.
    #[serde(default, skip_serializing_if = "Answers::is_empty")]
    pub spf_answers: Answers,
    /// The walk stopped at the collector's cap of lookups: what was not fetched is not judged.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub spf_truncated: bool,
    /// `_dmarc` of the organisational domain, asked when the domain is below it and has no record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dmarc_org: Option<OrgDmarc>,
    /// For each external domain that DMARC reports go to: its authorisation record (RFC 7489 §7.1).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub report_authorizations: Vec<ReportAuthorization>,
    /// DKIM key records at the selectors asked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dkim: Vec<DkimSelector>,
    /// `default._bimi.<domain>` (records starting `v=BIMI1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bimi: Option<Lookup<Vec<String>>>,
    /// DNS blocklist answers for the MX addresses (only with `--dnsbl`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dnsbl: Vec<DnsblAnswer>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrgDmarc {
    /// The organisational domain (the registrable domain per the public suffix list).
    pub domain: String,
    pub record: Lookup<Vec<String>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReportAuthorization {
    /// The domain reports are sent to.
    pub report_domain: String,
    /// `<policy domain>._report._dmarc.<report domain>`
    pub name: String,
    /// Records starting `v=DMARC1` there.
    pub record: Lookup<Vec<String>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DkimSelector {
    pub selector: String,
    /// Guessed from a list of common selectors (absence proves nothing), not given by the user.
    pub guessed: bool,
    /// Every TXT record at `<selector>._domainkey.<domain>`.
    pub record: Lookup<Vec<String>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DnsblAnswer {
    pub address: IpAddr,
    pub zone: String,
    /// A records at the reversed address under the zone: `127.0.0.x` means listed.
    pub listing: Lookup<Vec<String>>,
}

/// The organisational domain (RFC 7489 §3.2): the registrable domain per the public suffix list,
/// or the name itself when the list says nothing (a lab name, a bare suffix).
pub fn organisational_domain(name: &str) -> String {
    crate::name::registrable_domain(name)
        .map(|(org, _)| org)
        .unwrap_or_else(|| name.to_ascii_lowercase())
}

/// The common DKIM selectors asked when the user names none: providers' defaults
/// (Google `google`, Microsoft 365 `selector1`/`selector2`, Mailchimp `k1`, …).
pub const COMMON_DKIM_SELECTORS: &[&str] = &[
    "default",
    "selector1",
    "selector2",
    "google",
    "k1",
    "k2",
    "s1",
    "s2",
    "dkim",
    "mail",
];
