//! What a scan says about the list as a whole.

use mxwatch_core::{Finding, Report, Severity, Status};
use std::collections::{BTreeMap, HashMap};

/// An MX host and what depends on it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SharedHost {
    /// Domains whose MX set names this host.
    pub domains: u64,
    /// The worst finding seen about this host (its subject names it), with its detail.
    pub worst: Option<(Severity, String, String)>,
}

/// Counters over every report of a scan: by status, by finding, by MX host. Nothing is kept
/// per domain, and the MX hosts are bounded too ([`MAX_HOSTS`]): a list of a million domains
/// has hundreds of thousands of hosts that one domain uses, which say nothing about shared
/// infrastructure.
#[derive(Debug, Default)]
pub struct Summary {
    pub by_status: BTreeMap<&'static str, u64>,
    pub malformed: u64,
    pub duplicates: u64,
    /// (ID, severity) → domains with that finding.
    pub findings: BTreeMap<(String, Severity), u64>,
    pub hosts: HashMap<String, SharedHost>,
    /// Hosts used by at most this many domains may have been let go to keep [`MAX_HOSTS`]; a
    /// host's count may then be short by up to this much (0: every host was kept).
    pub hosts_floor: u64,
}

/// MX hosts counted at most. When there are more, the less used half goes (lossy counting, as
/// heavy-hitter summaries do): a host that many domains share is never let go.
pub const MAX_HOSTS: usize = 20_000;

fn status_name(status: Status) -> &'static str {
    match status {
        Status::Ok => "ok",
        Status::Findings => "findings",
        Status::Indeterminate => "indeterminate",
    }
}

impl Summary {
    pub fn add(&mut self, report: &Report) {
        *self
            .by_status
            .entry(status_name(report.status))
            .or_default() += 1;
        let mut ids: Vec<(&str, Severity)> = report
            .findings
            .iter()
            .map(|f| (f.id.as_str(), f.severity))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        for (id, severity) in ids {
            *self.findings.entry((id.to_string(), severity)).or_default() += 1;
        }
        let Some(records) = report.observation.mx.value() else {
            return;
        };
        let mut names: Vec<&str> = records
            .iter()
            .map(|r| r.exchange.as_str())
            .filter(|e| *e != "." && !e.is_empty())
            .collect();
        names.sort_unstable();
        names.dedup();
        if self.hosts.len() + names.len() > MAX_HOSTS {
            self.forget_least_used_hosts();
        }
        for name in names {
            let host = self.hosts.entry(name.to_string()).or_default();
            host.domains += 1;
            if let Some(f) = worst_about(&report.findings, name)
                && host.worst.as_ref().is_none_or(|(s, _, _)| f.severity > *s)
            {
                host.worst = Some((f.severity, f.id.to_string(), f.detail.clone()));
            }
        }
    }

    /// Lets go of the hosts used by no more domains than the median host.
    fn forget_least_used_hosts(&mut self) {
        let mut counts: Vec<u64> = self.hosts.values().map(|h| h.domains).collect();
        if counts.is_empty() {
            return;
        }
        let middle = counts.len() / 2;
        let cut = *counts.select_nth_unstable(middle).1;
        self.hosts.retain(|_, host| host.domains > cut);
        self.hosts_floor = self.hosts_floor.max(cut);
    }

    /// The hosts the most domains depend on, most first (ties by name).
    pub fn top_hosts(&self, n: usize) -> Vec<(&str, &SharedHost)> {
        let mut hosts: Vec<(&str, &SharedHost)> =
            self.hosts.iter().map(|(k, v)| (k.as_str(), v)).collect();
        hosts.sort_by(|a, b| b.1.domains.cmp(&a.1.domains).then(a.0.cmp(b.0)));
        hosts.truncate(n);
        hosts
    }

    /// Finding IDs by how many domains have them, most first.
    pub fn top_findings(&self, n: usize) -> Vec<(&str, Severity, u64)> {
        let mut all: Vec<(&str, Severity, u64)> = self
            .findings
            .iter()
            .map(|((id, s), n)| (id.as_str(), *s, *n))
            .collect();
        all.sort_by(|a, b| b.2.cmp(&a.2).then(b.1.cmp(&a.1)).then(a.0.cmp(b.0)));
        all.truncate(n);
        all
    }

    pub fn domains(&self) -> u64 {
        self.by_status.values().sum()
    }
}

/// The most severe definite finding whose subject is the host (or an address of it, which the
/// subject writes as `host (address)` or `host address`).
fn worst_about<'a>(findings: &'a [Finding], host: &str) -> Option<&'a Finding> {
    findings
        .iter()
        .filter(|f| f.severity > Severity::Info)
        .filter(|f| {
            f.subject == host
                || f.subject
                    .strip_prefix(host)
                    .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('/'))
        })
        .max_by_key(|f| f.severity)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mxwatch_core::CheckContext;

    fn report(domain: &str, exchanges: &[&str]) -> Report {
        let records: Vec<_> = exchanges
            .iter()
            .enumerate()
            .map(|(i, e)| serde_json::json!({"preference": 10 * (i + 1), "exchange": e}))
            .collect();
        let obs = serde_json::from_value(serde_json::json!({
            "schema": 1,
            "domain": {"ascii": domain, "unicode": domain},
            "observed_at": "2026-12-01T00:00:00Z",
            "resolver": "127.0.0.1:53",
            "mx": {"outcome": "observed", "value": records, "ttl": 300, "elapsed_ms": 1},
            "soa": {"outcome": "absent", "absence": "no_data", "elapsed_ms": 1},
            "ns": {"outcome": "absent", "absence": "no_data", "elapsed_ms": 1},
            "exchanges": []
        }))
        .unwrap();
        Report::new(obs, &CheckContext::default(), vec![])
    }

    #[test]
    fn counts_by_status_finding_and_shared_host() {
        let mut summary = Summary::default();
        summary.add(&report(
            "a.test",
            &["mx1.provider.test", "mx2.provider.test"],
        ));
        let mut b = report("b.test", &["mx1.provider.test"]);
        b.findings.push(Finding {
            id: "TLS-CERT-EXPIRING".into(),
            severity: Severity::Medium,
            subject: "mx1.provider.test (192.0.2.1)".into(),
            title: String::new(),
            detail: "expires in 6 days".into(),
            fix: String::new(),
            reference: String::new(),
        });
        summary.add(&b);
        summary.add(&report("c.test", &["mx.c.test"]));
        assert_eq!(summary.domains(), 3);
        let top = summary.top_hosts(2);
        assert_eq!(top[0].0, "mx1.provider.test");
        assert_eq!(top[0].1.domains, 2);
        assert_eq!(top.len(), 2);
        let (_, host) = top[0];
        assert_eq!(
            host.worst,
            Some((
                Severity::Medium,
                "TLS-CERT-EXPIRING".into(),
                "expires in 6 days".into()
            ))
        );
        assert_eq!(top[1].1.worst, None, "no finding names the second host");
        assert_eq!(summary.hosts_floor, 0, "every host kept");
        let findings = summary.top_findings(10);
        assert!(
            findings.contains(&("TLS-CERT-EXPIRING", Severity::Medium, 1)),
            "{findings:?}"
        );
    }

    #[test]
    fn hosts_stay_bounded_and_the_shared_ones_are_kept() {
        let mut summary = Summary::default();
        for i in 0..3 * MAX_HOSTS {
            let own = format!("mx.d{i}.test");
            summary.add(&report(&format!("d{i}.test"), &["mx1.provider.test", &own]));
        }
        assert!(summary.hosts.len() <= MAX_HOSTS, "{}", summary.hosts.len());
        assert_eq!(summary.hosts_floor, 1, "hosts of one domain were let go");
        let top = summary.top_hosts(1);
        assert_eq!(top[0].0, "mx1.provider.test");
        assert_eq!(
            top[0].1.domains,
            3 * MAX_HOSTS as u64,
            "the shared host's count is exact"
        );
    }
}
