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
        },
    )
}
