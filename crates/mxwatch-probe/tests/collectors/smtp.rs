//! The SMTP probe against the lab's SMTP hosts: every behaviour gives the IDs
//! its expectations name, hostile hosts never hang the run past the deadline,
//! and unreachable hosts never read as "no TLS".

use mxwatch_core::observation::smtp::Politeness;
use mxwatch_core::observation::smtp::{StartTls, TlsFailure};
use mxwatch_core::{CheckContext, Report, parse_domain_input};
use mxwatch_lab::{Lab, expectations_smtp};
use mxwatch_probe::mta_sts::MtaStsOptions;
use mxwatch_probe::smtp::{PolitenessLimits, SmtpOptions, SmtpProber, TrustRoots};
use mxwatch_probe::{Collector, CollectorOptions, Dns, DnsOptions};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn collector(lab: &Lab, relay: bool, trust_lab: bool) -> Collector {
    polite_collector(lab, relay, trust_lab, PolitenessLimits::default())
}

fn polite_collector(
    lab: &Lab,
    relay: bool,
    trust_lab: bool,
    politeness: PolitenessLimits,
) -> Collector {
    let roots = if trust_lab {
        TrustRoots::from_ders(vec![lab.pki.ca_der()]).unwrap()
    } else {
        TrustRoots::from_ders(vec![]).unwrap()
    };
    let smtp = SmtpProber::new(
        SmtpOptions {
            port: lab.smtp.port,
            total_timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(5),
            reply_timeout: Duration::from_secs(5),
            probe_relay: relay,
            politeness,
            ..SmtpOptions::default()
        },
        roots.clone(),
    );
    Collector::new(
        Arc::new(Dns::new(DnsOptions::new(lab.dns.addr))),
        CollectorOptions {
            lab: true,
            smtp: Some(Arc::new(smtp)),
            nameservers: Some(lab.ns_port),
            mail_auth: mxwatch_probe::mail_auth::MailAuthOptions {
                guess_dkim: true,
                ..Default::default()
            },
            dnssec: lab.dns.trust_anchor().map(|anchor| {
                mxwatch_probe::dns::dnssec::Validator::from_anchor_text(&anchor, "lab root")
                    .unwrap()
            }),
            mta_sts: Some(MtaStsOptions {
                port: lab.https.port,
                connect_timeout: Duration::from_secs(10),
                total_timeout: Duration::from_secs(10),
                roots: roots.clone(),
            }),
        },
    )
}

fn ctx() -> CheckContext {
    CheckContext {
        lab: true,
        now_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64,
        ..CheckContext::default()
    }
}

async fn report(collector: &Collector, domain: &str) -> Report {
    let parsed = parse_domain_input(domain).unwrap();
    Report::new(collector.observe(&parsed.domain).await, &ctx(), vec![])
}

fn ids(report: &Report) -> Vec<String> {
    report.findings.iter().map(|f| f.id.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_smtp_lab_host_meets_its_expectations_within_the_deadline() {
    let lab = Lab::start().await.unwrap();
    let collector = collector(&lab, true, true);
    let all = expectations_smtp();
    let started = Instant::now();
    let reports =
        futures_util::future::join_all(all.iter().map(|e| report(&collector, &e.domain))).await;
    // Silent, drip and tarpit hosts are cut at the 20 s deadline; nothing hangs beyond it.
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
    let mut failures = Vec::new();
    for (exp, report) in all.iter().zip(&reports) {
        let problems = exp.violations(&ids(report));
        if !problems.is_empty() {
            failures.push(format!("{}: {}", exp.domain, problems.join("; ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_host_is_fully_described() {
    let lab = Lab::start().await.unwrap();
    let report = report(&collector(&lab, false, true), "healthy.test").await;
    let probe = report.observation.exchanges[0].addresses[0]
        .smtp
        .as_ref()
        .expect("probed");
    assert!(probe.answered());
    assert_eq!(probe.starttls, StartTls::Established);
    let tls = probe.tls.as_ref().unwrap();
    assert_eq!(tls.version, "TLSv1.3");
    assert!(
        tls.ehlo.as_ref().is_some_and(|e| e.is_positive()),
        "EHLO again inside TLS"
    );
    let leaf = &probe.certificates[0];
    assert_eq!(leaf.dns_names, ["mx1.healthy.test"]);
    assert_eq!(leaf.key_type, "EC");
    assert_eq!(leaf.sha256.len(), 64);
    let verdict = probe.verdict.as_ref().unwrap();
    assert!(verdict.trusted && verdict.name_matches, "{verdict:?}");
    assert!(probe.relay.is_none(), "no relay test unless asked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_is_starttls_works_certificate_bad() {
    let lab = Lab::start().await.unwrap();
    let report = report(&collector(&lab, false, false), "smtp-ok.test").await;
    let found = ids(&report);
    assert!(
        found.contains(&"TLS-CERT-UNTRUSTED".to_string()),
        "{found:?}"
    );
    assert!(
        !found
            .iter()
            .any(|i| i == "TLS-NO-STARTTLS" || i == "TLS-STARTTLS-FAILS"),
        "{found:?}"
    );
    let probe = report.observation.exchanges[0].addresses[0]
        .smtp
        .as_ref()
        .unwrap();
    assert_eq!(probe.starttls, StartTls::Established);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_hosts_are_bounded() {
    let lab = Lab::start().await.unwrap();
    let collector = collector(&lab, false, true);
    let longline = report(&collector, "smtp-longline.test").await;
    let probe = longline.observation.exchanges[0].addresses[0]
        .smtp
        .as_ref()
        .unwrap();
    let error = probe.error.as_ref().unwrap();
    assert!(error.detail.contains("longer than"), "{error:?}");
    let oldtls = report(&collector, "smtp-oldtls.test").await;
    let probe = oldtls.observation.exchanges[0].addresses[0]
        .smtp
        .as_ref()
        .unwrap();
    assert!(
        matches!(
            probe.starttls,
            StartTls::HandshakeFailed {
                kind: TlsFailure::OldVersion,
                ..
            }
        ),
        "{:?}",
        probe.starttls
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_names_on_one_host_cost_a_few_dialogues() {
    let lab = Lab::start().await.unwrap();
    let report = report(&collector(&lab, false, true), "many.test").await;
    let probes: Vec<_> = report
        .observation
        .exchanges
        .iter()
        .flat_map(|e| e.addresses.iter().filter_map(|a| a.smtp.as_ref()))
        .collect();
    assert_eq!(probes.len(), 500, "every exchange has its SMTP result");
    let own = probes.iter().filter(|p| p.shared_with.is_none()).count();
    assert_eq!(own, mxwatch_probe::smtp::MAX_NAMES_PER_ADDRESS);
    assert!(probes.iter().all(|p| p.answered()));
}

/// Politeness, counted by the host: four own dialogues wanted on one address, but at most one
/// connection at a time and two a minute. The host never sees more; what was not probed is
/// recorded as skipped for politeness, and no finding reads it as a failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_address_limits_are_never_exceeded_and_skips_are_recorded_as_such() {
    let lab = Lab::start().await.unwrap();
    let limits = PolitenessLimits {
        concurrent: 1,
        per_minute: 2,
        max_wait: Duration::from_secs(20),
    };
    let report = report(&polite_collector(&lab, false, true, limits), "many.test").await;
    let host: std::net::IpAddr = "127.0.1.50".parse().unwrap();
    let seen = lab.smtp.connections.snapshot()[&host].clone();
    assert!(seen.most_open <= 1, "{} at once", seen.most_open);
    assert!(
        seen.accepted.len() <= 2,
        "{} connections",
        seen.accepted.len()
    );
    assert!(!seen.accepted.is_empty());
    let addresses: Vec<_> = report
        .observation
        .exchanges
        .iter()
        .flat_map(|e| &e.addresses)
        .collect();
    let skipped = addresses
        .iter()
        .filter(|a| matches!(a.smtp_politeness, Some(Politeness::Skipped { .. })))
        .count();
    assert!(skipped > 0, "four dialogues fit in a minute of two?");
    // Every address is either probed or skipped for politeness, never both, never neither.
    for address in &addresses {
        let polite_skip = matches!(address.smtp_politeness, Some(Politeness::Skipped { .. }));
        assert_ne!(address.smtp.is_some(), polite_skip, "{address:?}");
    }
    let ids = ids(&report);
    assert!(
        !ids.iter().any(|id| id.starts_with("SMTP-")),
        "a politeness skip read as a failure: {ids:?}"
    );
    assert!(
        report
            .observation
            .limits
            .iter()
            .any(|l| l.contains("out of politeness")),
        "{:?}",
        report.observation.limits
    );
}

/// Many domains on a few shared hosts, audited at once with the default limits: no host ever
/// sees more connections at once, or in a minute, than the limits allow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_hosts_under_concurrent_audits_stay_within_the_default_limits() {
    let lab = Lab::start().await.unwrap();
    let limits = PolitenessLimits::default();
    let collector = polite_collector(&lab, false, true, limits.clone());
    let domains = expectations_smtp();
    let rounds = futures_util::future::join_all(
        domains
            .iter()
            .chain(domains.iter())
            .map(|e| report(&collector, &e.domain)),
    )
    .await;
    assert_eq!(rounds.len(), domains.len() * 2);
    let seen = lab.smtp.connections.snapshot();
    assert!(!seen.is_empty());
    for (ip, log) in seen {
        assert!(
            log.most_open <= limits.concurrent,
            "{ip}: {} at once",
            log.most_open
        );
        let in_a_minute = log.most_within(mxwatch_probe::smtp::politeness::WINDOW);
        assert!(
            in_a_minute <= limits.per_minute as usize,
            "{ip}: {in_a_minute} in a minute"
        );
    }
}

/// RFC 7672 §3.1: where DANE authenticates a host, its WebPKI problems do not stop DANE senders;
/// the finding says so (and only there).
#[tokio::test]
async fn a_self_signed_host_that_dane_validates_is_said_to_be_so() {
    let lab = Lab::start().await.unwrap();
    let collector = collector(&lab, false, true);
    let untrusted = |report: &Report| -> Vec<String> {
        report
            .findings
            .iter()
            .filter(|f| f.id == "TLS-CERT-UNTRUSTED")
            .map(|f| f.detail.clone())
            .collect()
    };
    let with_dane = report(&collector, "dane-selfsigned.test").await;
    let details = untrusted(&with_dane);
    assert_eq!(details.len(), 1, "{:?}", ids(&with_dane));
    assert!(
        details[0].contains("DANE validates this host"),
        "{details:?}"
    );
    let without = report(&collector, "smtp-selfsigned.test").await;
    let details = untrusted(&without);
    assert!(!details.is_empty(), "{:?}", ids(&without));
    assert!(details.iter().all(|d| !d.contains("DANE")), "{details:?}");
}
