//! The collectors against the loopback lab: every lab domain gives the IDs its
//! expectations name, hostile resolvers give "could not determine", and the
//! shared cache asks each distinct question once.

use crate::common::{ids, report};
use hickory_proto::rr::RecordType;
use mxwatch_core::{Failure, FindingId, Report};
use mxwatch_lab::{Behaviour, LabDns, LabZones, expectations};
use mxwatch_probe::Collector;

fn collector(lab: &LabDns, timeout_ms: u64) -> Collector {
    crate::common::dns_collector(lab, timeout_ms)
}

#[tokio::test]
async fn every_lab_domain_meets_its_expectations() {
    let lab = LabDns::start_builtin().await.unwrap();
    let collector = collector(&lab, 2000);
    let mut failures = Vec::new();
    let all = expectations();
    assert!(
        all.len() >= 20,
        "expectations.txt lists {} domains",
        all.len()
    );
    for exp in &all {
        // A domain checked with options of its own (a named selector, a blocklist) gets them alone.
        let own;
        let collector = if exp.has_options() {
            own = crate::common::dns_collector_with(
                &lab,
                2000,
                &exp.dkim_selectors,
                &exp.dnsbl_zones,
            );
            &own
        } else {
            &collector
        };
        let report = report(collector, &exp.domain).await;
        let problems = exp.violations(&ids(&report));
        if !problems.is_empty() {
            failures.push(format!("{}: {}", exp.domain, problems.join("; ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every ID in the catalogue is expected on some lab domain (a verdict no scenario exercises is
/// a verdict nobody has seen work), and every contract ID is in the catalogue.
#[tokio::test]
async fn every_catalogue_id_fires_somewhere_in_the_lab() {
    let fired: Vec<String> = expectations()
        .into_iter()
        .chain(mxwatch_lab::expectations_smtp())
        .chain(mxwatch_lab::expectations_rdap())
        .flat_map(|e| e.must)
        .collect();
    let catalogue: Vec<&str> = mxwatch_core::checks::CHECKS.iter().map(|c| c.id).collect();
    for id in mxwatch_core::checks::CONTRACT_IDS {
        assert!(catalogue.contains(id), "{id} is not in the catalogue");
    }
    // MX-UNEXPECTED needs a configured expectation (watch tests); TLS-CERT-WEAK-KEY needs a key
    // rustls cannot serve (the Postfix peer and the unit tests show it).
    let missing: Vec<&str> = catalogue
        .iter()
        .chain(["MX-TARGET-SYNTAX"].iter())
        .filter(|id| FindingId::MX_UNEXPECTED != **id && **id != "TLS-CERT-WEAK-KEY")
        .filter(|id| !fired.iter().any(|f| f == *id))
        .copied()
        .collect();
    assert!(
        missing.is_empty(),
        "no lab domain is built to fire {missing:?}"
    );
}

#[tokio::test]
async fn five_hundred_mx_records_come_over_tcp_and_are_all_audited() {
    let lab = LabDns::start_builtin().await.unwrap();
    let collector = collector(&lab, 2000);
    let report = report(&collector, "many.test").await;
    let mx = report.observation.mx.value().expect("MX over TCP");
    assert_eq!(mx.len(), 500);
    assert_eq!(report.observation.exchanges.len(), 500, "no cap at ten");
    assert!(
        report
            .observation
            .exchanges
            .windows(2)
            .all(|w| w[0].best_preference() <= w[1].best_preference())
    );
    // 500 exchanges on one address: one PTR question, not 500.
    assert_eq!(
        lab.log.count("50.1.0.127.in-addr.arpa.", RecordType::PTR),
        1
    );
}

#[tokio::test]
async fn a_shared_provider_is_looked_up_once_per_run() {
    let lab = LabDns::start_builtin().await.unwrap();
    let collector = collector(&lab, 2000);
    let domains = [
        "customer1.test",
        "customer2.test",
        "customer3.test",
        "healthy.test",
        "provider.test",
    ];
    let reports =
        futures_util::future::join_all(domains.iter().map(|d| report(&collector, d))).await;
    for r in &reports {
        assert!(r.findings.is_empty(), "{}: {:?}", r.domain, ids(r));
    }
    // Once for the addresses, once with DO for the DNSSEC proof (shared by all five domains).
    assert_eq!(lab.log.count("mx1.provider.test.", RecordType::A), 2);
    assert_eq!(lab.log.count("mx2.provider.test.", RecordType::AAAA), 1);
    assert_eq!(lab.log.count("1.1.0.127.in-addr.arpa.", RecordType::PTR), 1);
}

async fn hostile(behaviour: Behaviour) -> Report {
    let lab = LabDns::start(
        LabZones::builtin().unwrap(),
        behaviour,
        "127.0.0.1".parse().unwrap(),
    )
    .await
    .unwrap();
    let collector = collector(&lab, 300);
    report(&collector, "healthy.test").await
}

#[tokio::test]
async fn hostile_resolvers_give_could_not_determine_never_missing() {
    for (behaviour, failure) in [
        (Behaviour::Silent, Failure::Timeout),
        (Behaviour::Garbage, Failure::Malformed),
        (Behaviour::ServFail, Failure::ServFail),
        (Behaviour::Refused, Failure::Refused),
        (Behaviour::TruncatedOnly, Failure::Network),
        (Behaviour::WrongId, Failure::Malformed),
        (Behaviour::Referral, Failure::Referral),
        (Behaviour::Echo, Failure::Malformed),
    ] {
        let report = hostile(behaviour).await;
        assert_eq!(
            ids(&report)
                .iter()
                .filter(|i| FindingId::DNS_INDETERMINATE != i.as_str())
                .count(),
            0,
            "{behaviour:?}: {:?}",
            ids(&report)
        );
        assert_eq!(
            report.status,
            mxwatch_core::Status::Indeterminate,
            "{behaviour:?}"
        );
        let got = report.observation.mx.failure().map(|(f, _)| f);
        assert_eq!(
            got,
            Some(failure),
            "{behaviour:?}: {:?}",
            report.observation.mx
        );
    }
}

#[tokio::test]
async fn a_cname_loop_is_reported_as_a_loop() {
    let lab = LabDns::start_builtin().await.unwrap();
    let collector = collector(&lab, 2000);
    let report = report(&collector, "loop.test").await;
    let exchange = &report.observation.exchanges[0];
    assert_eq!(
        exchange.lookups.a.failure().map(|(f, _)| f),
        Some(Failure::CnameLoop)
    );
    assert!(
        ids(&report).contains(&"MX-TARGET-CNAME".to_string()),
        "{:?}",
        ids(&report)
    );
}

#[tokio::test]
async fn an_idn_is_checked_in_ascii_and_shown_in_unicode() {
    let lab = LabDns::start_builtin().await.unwrap();
    let collector = collector(&lab, 2000);
    let report = report(&collector, "BÜCHER.test.").await;
    assert_eq!(report.domain, "xn--bcher-kva.test");
    assert_eq!(report.domain_unicode, "bücher.test");
    assert!(report.observation.mx.value().is_some());
}

#[tokio::test]
async fn a_zone_listing_many_addresses_is_examined_up_to_a_limit_and_says_so() {
    let mut zones = LabZones::builtin().unwrap();
    let mut zone = String::from(
        "$ORIGIN fanout.test.\n$TTL 3600\n@ SOA ns1.lab.test. h.lab.test. 1 1 1 1 300\n@ NS ns1.lab.test.\n@ MX 10 mx\n",
    );
    for i in 1..=40 {
        zone.push_str(&format!("mx A 127.0.3.{i}\n"));
    }
    zones.set_zone("fanout.test.zone", &zone).unwrap();
    let lab = LabDns::start(zones, Behaviour::Resolver, "127.0.0.1".parse().unwrap())
        .await
        .unwrap();
    let report = report(&collector(&lab, 2000), "fanout.test").await;
    let exchange = &report.observation.exchanges[0];
    assert_eq!(
        exchange.lookups.addresses().len(),
        40,
        "every address is listed"
    );
    assert_eq!(
        exchange.addresses.len(),
        mxwatch_probe::collect::MAX_ADDRESSES_PER_EXCHANGE
    );
    assert_eq!(exchange.unexamined, 8);
    assert!(
        report.observation.limits[0].contains("not examined"),
        "{:?}",
        report.observation.limits
    );
}

/// SPF macro expansion (RFC 7208 §7.3) gives names with spaces and `%` (`%_`, `%%`, a local part):
/// DNS labels carry any octet (RFC 2181 §11), so the question goes out as is and the lab answers
/// it, instead of the lookup failing before a packet is sent.
#[tokio::test]
async fn expanded_spf_names_with_any_octet_are_asked_as_they_are() {
    let lab = LabDns::start_builtin().await.unwrap();
    let collector = collector(&lab, 2000);
    let dns = collector.dns();
    let before = dns.queries_sent();
    for name in ["a b%c.healthy.test", "first last@x.healthy.test"] {
        let lookup = dns.lookup(name, RecordType::A).await;
        assert!(
            lookup.failure().is_none(),
            "{name:?}: {:?}",
            lookup.failure()
        );
        assert!(lookup.is_absent(), "{name:?}: {lookup:?}");
    }
    assert!(dns.queries_sent() >= before + 2);
    // A label over 63 octets is no DNS name: refused before asking, and said so.
    let long = format!("{}.healthy.test", "x y".repeat(22));
    let lookup = dns.lookup(&long, RecordType::A).await;
    assert_eq!(lookup.failure().map(|(f, _)| f), Some(Failure::Malformed));
}
