//! The MTA-STS policy fetch against the lab's HTTPS hosts: each misbehaviour is recorded as the
//! failure kind it is, the lab CA (a `--ca-file` stand-in) makes the good hosts verify, and
//! without it the same hosts fail TLS.

use mxwatch_core::observation::mta_sts::{FetchFailure, FetchOutcome, PolicyFetch};
use mxwatch_core::records::mta_sts::parse_policy;
use mxwatch_lab::Lab;
use mxwatch_probe::mta_sts::{MtaStsOptions, PolicyFetcher};
use mxwatch_probe::smtp::TrustRoots;
use mxwatch_probe::{Dns, DnsOptions};
use std::sync::Arc;
use std::time::Duration;

fn fetcher(lab: &Lab, trust_lab: bool, lab_mode: bool) -> PolicyFetcher {
    let roots = if trust_lab {
        TrustRoots::from_ders(vec![lab.pki.ca_der()]).unwrap()
    } else {
        TrustRoots::from_ders(vec![]).unwrap()
    };
    let options = MtaStsOptions {
        port: lab.https.port,
        // The silent host costs this much; enough that a loaded machine does not time out good hosts.
        connect_timeout: Duration::from_secs(6),
        total_timeout: Duration::from_secs(6),
        roots,
    };
    PolicyFetcher::new(
        Arc::new(Dns::new(DnsOptions::new(lab.dns.addr))),
        lab_mode,
        &options,
    )
    .unwrap()
}

fn failure(fetch: &PolicyFetch) -> Option<FetchFailure> {
    match &fetch.outcome {
        FetchOutcome::Failed { failure, .. } => Some(*failure),
        FetchOutcome::Fetched { .. } => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_policy_host_gives_its_outcome() {
    let lab = Lab::start().await.unwrap();
    let fetcher = fetcher(&lab, true, true);
    let cases = [
        ("sts-404.test", FetchFailure::HttpStatus),
        ("sts-redirect.test", FetchFailure::Redirect),
        ("sts-ctype.test", FetchFailure::ContentType),
        ("sts-big.test", FetchFailure::TooLarge),
        ("sts-slow.test", FetchFailure::Timeout),
        ("sts-wrongname.test", FetchFailure::Tls),
        ("sts-expired.test", FetchFailure::Tls),
        ("sts-nohost.test", FetchFailure::NoAddress),
    ];
    let fetches = futures_util::future::join_all(cases.iter().map(|(d, _)| fetcher.fetch(d))).await;
    for ((domain, expected), fetch) in cases.iter().zip(&fetches) {
        assert_eq!(failure(fetch), Some(*expected), "{domain}: {fetch:?}");
    }
    let ok = fetcher.fetch("sts-ok.test").await;
    let FetchOutcome::Fetched {
        body, content_type, ..
    } = &ok.outcome
    else {
        panic!("sts-ok.test: {ok:?}");
    };
    assert!(content_type.starts_with("text/plain"));
    assert_eq!(parse_policy(body).unwrap().mx, ["*.smtp-ok.test"]);
    assert_eq!(
        ok.addresses,
        ["127.44.0.1".parse::<std::net::IpAddr>().unwrap()]
    );
    assert!(
        ok.url
            .ends_with(&format!(":{}/.well-known/mta-sts.txt", lab.https.port))
    );
}

#[tokio::test]
async fn without_the_lab_ca_the_policy_host_is_untrusted() {
    let lab = Lab::start().await.unwrap();
    let fetch = fetcher(&lab, false, true).fetch("sts-ok.test").await;
    assert_eq!(failure(&fetch), Some(FetchFailure::Tls), "{fetch:?}");
}

#[tokio::test]
async fn loopback_is_not_routable_outside_lab_mode() {
    let lab = Lab::start().await.unwrap();
    let fetch = fetcher(&lab, true, false).fetch("sts-ok.test").await;
    assert_eq!(
        failure(&fetch),
        Some(FetchFailure::NotRoutable),
        "{fetch:?}"
    );
    assert!(fetch.addresses.is_empty());
}

#[tokio::test]
async fn a_dead_resolver_is_a_dns_failure_not_no_address() {
    let lab = Lab::start().await.unwrap();
    let silent = mxwatch_lab::LabDns::start(
        mxwatch_lab::LabZones::default(),
        mxwatch_lab::Behaviour::Silent,
        "127.0.0.1".parse().unwrap(),
    )
    .await
    .unwrap();
    let mut options = DnsOptions::new(silent.addr);
    options.timeout = Duration::from_millis(200);
    let fetcher = PolicyFetcher::new(
        Arc::new(Dns::new(options)),
        true,
        &MtaStsOptions::new(TrustRoots::from_ders(vec![lab.pki.ca_der()]).unwrap()),
    )
    .unwrap();
    let fetch = fetcher.fetch("sts-ok.test").await;
    assert_eq!(failure(&fetch), Some(FetchFailure::Dns), "{fetch:?}");
}
