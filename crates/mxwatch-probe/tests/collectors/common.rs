//! Helpers shared by the collector's integration tests.

use mxwatch_lab::LabDns;
use mxwatch_probe::{Collector, CollectorOptions, Dns, DnsOptions};
use std::sync::Arc;
use std::time::Duration;

/// A DNS-only collector (no SMTP, no nameserver comparison, no MTA-STS fetch) asking `lab`, in lab
/// mode, guessing DKIM selectors as `check` does, and validating DNSSEC from the lab's own root
/// when the lab is signed.
pub fn dns_collector(lab: &LabDns, timeout_ms: u64) -> Collector {
    dns_collector_with(lab, timeout_ms, &[], &[])
}

/// [`dns_collector`] naming DKIM selectors and asking DNS blocklists, as `check --dkim-selector
/// NAME --dnsbl ZONE` does (lab expectations that give `dkim-selector=` or `dnsbl=`).
pub fn dns_collector_with(
    lab: &LabDns,
    timeout_ms: u64,
    dkim_selectors: &[String],
    dnsbl_zones: &[String],
) -> Collector {
    let mut options = DnsOptions::new(lab.addr);
    options.timeout = Duration::from_millis(timeout_ms);
    Collector::new(
        Arc::new(Dns::new(options)),
        CollectorOptions {
            lab: true,
            smtp: None,
            nameservers: None,
            mail_auth: mxwatch_probe::mail_auth::MailAuthOptions {
                guess_dkim: true,
                dkim_selectors: dkim_selectors.to_vec(),
                dnsbl_zones: dnsbl_zones.to_vec(),
            },
            dnssec: lab.trust_anchor().map(|anchor| {
                mxwatch_probe::dns::dnssec::Validator::from_anchor_text(&anchor, "lab root")
                    .unwrap()
            }),
            mta_sts: None,
            rdap: None,
        },
    )
}

/// One lab domain observed through `collector` and judged as the lab is (loopback routable).
pub async fn report(collector: &Collector, domain: &str) -> mxwatch_core::Report {
    let parsed = mxwatch_core::parse_domain_input(domain).unwrap();
    let obs = collector.observe(&parsed.domain).await;
    mxwatch_core::Report::new(
        obs,
        &mxwatch_core::CheckContext {
            lab: true,
            ..Default::default()
        },
        parsed.notes,
    )
}

/// The finding IDs of a report, in order.
pub fn ids(report: &mxwatch_core::Report) -> Vec<String> {
    report.findings.iter().map(|f| f.id.to_string()).collect()
}
