//! Collects the mail-authentication records around an MX set: the SPF include tree (driven by the
//! same walk the checks judge, so what is fetched is exactly what is judged), the organisational
//! DMARC record, authorisations of external report addresses, DKIM keys, BIMI and DNS blocklists.

use crate::dns::Dns;
use futures_util::future::join_all;
use hickory_proto::rr::RecordType;
use mxwatch_core::name::registrable_domain;
use mxwatch_core::observation::PolicyRecords;
use mxwatch_core::observation::lookup::Lookup;
use mxwatch_core::observation::mailauth::organisational_domain as organisational;
use mxwatch_core::observation::mailauth::{
    COMMON_DKIM_SELECTORS, DkimSelector, DnsblAnswer, MailAuthObservation, OrgDmarc,
    ReportAuthorization,
};
use mxwatch_core::records::spf::eval::{self as spf_eval, Answers, Verdict};
use mxwatch_core::records::{dmarc, spf};
use std::collections::BTreeSet;
use std::net::IpAddr;

/// DNS answers one domain's SPF audit may fetch. A tree needing more is far past the limit of 10
/// lookups already; the cap keeps a hostile include tree from costing thousands of questions.
pub const MAX_SPF_ANSWERS: usize = 64;
/// External report domains whose authorisation is looked up.
pub const MAX_REPORT_DOMAINS: usize = 10;
/// DKIM selectors asked per domain (the user's, then the common ones).
pub const MAX_DKIM_SELECTORS: usize = 20;
/// MX addresses looked up in each DNS blocklist.
pub const MAX_DNSBL_ADDRESSES: usize = 32;

#[derive(Clone, Debug, Default)]
pub struct MailAuthOptions {
    /// Selectors the user named (`--dkim-selector`); asked before the common ones.
    pub dkim_selectors: Vec<String>,
    /// Ask the common selectors too (absence there proves nothing; presence is worth reporting).
    pub guess_dkim: bool,
    /// DNS blocklist zones to look every MX address up in (`--dnsbl`); none by default.
    pub dnsbl_zones: Vec<String>,
}

/// The records that depend only on the domain's own names (run beside the MX collection).
pub async fn collect(
    dns: &Dns,
    domain: &str,
    policy: &PolicyRecords,
    null_mx: bool,
    options: &MailAuthOptions,
) -> MailAuthObservation {
    let mut answers = Answers::new();
    answers.insert(spf_eval::key("TXT", domain), spf_only(policy.spf.clone()));
    let spf = async {
        let truncated = fill(dns, &mut answers, |a| spf_eval::audit(domain, a).missing).await;
        (answers, truncated)
    };
    let dmarc_org = async {
        if !policy.dmarc.is_absent() {
            return None;
        }
        let (org, _) = registrable_domain(domain)?;
        if org == domain {
            return None;
        }
        let record = dns
            .txt_with_prefix(&format!("_dmarc.{org}"), "v=DMARC1")
            .await;
        Some(OrgDmarc {
            domain: org,
            record,
        })
    };
    let dkim = async {
        if null_mx && options.dkim_selectors.is_empty() {
            return vec![];
        }
        let mut selectors: Vec<(String, bool)> = options
            .dkim_selectors
            .iter()
            .map(|s| (s.to_ascii_lowercase(), false))
            .collect();
        if options.guess_dkim {
            for common in COMMON_DKIM_SELECTORS {
                if !selectors.iter().any(|(s, _)| s == common) {
                    selectors.push((common.to_string(), true));
                }
            }
        }
        selectors.truncate(MAX_DKIM_SELECTORS);
        join_all(selectors.into_iter().map(|(selector, guessed)| async move {
            let record = dns
                .txt_with_prefix(&format!("{selector}._domainkey.{domain}"), "")
                .await;
            DkimSelector {
                selector,
                guessed,
                record,
            }
        }))
        .await
    };
    let bimi_name = format!("default._bimi.{domain}");
    let bimi = dns.txt_with_prefix(&bimi_name, "v=BIMI1");
    let ((spf_answers, spf_truncated), dmarc_org, dkim, bimi) =
        tokio::join!(spf, dmarc_org, dkim, bimi);
    let report_authorizations =
        report_authorizations(dns, domain, policy, dmarc_org.as_ref()).await;
    MailAuthObservation {
        spf_answers,
        spf_truncated,
        dmarc_org,
        report_authorizations,
        dkim,
        bimi: Some(bimi),
        dnsbl: vec![],
    }
}

/// What needs the MX addresses: the SPF answers `check_host()` needs for each of them, and blocklists.
pub async fn collect_for_addresses(
    dns: &Dns,
    domain: &str,
    addresses: &[IpAddr],
    observation: &mut MailAuthObservation,
    options: &MailAuthOptions,
) {
    let answers = &mut observation.spf_answers;
    let mut truncated = observation.spf_truncated;
    if !truncated {
        // The MX addresses, and the documentation addresses SPF-PERMISSIVE evaluates.
        let nobody: Vec<IpAddr> = spf_eval::NOBODY
            .iter()
            .filter_map(|s| s.parse().ok())
            .collect();
        truncated = fill(dns, answers, |a| {
            // One evaluation context for every address: each record is parsed once per round.
            let recorded = spf_eval::SpfAnswers::new(a);
            addresses
                .iter()
                .chain(&nobody)
                .filter_map(|ip| match recorded.check_host(*ip, domain) {
                    Verdict::Missing(key) => Some(key),
                    _ => None,
                })
                .collect()
        })
        .await;
    }
    observation.spf_truncated = truncated;
    let mut questions = Vec::new();
    for zone in &options.dnsbl_zones {
        for ip in addresses.iter().take(MAX_DNSBL_ADDRESSES) {
            questions.push((*ip, zone.clone()));
        }
    }
    observation.dnsbl = join_all(questions.into_iter().map(|(address, zone)| async move {
        let name = format!("{}.{zone}", reversed(address));
        let listing = dns.addresses(&name, false).await.map(strings);
        DnsblAnswer {
            address,
            zone,
            listing,
        }
    }))
    .await;
}

/// Fetches what `missing` says is missing until nothing is, or the cap is reached (returns true then).
async fn fill(dns: &Dns, answers: &mut Answers, missing: impl Fn(&Answers) -> Vec<String>) -> bool {
    loop {
        let wanted: BTreeSet<String> = missing(answers).into_iter().collect();
        if wanted.is_empty() {
            return false;
        }
        let room = MAX_SPF_ANSWERS.saturating_sub(answers.len());
        if room == 0 {
            return true;
        }
        let batch: Vec<String> = wanted.into_iter().take(room).collect();
        let fetched = join_all(batch.iter().map(|key| fetch(dns, key))).await;
        for (key, lookup) in batch.into_iter().zip(fetched) {
            answers.insert(key, lookup);
        }
    }
}

/// One answer of the SPF walk, by key (`"TXT name"` …), in presentation form.
async fn fetch(dns: &Dns, key: &str) -> Lookup<Vec<String>> {
    let (rtype, name) = key.split_once(' ').unwrap_or(("", key));
    match rtype {
        "TXT" => spf_only(dns.txt_with_prefix(name, "v=spf1").await),
        "A" => dns.addresses(name, false).await.map(strings),
        "AAAA" => dns.addresses(name, true).await.map(strings),
        "MX" => dns.mx(name).await.map(|records| {
            let mut records: Vec<_> = records.into_iter().filter(|r| !r.is_null()).collect();
            records.sort_by(|a, b| {
                a.preference
                    .cmp(&b.preference)
                    .then(a.exchange.cmp(&b.exchange))
            });
            records.into_iter().map(|r| r.exchange).collect()
        }),
        "PTR" => match name.parse::<IpAddr>() {
            Ok(ip) => dns.ptr(ip).await,
            Err(_) => dns.names(name, RecordType::PTR).await,
        },
        _ => dns.names(name, RecordType::TXT).await,
    }
}

/// Keeps only real SPF records (`v=spf1` then a space or the end: `v=spf10` is not one).
fn spf_only(lookup: Lookup<Vec<String>>) -> Lookup<Vec<String>> {
    lookup.map(|records| records.into_iter().filter(|r| spf::is_spf(r)).collect())
}

fn strings(ips: Vec<IpAddr>) -> Vec<String> {
    ips.into_iter().map(|ip| ip.to_string()).collect()
}

/// `192.0.2.1` → `1.2.0.192`; IPv6 as reversed nibbles (the blocklist convention).
fn reversed(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => v6
            .octets()
            .iter()
            .rev()
            .flat_map(|b| [b & 0xf, b >> 4])
            .map(|n| format!("{n:x}"))
            .collect::<Vec<_>>()
            .join("."),
    }
}

/// Looks up `<domain>._report._dmarc.<report domain>` for report addresses outside the domain's
/// organisational domain.
async fn report_authorizations(
    dns: &Dns,
    domain: &str,
    policy: &PolicyRecords,
    org: Option<&OrgDmarc>,
) -> Vec<ReportAuthorization> {
    let (policy_domain, records) = match (policy.dmarc.value(), org) {
        (Some(records), _) => (domain.to_string(), records.clone()),
        (None, Some(org)) => match org.record.value() {
            Some(records) => (org.domain.clone(), records.clone()),
            None => return vec![],
        },
        _ => return vec![],
    };
    let Some(record) = records.iter().find_map(|r| dmarc::parse(r).ok()) else {
        return vec![];
    };
    let own_org = organisational(&policy_domain);
    let mut report_domains: Vec<String> = record
        .rua
        .iter()
        .chain(&record.ruf)
        .filter_map(|u| u.mailto_domain.clone())
        .filter(|d| organisational(d) != own_org)
        .collect();
    report_domains.sort();
    report_domains.dedup();
    report_domains.truncate(MAX_REPORT_DOMAINS);
    join_all(report_domains.into_iter().map(|report_domain| {
        let name = format!("{policy_domain}._report._dmarc.{report_domain}");
        async move {
            let record = dns.txt_with_prefix(&name, "v=DMARC1").await;
            ReportAuthorization {
                report_domain,
                name,
                record,
            }
        }
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverses_addresses_the_blocklist_way() {
        assert_eq!(reversed("192.0.2.1".parse().unwrap()), "1.2.0.192");
        let v6 = reversed("2001:db8::1".parse().unwrap());
        assert!(v6.starts_with("1.0.0.0."), "{v6}");
        assert!(v6.ends_with(".8.b.d.0.1.0.0.2"), "{v6}");
    }
}
