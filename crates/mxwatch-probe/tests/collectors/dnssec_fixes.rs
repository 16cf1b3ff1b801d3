//! DNSSEC/DANE collection against the loopback lab: details the expectation files cannot say.

use hickory_proto::rr::{Name, RData, Record, rdata::TLSA};
use mxwatch_lab::{Behaviour, LabDns, LabZones};
use mxwatch_probe::Collector;

fn collector(lab: &LabDns) -> Collector {
    crate::common::dns_collector(lab, 2000)
}

fn tlsa(name: &str, byte: u8) -> Record {
    Record::from_rdata(
        Name::from_ascii(name).unwrap(),
        300,
        RData::TLSA(TLSA::new(3.into(), 1.into(), 1.into(), vec![byte; 32])),
    )
}

/// A resolver hands an RRset over in any order (rotation): the observation must not depend on it,
/// or `watch` reports `tlsa-changed` for nothing.
#[tokio::test]
async fn tlsa_records_are_observed_in_one_order_whatever_the_answer_order() {
    let owner = "_25._tcp.mx1.dane-ok.test.";
    let mut seen = Vec::new();
    for order in [[0x01u8, 0xfe], [0xfe, 0x01]] {
        let mut zones = LabZones::builtin().unwrap();
        assert!(zones.replace_rrset(tlsa(owner, order[0])));
        assert!(zones.add_record(tlsa(owner, order[1])));
        let lab = LabDns::start(zones, Behaviour::Resolver, "127.0.0.1".parse().unwrap())
            .await
            .unwrap();
        let domain = mxwatch_core::parse_domain_input("dane-ok.test")
            .unwrap()
            .domain;
        let obs = collector(&lab).observe(&domain).await;
        let dnssec = obs.dnssec.expect("DNSSEC observed");
        let records = dnssec.exchanges[0]
            .tlsa
            .value()
            .cloned()
            .expect("TLSA observed");
        assert_eq!(records.len(), 2);
        seen.push(records);
    }
    assert_eq!(seen[0], seen[1]);
}
