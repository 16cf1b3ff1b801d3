//! Behind a validating resolver (as Unbound in tests/peers, or any public resolver), a bogus
//! domain's MX lookup is a SERVFAIL: the DNSSEC proof, asked with CD, must still say why
//! (DNSSEC-BOGUS and the broken link), rather than leave only "could not determine".

use crate::common::{ids, report};
use mxwatch_core::Failure;
use mxwatch_core::observation::dnssec::{BrokenLink, Proof};
use mxwatch_lab::{Behaviour, LabDns, LabZones, expectations};
use mxwatch_probe::Collector;

async fn validating_lab() -> LabDns {
    let zones = LabZones::builtin().unwrap(); // signed
    LabDns::start(zones, Behaviour::Validating, "127.0.0.1".parse().unwrap())
        .await
        .unwrap()
}

fn collector(lab: &LabDns) -> Collector {
    assert!(lab.trust_anchor().is_some(), "the lab is signed");
    crate::common::dns_collector(lab, 2000)
}

#[tokio::test]
async fn a_servfail_from_a_validating_resolver_is_explained_as_bogus() {
    let lab = validating_lab().await;
    let collector = collector(&lab);
    for (domain, link) in [
        ("sec-bogus.test", BrokenLink::SignatureExpired),
        ("sec-badds.test", BrokenLink::DnskeyNotMatchingDs),
    ] {
        let report = report(&collector, domain).await;
        // The resolver refused the data, as a validating one does ...
        assert_eq!(
            report.observation.mx.failure().map(|(f, _)| f),
            Some(Failure::ServFail),
            "{domain}: {:?}",
            report.observation.mx
        );
        // ... and the proof says which link broke.
        let dnssec = report.observation.dnssec.as_ref().expect("a DNSSEC proof");
        match dnssec.mx() {
            Some(Proof::Bogus { link: got, .. }) => assert_eq!(*got, link, "{domain}"),
            other => panic!("{domain}: want a bogus proof, got {other:?}"),
        }
        let ids = ids(&report);
        assert!(
            ids.contains(&"DNSSEC-BOGUS".to_string()),
            "{domain}: {ids:?}"
        );
        assert!(
            !ids.contains(&"DNSSEC-UNSIGNED".to_string()),
            "{domain}: {ids:?}"
        );
    }
}

#[tokio::test]
async fn a_healthy_domain_behind_a_validating_resolver_is_secure() {
    let lab = validating_lab().await;
    let collector = collector(&lab);
    let report = report(&collector, "healthy.test").await;
    assert!(report.observation.mx.value().is_some());
    let dnssec = report.observation.dnssec.as_ref().expect("a DNSSEC proof");
    assert!(dnssec.mx().is_some_and(Proof::is_secure), "{dnssec:?}");
    assert!(ids(&report).is_empty(), "{:?}", ids(&report));
}

#[tokio::test]
async fn every_lab_domain_meets_its_expectations_behind_a_validating_resolver() {
    let lab = validating_lab().await;
    let collector = collector(&lab);
    let mut failures = Vec::new();
    for exp in &expectations() {
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
