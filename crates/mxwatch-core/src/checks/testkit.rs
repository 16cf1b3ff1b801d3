//! Hand-built observations for the checks' unit tests.

use crate::name::DomainName;
use crate::observation::lookup::{Absence, Failure, Lookup};
use crate::observation::*;
use std::net::IpAddr;

pub fn observed<T>(value: T, ttl: u32) -> Lookup<T> {
    Lookup::Observed {
        value,
        ttl,
        cname_chain: vec![],
        elapsed_ms: 1,
    }
}

pub fn absent<T>(absence: Absence) -> Lookup<T> {
    Lookup::Absent {
        absence,
        negative_ttl: Some(300),
        cname_chain: vec![],
        elapsed_ms: 1,
    }
}

pub fn nodata<T>() -> Lookup<T> {
    absent(Absence::NoData)
}

pub fn nxdomain<T>() -> Lookup<T> {
    absent(Absence::NxDomain)
}

pub fn failed<T>(failure: Failure) -> Lookup<T> {
    Lookup::Failed {
        failure,
        detail: "injected".into(),
        cname_chain: vec![],
        elapsed_ms: 1,
    }
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

/// An exchange whose addresses all have a forward-confirmed PTR naming the exchange.
pub fn exchange(name: &str, preferences: &[u16], addresses: &[&str]) -> ExchangeObservation {
    let all = ips(addresses);
    let (v4, v6): (Vec<IpAddr>, Vec<IpAddr>) = all.iter().partition(|ip| ip.is_ipv4());
    let family = |list: Vec<IpAddr>| {
        if list.is_empty() {
            nodata()
        } else {
            observed(list, 3600)
        }
    };
    ExchangeObservation {
        name: name.into(),
        preferences: preferences.to_vec(),
        lookups: AddressLookups {
            a: family(v4),
            aaaa: family(v6),
        },
        addresses: all
            .iter()
            .map(|ip| AddressObservation {
                ip: *ip,
                ptr: Some(observed(vec![name.to_string()], 3600)),
                ptr_forward: vec![PtrForward {
                    name: name.into(),
                    addresses: observed(vec![*ip], 3600),
                }],
                smtp: None,
            })
            .collect(),
        registration: None,
        unexamined: 0,
    }
}

/// A domain with the given MX set; exchanges resolve to the given addresses.
pub fn domain(name: &str, mx: &[(u16, &str, &[&str])]) -> Observation {
    let mut exchanges: Vec<ExchangeObservation> = Vec::new();
    for (pref, exch, addrs) in mx {
        if *exch == "." {
            continue;
        }
        if let Some(existing) = exchanges.iter_mut().find(|e| e.name == *exch) {
            existing.preferences.push(*pref);
        } else {
            exchanges.push(exchange(exch, &[*pref], addrs));
        }
    }
    Observation {
        schema: OBSERVATION_SCHEMA,
        domain: DomainName {
            ascii: name.into(),
            unicode: crate::name::to_unicode(name),
        },
        observed_at: "2026-11-23T00:00:00Z".into(),
        resolver: "127.0.0.1:53".into(),
        mx: if mx.is_empty() {
            nodata()
        } else {
            observed(
                mx.iter()
                    .map(|(p, e, _)| MxRecord {
                        preference: *p,
                        exchange: e.to_string(),
                    })
                    .collect(),
                3600,
            )
        },
        soa: observed(
            Soa {
                mname: format!("ns1.{name}"),
                rname: format!("hostmaster.{name}"),
                serial: 1,
                refresh: 3600,
                retry: 600,
                expire: 604800,
                minimum: 300,
            },
            3600,
        ),
        ns: observed(vec![format!("ns1.{name}")], 3600),
        implicit: if mx.is_empty() {
            Some(AddressLookups {
                a: nodata(),
                aaaa: nodata(),
            })
        } else {
            None
        },
        exchanges,
        policy: None,
        limits: vec![],
        nameservers: vec![],
        mail_auth: None,
        dnssec: None,
        mta_sts_policy: None,
    }
}

/// The IDs the checks report for an observation (in the default, non-lab context).
pub fn ids(observation: &Observation) -> Vec<String> {
    ids_in(observation, &super::CheckContext::default())
}

pub fn ids_in(observation: &Observation, ctx: &super::CheckContext) -> Vec<String> {
    super::run_all(observation, ctx)
        .into_iter()
        .map(|f| f.id)
        .collect()
}

/// A healthy two-exchange domain on public addresses.
pub fn healthy() -> Observation {
    domain(
        "example.com",
        &[
            (
                10,
                "mx1.example.com",
                &["192.0.43.10", "2001:500:88:200::10"],
            ),
            (20, "mx2.example.net", &["198.32.64.12"]),
        ],
    )
}

/// healthy() with one named DKIM selector (`s1`) holding `key`, and `proof` for its MX RRset.
pub fn with_dkim_key_and_mx_proof(
    key: Lookup<Vec<String>>,
    proof: crate::observation::dnssec::Proof,
) -> Observation {
    let mut obs = healthy();
    obs.mail_auth = Some(crate::observation::mailauth::MailAuthObservation {
        dkim: vec![crate::observation::mailauth::DkimSelector {
            selector: "s1".into(),
            guessed: false,
            record: key,
        }],
        ..Default::default()
    });
    obs.dnssec = Some(crate::observation::dnssec::DnssecObservation {
        anchor: "test".into(),
        domain: vec![crate::observation::dnssec::RrsetProof {
            question: "MX example.com".into(),
            proof,
        }],
        exchanges: vec![],
    });
    obs
}
