//! The RDAP client against the lab's RDAP server, in process: what each kind of answer is
//! recorded as, the body cap, and one question per registrable domain for a collector however
//! many domains share it.

use mxwatch_core::observation::rdap::{RdapFailure, RdapOutcome};
use mxwatch_core::parse_domain_input;
use mxwatch_lab::{LabDns, LabPki, LabRdap, RdapBehaviour};
use mxwatch_probe::rdap::RdapOptions;
use mxwatch_probe::rdap::bootstrap::Bootstrap;
use mxwatch_probe::smtp::TrustRoots;
use mxwatch_probe::{Collector, CollectorOptions, Dns, DnsOptions};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

fn collector(dns: &LabDns, rdap: &LabRdap, pki: &LabPki) -> Collector {
    Collector::new(
        Arc::new(Dns::new(DnsOptions::new(dns.addr))),
        CollectorOptions {
            lab: true,
            rdap: Some(RdapOptions {
                bootstrap: Arc::new(Bootstrap::single(&rdap.url()).unwrap()),
                connect_timeout: Duration::from_secs(2),
                timeout: Duration::from_secs(2),
                per_server_qps: NonZeroU32::new(100).unwrap(),
                roots: TrustRoots::from_ders(vec![pki.ca_der()]).unwrap(),
            }),
            ..CollectorOptions::default()
        },
    )
}

async fn outcomes(collector: &Collector, domain: &str) -> Vec<(String, RdapOutcome)> {
    let parsed = parse_domain_input(domain).unwrap();
    let obs = collector.observe(&parsed.domain).await;
    obs.rdap
        .expect("RDAP was asked")
        .domains
        .into_iter()
        .map(|d| (d.domain, d.outcome))
        .collect()
}

fn failure(outcome: &RdapOutcome) -> Option<RdapFailure> {
    match outcome {
        RdapOutcome::Failed { failure, .. } => Some(*failure),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_answer_is_recorded_as_what_it_is_and_a_provider_is_asked_once() {
    let dns = LabDns::start_builtin().await.unwrap();
    let pki = LabPki::new().unwrap();
    let rdap = LabRdap::start(&pki).await.unwrap();
    let collector = collector(&dns, &rdap, &pki);

    // The domain's own registration first, then its exchanges' (provider.test).
    let got = outcomes(&collector, "reg-nolock.test").await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].0, "reg-nolock.test");
    assert_eq!(got[1].0, "provider.test");
    let RdapOutcome::Registered { record } = &got[0].1 else {
        panic!("{got:?}")
    };
    assert_eq!(record.status, ["active"]);
    assert!(record.expires_unix.is_some());

    for (domain, want) in [
        ("reg-error.test", RdapFailure::HttpStatus),
        ("reg-ratelimit.test", RdapFailure::RateLimited),
        ("reg-slow.test", RdapFailure::Timeout),
        ("reg-garbage.test", RdapFailure::Garbage),
    ] {
        let got = outcomes(&collector, domain).await;
        assert_eq!(failure(&got[0].1), Some(want), "{domain}: {got:?}");
    }
    assert_eq!(
        outcomes(&collector, "reg-unknown.test").await[0].1,
        RdapOutcome::NotFound
    );
    // Six domains on provider.test's exchanges, one collector: one question about it.
    assert_eq!(rdap.requests("provider.test"), 1);
    // And a domain asked twice in the run is asked once.
    outcomes(&collector, "reg-nolock.test").await;
    assert_eq!(rdap.requests("reg-nolock.test"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_past_the_cap_is_too_large_and_never_a_record() {
    let dns = LabDns::start_builtin().await.unwrap();
    let pki = LabPki::new().unwrap();
    let rdap = LabRdap::start(&pki).await.unwrap();
    rdap.set("reg-nolock.test", RdapBehaviour::Oversized);
    let got = outcomes(&collector(&dns, &rdap, &pki), "reg-nolock.test").await;
    assert_eq!(failure(&got[0].1), Some(RdapFailure::TooLarge), "{got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_server_is_a_tls_failure() {
    let dns = LabDns::start_builtin().await.unwrap();
    let pki = LabPki::new().unwrap();
    let rdap = LabRdap::start(&pki).await.unwrap();
    // Another CA than the one that signed the server's certificate.
    let other = LabPki::new().unwrap();
    let got = outcomes(&collector(&dns, &rdap, &other), "healthy.test").await;
    assert_eq!(failure(&got[0].1), Some(RdapFailure::Tls), "{got:?}");
    assert_eq!(rdap.requests("healthy.test"), 0);
}
