//! Several recursive resolvers: questions spread over them, and a resolver that fails (silent,
//! SERVFAIL) is covered by the next before anything becomes "could not determine".

use hickory_proto::rr::RecordType;
use mxwatch_lab::{Behaviour, LabDns, LabZones};
use mxwatch_probe::{Dns, DnsOptions};
use std::time::Duration;

async fn lab(behaviour: Behaviour) -> LabDns {
    LabDns::start(
        LabZones::builtin_unsigned().unwrap(),
        behaviour,
        "127.0.0.1".parse().unwrap(),
    )
    .await
    .unwrap()
}

fn dns(first: &LabDns, more: &[&LabDns]) -> Dns {
    let mut options = DnsOptions::new(first.addr);
    options.timeout = Duration::from_millis(300);
    options.more_resolvers = more.iter().map(|l| l.addr).collect();
    Dns::new(options)
}

#[tokio::test]
async fn a_failing_resolver_is_covered_by_the_next() {
    for behaviour in [Behaviour::ServFail, Behaviour::Silent, Behaviour::Refused] {
        let bad = lab(behaviour).await;
        let good = lab(Behaviour::Resolver).await;
        let dns = dns(&bad, &[&good]);
        for name in ["healthy.test", "customer1.test", "nomx.test"] {
            let mx = dns.mx(name).await;
            assert!(!mx.is_failed(), "{behaviour:?} {name}: {mx:?}");
        }
        if behaviour != Behaviour::Silent {
            // (A silent server logs nothing: it only reads.)
            assert!(
                bad.log.total() > 0,
                "{behaviour:?}: the first resolver was asked"
            );
        }
        assert_eq!(
            dns.resolvers_label(),
            format!("{}, {}", bad.addr, good.addr)
        );
    }
}

#[tokio::test]
async fn questions_are_spread_over_the_resolvers() {
    let (a, b) = (
        lab(Behaviour::Resolver).await,
        lab(Behaviour::Resolver).await,
    );
    let dns = dns(&a, &[&b]);
    for i in 0..20 {
        let _ = dns.mx(&format!("n{i}.healthy.test")).await;
    }
    let (asked_a, asked_b) = (a.log.total(), b.log.total());
    assert_eq!(asked_a + asked_b, 20, "each question asked once");
    assert_eq!((asked_a, asked_b), (10, 10), "in turn");
}

#[tokio::test]
async fn when_every_resolver_fails_it_is_could_not_determine() {
    let (a, b) = (lab(Behaviour::ServFail).await, lab(Behaviour::Silent).await);
    let dns = dns(&a, &[&b]);
    let mx = dns.mx("healthy.test").await;
    assert!(mx.is_failed(), "{mx:?}");
    assert!(!mx.is_absent(), "never 'missing'");
}

#[tokio::test]
async fn a_rate_limit_still_gets_every_answer() {
    let resolver = lab(Behaviour::Resolver).await;
    let mut options = DnsOptions::new(resolver.addr);
    options.qps_per_resolver = std::num::NonZeroU32::new(200);
    let dns = Dns::new(options);
    for name in ["healthy.test", "customer1.test", "nomx.test"] {
        assert!(!dns.mx(name).await.is_failed());
    }
    assert_eq!(resolver.log.total(), 3);
}

#[tokio::test]
async fn a_lost_datagram_is_sent_again_once_the_resolvers_reply_times_say_it_is_overdue() {
    let resolver = lab(Behaviour::Resolver).await;
    let mut options = DnsOptions::new(resolver.addr);
    let timeout = Duration::from_secs(30);
    options.timeout = timeout;
    let dns = Dns::new(options);
    assert_eq!(
        dns.overdue_after(),
        vec![(resolver.addr, timeout)],
        "before any reply, only the whole timeout"
    );
    for i in 0..20 {
        assert!(!dns.mx(&format!("n{i}.healthy.test")).await.is_failed());
    }
    let [(_, overdue)] = dns.overdue_after()[..] else {
        panic!("one resolver")
    };
    assert!(
        overdue < timeout,
        "fast replies make a try overdue sooner: {overdue:?}"
    );
    // The path now loses each question's first datagram: the second try (the same question
    // again) is answered, and the server saw the question exactly twice.
    resolver.set_behaviour(Behaviour::LosesFirst);
    let mx = dns.mx("customer1.test").await;
    assert!(!mx.is_failed(), "{mx:?}");
    assert_eq!(resolver.log.count("customer1.test.", RecordType::MX), 2);
}
