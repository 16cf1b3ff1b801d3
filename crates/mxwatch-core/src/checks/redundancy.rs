//! Is the MX set sound as a set: no repeats, some redundancy, not too many?

use super::{Check, CheckContext, Hit, Subject, exchange_label};
use crate::finding::Severity;
use crate::ip;
use std::collections::BTreeSet;

/// More distinct exchanges than this and senders stop trying before the end of the list.
pub const MAX_EXCHANGES: usize = 10;

pub static MX_DUPLICATE: Check = Check {
    id: "MX-DUPLICATE",
    severity: Severity::Low,
    title: "An exchange is listed more than once",
    explanation: "The same host appears in several MX records with different preferences. It adds nothing but \
                  confusion: senders try it once at its best preference, and the set looks more redundant than \
                  it is.",
    fix: "Keep one MX record per exchange.",
    reference: "RFC 5321 §5.1",
    run: mx_duplicate,
};

fn mx_duplicate(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    obs.exchanges
        .iter()
        .filter(|e| e.preferences.len() > 1)
        .map(|e| {
            let prefs: Vec<String> = e.preferences.iter().map(ToString::to_string).collect();
            Hit::new(
                exchange_label(&e.name),
                format!("{} is listed with preferences {}", e.name, prefs.join(", ")),
            )
        })
        .collect()
}

pub static MX_NO_REDUNDANCY: Check = Check {
    id: "MX-NO-REDUNDANCY",
    severity: Severity::Low,
    title: "All mail goes to a single address",
    explanation: "Every exchange of the domain resolves to the same single address. While that host is down or \
                  unreachable, mail queues at the senders and is returned after their retry limit (typically \
                  four to five days).",
    fix: "Add a second exchange on a different host (and ideally a different network), or accept the risk knowingly.",
    reference: "RFC 5321 §5.1; RFC 2182 §3 (by analogy)",
    run: mx_no_redundancy,
};

fn mx_no_redundancy(obs: &Subject, ctx: &CheckContext) -> Vec<Hit> {
    let exchanges: Vec<_> = obs.exchanges.iter().filter(|e| e.name != ".").collect();
    // Unknown parts of the set could hold the redundancy: say nothing then.
    if exchanges.is_empty() || exchanges.iter().any(|e| e.lookups.any_failed()) {
        return vec![];
    }
    let addresses: BTreeSet<_> = exchanges
        .iter()
        .flat_map(|e| e.lookups.addresses())
        .filter(|a| ip::is_routable(*a, ctx.lab))
        .collect();
    if addresses.len() != 1 {
        return vec![];
    }
    let only = addresses
        .first()
        .map(ToString::to_string)
        .unwrap_or_default();
    let names: Vec<&str> = exchanges.iter().map(|e| e.name.as_str()).collect();
    vec![Hit::new(
        obs.domain.display(),
        format!(
            "every usable exchange ({}) resolves to {only} alone",
            names.join(", ")
        ),
    )]
}

pub static MX_TOO_MANY: Check = Check {
    id: "MX-TOO-MANY",
    severity: Severity::Low,
    title: "More exchanges than senders will try",
    explanation: "Senders try a limited number of MX hosts per delivery attempt (Postfix and Exim try at most \
                  five to ten), so exchanges at the end of a long list are never reached. Large MX sets also \
                  make replies too big for UDP and slow every lookup.",
    fix: "Keep the MX set to the hosts that are really needed (two to five is typical); put load balancing \
          behind fewer names.",
    reference: "RFC 5321 §5.1",
    run: mx_too_many,
};

fn mx_too_many(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    let count = obs.exchanges.iter().filter(|e| e.name != ".").count();
    if count <= MAX_EXCHANGES {
        return vec![];
    }
    vec![Hit::new(
        obs.domain.display(),
        format!("{count} distinct exchanges (more than {MAX_EXCHANGES})"),
    )]
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;

    #[test]
    fn duplicate_exchange() {
        let obs = domain(
            "example.com",
            &[
                (10, "mx1.example.net", &["198.32.64.12", "198.32.64.13"]),
                (20, "mx1.example.net", &[]),
            ],
        );
        assert_eq!(ids(&obs), ["MX-DUPLICATE"]);
    }

    #[test]
    fn single_address_even_behind_two_names() {
        assert_eq!(
            ids(&domain(
                "example.com",
                &[(10, "mx.example.com", &["192.0.43.10"])]
            )),
            ["MX-NO-REDUNDANCY"]
        );
        let same = domain(
            "example.com",
            &[
                (10, "a.example.com", &["192.0.43.10"]),
                (20, "b.example.com", &["192.0.43.10"]),
            ],
        );
        assert_eq!(ids(&same), ["MX-NO-REDUNDANCY"]);
    }

    #[test]
    fn too_many_exchanges() {
        let names: Vec<String> = (1..=11).map(|i| format!("mx{i}.example.com")).collect();
        let addrs: Vec<String> = (1..=11).map(|i| format!("192.0.43.{i}")).collect();
        let addr_refs: Vec<[&str; 1]> = addrs.iter().map(|a| [a.as_str()]).collect();
        let mx: Vec<(u16, &str, &[&str])> = names
            .iter()
            .zip(addr_refs.iter())
            .enumerate()
            .map(|(i, (n, a))| (i as u16 * 10, n.as_str(), &a[..]))
            .collect();
        assert_eq!(ids(&domain("example.com", &mx)), ["MX-TOO-MANY"]);
        assert!(ids(&domain("example.com", &mx[..10])).is_empty());
    }
}
