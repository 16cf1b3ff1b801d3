//! DNS blocklists (only those the user names with `--dnsbl`): are the MX addresses listed?

use super::{Check, CheckContext, Hit, Subject};
use crate::finding::Severity;
use crate::observation::Observation;
use std::net::{IpAddr, Ipv4Addr};

/// What a blocklist answer means (RFC 5782 §2.1: listings are 127.0.0.0/8 addresses).
pub fn listed(answer: &str) -> Option<bool> {
    let ip: Ipv4Addr = answer.parse().ok()?;
    let [a, b, c, _] = ip.octets();
    if a != 127 {
        // Not a blocklist answer at all (a wildcard, a hijacking resolver): could not determine.
        return None;
    }
    if (b, c) == (255, 255) {
        // 127.255.255.x: the list refused the query (public resolver, over quota): could not determine.
        return None;
    }
    Some(true)
}

pub static DNSBL_LISTED: Check = Check {
    id: "DNSBL-LISTED",
    severity: Severity::Medium,
    title: "An MX address is listed on a DNS blocklist",
    explanation: "Receivers that use the blocklist reject or junk mail from a listed address. MX hosts send \
                  bounces, forwards and auto-replies, and are often the domain's outbound relays too; a listing \
                  may also mean the host was compromised or relays spam.",
    fix: "Find why (the list's lookup page says), fix the cause (an open relay, a compromised account, \
          backscatter), then request delisting.",
    reference: "RFC 5782 §2.1",
    run: dnsbl_listed,
};

fn dnsbl_listed(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    let Some(mail_auth) = &obs.mail_auth else {
        return vec![];
    };
    let mut hits = Vec::new();
    for answer in &mail_auth.dnsbl {
        let codes: Vec<&String> = answer
            .listing
            .value()
            .into_iter()
            .flatten()
            .filter(|a| listed(a) == Some(true))
            .collect();
        if !codes.is_empty() {
            hits.push(Hit::new(
                exchange_of(obs, answer.address),
                format!(
                    "{} is listed on {} (answer {})",
                    answer.address,
                    answer.zone,
                    codes
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    hits
}

fn exchange_of(obs: &Observation, ip: IpAddr) -> String {
    obs.exchanges
        .iter()
        .find(|e| e.addresses.iter().any(|a| a.ip == ip))
        .map(|e| format!("{} ({ip})", e.name))
        .unwrap_or_else(|| ip.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_listing_codes_are_listings() {
        assert_eq!(super::listed("127.0.0.2"), Some(true));
        assert_eq!(super::listed("127.0.0.10"), Some(true));
        assert_eq!(super::listed("127.255.255.254"), None, "query refused");
        assert_eq!(super::listed("192.0.2.1"), None, "not a blocklist answer");
        assert_eq!(super::listed("garbage"), None);
    }
}
