//! Reverse DNS of every exchange address, and its forward confirmation.

use super::{Check, CheckContext, Hit, Subject, exchange_label};
use crate::finding::Severity;
use crate::observation::{AddressObservation, Observation};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Each distinct exchange address once, with the exchanges that resolve to it:
/// 500 exchanges on one address are one finding, not 500.
fn distinct_addresses(obs: &Observation) -> BTreeMap<IpAddr, (&AddressObservation, Vec<&str>)> {
    let mut by_ip: BTreeMap<IpAddr, (&AddressObservation, Vec<&str>)> = BTreeMap::new();
    for exchange in &obs.exchanges {
        for addr in &exchange.addresses {
            by_ip
                .entry(addr.ip)
                .or_insert_with(|| (addr, Vec::new()))
                .1
                .push(exchange.name.as_str());
        }
    }
    by_ip
}

/// `127.0.1.50 (mx1.example.com, mx2.example.com and 3 more)`.
fn subject(ip: IpAddr, exchanges: &[&str]) -> String {
    const SHOWN: usize = 3;
    let mut names: Vec<String> = exchanges
        .iter()
        .take(SHOWN)
        .map(|n| exchange_label(n))
        .collect();
    if exchanges.len() > SHOWN {
        names.push(format!("and {} more", exchanges.len() - SHOWN));
    }
    format!("{ip} ({})", names.join(", "))
}

pub static MX_PTR_MISSING: Check = Check {
    id: "MX-PTR-MISSING",
    severity: Severity::Low,
    title: "An exchange address has no reverse DNS (PTR)",
    explanation: "Mail hosts also send (bounces, forwards, replies), and receivers commonly reject or score down \
                  connections from addresses without a PTR record. A missing PTR is also a sign of a host that \
                  was set up in haste or forgotten.",
    fix: "Ask whoever holds the address block (your hosting or network provider) to set a PTR naming the exchange.",
    reference: "RFC 1912 §2.1; M3AAWG Best Common Practices for reverse DNS",
    run: mx_ptr_missing,
};

fn mx_ptr_missing(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    distinct_addresses(obs)
        .into_iter()
        .filter(|(_, (addr, _))| addr.ptr.as_ref().is_some_and(|p| p.is_absent()))
        .map(|(ip, (_, exchanges))| {
            Hit::new(subject(ip, &exchanges), format!("{ip} has no PTR record"))
        })
        .collect()
}

pub static MX_PTR_MISMATCH: Check = Check {
    id: "MX-PTR-MISMATCH",
    severity: Severity::Low,
    title: "An exchange address fails forward-confirmed reverse DNS",
    explanation: "The address has a PTR record, but no name it gives resolves back to the address. Receivers \
                  that check forward-confirmed reverse DNS (FCrDNS) treat the host as unidentified, and the \
                  mismatch often means the address was reassigned.",
    fix: "Make the PTR name the exchange's name and give that name an A/AAAA record with this address.",
    reference: "RFC 8601 §2.7.3 (iprev); RFC 1912 §2.1",
    run: mx_ptr_mismatch,
};

fn mx_ptr_mismatch(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    let mut hits = Vec::new();
    for (ip, (addr, exchanges)) in distinct_addresses(obs) {
        {
            if addr.forward_confirmed() != Some(false) {
                continue;
            }
            let seen: Vec<String> = addr
                .ptr_forward
                .iter()
                .map(|f| match f.addresses.value() {
                    Some(ips) => {
                        let list: Vec<String> = ips.iter().map(ToString::to_string).collect();
                        format!("{} → {}", f.name, list.join(", "))
                    }
                    None => format!("{} → {}", f.name, f.addresses.outcome_label()),
                })
                .collect();
            hits.push(Hit::new(
                subject(ip, &exchanges),
                format!(
                    "PTR of {ip} points to {}; none leads back to {ip}",
                    seen.join("; ")
                ),
            ));
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use crate::observation::PtrForward;

    #[test]
    fn one_finding_per_address_however_many_exchanges_share_it() {
        let obs = domain(
            "example.com",
            &[
                (10, "a.example.com", &["192.0.43.10"]),
                (20, "b.example.com", &["192.0.43.10"]),
                (30, "c.example.com", &["192.0.43.11"]),
            ],
        );
        let mut obs = obs;
        for e in &mut obs.exchanges {
            for a in &mut e.addresses {
                a.ptr = Some(nxdomain());
                a.ptr_forward.clear();
            }
        }
        let findings = crate::checks::run_all(&obs, &Default::default());
        let subjects: Vec<&str> = findings
            .iter()
            .filter(|f| f.id == "MX-PTR-MISSING")
            .map(|f| f.subject.as_str())
            .collect();
        assert_eq!(
            subjects,
            [
                "192.0.43.10 (a.example.com, b.example.com)",
                "192.0.43.11 (c.example.com)"
            ]
        );
    }

    #[test]
    fn missing_and_mismatched_ptr() {
        let mut obs = healthy();
        obs.exchanges[1].addresses[0].ptr = Some(nxdomain());
        obs.exchanges[1].addresses[0].ptr_forward.clear();
        assert_eq!(ids(&obs), ["MX-PTR-MISSING"]);

        let mut obs = healthy();
        obs.exchanges[1].addresses[0].ptr = Some(observed(vec!["other.example.org".into()], 300));
        obs.exchanges[1].addresses[0].ptr_forward = vec![PtrForward {
            name: "other.example.org".into(),
            addresses: observed(vec!["192.0.2.200".parse().unwrap()], 300),
        }];
        assert_eq!(ids(&obs), ["MX-PTR-MISMATCH"]);

        // A forward lookup that failed cannot prove a mismatch.
        obs.exchanges[1].addresses[0].ptr_forward[0].addresses = failed(crate::Failure::Timeout);
        assert_eq!(ids(&obs), ["DNS-INDETERMINATE"]);
    }
}
