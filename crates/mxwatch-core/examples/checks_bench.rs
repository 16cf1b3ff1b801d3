//! How much CPU the checks cost per report: builds one observation shaped like a domain of the
//! bench's synthetic internet (`bench/gen_zones.py`: two MX at a provider, each with a
//! forward-confirmed PTR and a DNSSEC-secure TLSA record; SPF `mx` plus the provider's include;
//! DMARC with a report address; MTA-STS; TLS-RPT) and times `Report::new` on it.
//!
//! A benchmark, not a test (nothing is asserted about time):
//!
//! ```sh
//! cargo run --release -p mxwatch-core --example checks_bench            # 100,000 reports
//! cargo run --release -p mxwatch-core --example checks_bench -- 20000   # another count
//! ```
//!
//! It prints the findings of the observation once (so a change that alters them shows), then
//! the mean time per report.

use mxwatch_core::observation::PolicyRecords;
use mxwatch_core::observation::dnssec::{DnssecObservation, ExchangeDnssec, Proof, RrsetProof};
use mxwatch_core::observation::mailauth::MailAuthObservation;
use mxwatch_core::observation::mta_sts::{FetchOutcome, PolicyFetch};
use mxwatch_core::observation::{AddressLookups, PtrForward};
use mxwatch_core::records::spf::eval::Answers;
use mxwatch_core::records::tlsa::TlsaRecord;
use mxwatch_core::{
    AddressObservation, CheckContext, DomainName, ExchangeObservation, Lookup, MxRecord,
    Observation, Report, Soa,
};
use std::hint::black_box;
use std::net::IpAddr;
use std::time::Instant;

fn observed<T>(value: T) -> Lookup<T> {
    Lookup::Observed {
        value,
        ttl: 3600,
        cname_chain: vec![],
        elapsed_ms: 1,
    }
}

fn nodata<T>() -> Lookup<T> {
    Lookup::Absent {
        absence: mxwatch_core::Absence::NoData,
        negative_ttl: Some(300),
        cname_chain: vec![],
        elapsed_ms: 1,
    }
}

fn secure() -> Proof {
    Proof::Secure {
        zone: "bench".into(),
    }
}

/// A provider host: one IPv4 address with a PTR naming the host, which resolves back.
fn exchange(name: &str, preference: u16, ip: &str) -> ExchangeObservation {
    let ip: IpAddr = ip.parse().expect("literal address");
    ExchangeObservation {
        name: name.into(),
        preferences: vec![preference],
        lookups: AddressLookups {
            a: observed(vec![ip]),
            aaaa: nodata(),
        },
        addresses: vec![AddressObservation {
            ip,
            ptr: Some(observed(vec![name.to_string()])),
            ptr_forward: vec![PtrForward {
                name: name.into(),
                addresses: observed(vec![ip]),
            }],
            smtp: None,
            smtp_politeness: None,
        }],
        registration: None,
        unexamined: 0,
    }
}

fn exchange_dnssec(name: &str) -> ExchangeDnssec {
    ExchangeDnssec {
        name: name.into(),
        address: RrsetProof {
            question: format!("A {name}"),
            proof: secure(),
        },
        tlsa: observed(vec![TlsaRecord {
            usage: 3,
            selector: 1,
            matching: 1,
            data: "8d02536c887482bc34ff54e41d2ba659bf85b341a0a20afadb5813dcfbcf286d".into(),
            data_sha256: None,
        }]),
        tlsa_proof: secure(),
    }
}

fn bench_observation() -> Observation {
    let domain = "d17.bench";
    let (mx1, mx2) = ("mx1.p17.bench", "mx2.p17.bench");
    let spf = observed(vec!["v=spf1 mx include:_spf.p17.bench. -all".to_string()]);
    let mut spf_answers = Answers::new();
    spf_answers.insert(format!("TXT {domain}"), spf.clone());
    spf_answers.insert(
        "TXT _spf.p17.bench".into(),
        observed(vec!["v=spf1 ip4:127.10.0.35 ip4:127.10.0.36 -all".into()]),
    );
    spf_answers.insert(
        format!("MX {domain}"),
        observed(vec![mx1.to_string(), mx2.to_string()]),
    );
    for (host, ip) in [(mx1, "127.10.0.35"), (mx2, "127.10.0.36")] {
        spf_answers.insert(format!("A {host}"), observed(vec![ip.to_string()]));
        spf_answers.insert(format!("AAAA {host}"), nodata());
    }
    Observation {
        schema: mxwatch_core::observation::OBSERVATION_SCHEMA,
        domain: DomainName {
            ascii: domain.into(),
            unicode: domain.into(),
        },
        observed_at: "2026-12-03T06:00:00Z".into(),
        resolver: "127.0.0.1:53".into(),
        mx: observed(vec![
            MxRecord {
                preference: 10,
                exchange: mx1.into(),
            },
            MxRecord {
                preference: 20,
                exchange: mx2.into(),
            },
        ]),
        soa: observed(Soa {
            mname: "ns.bench".into(),
            rname: "hostmaster.bench".into(),
            serial: 2026120301,
            refresh: 3600,
            retry: 600,
            expire: 604800,
            minimum: 300,
        }),
        ns: observed(vec!["ns.bench".into()]),
        implicit: None,
        exchanges: vec![
            exchange(mx1, 10, "127.10.0.35"),
            exchange(mx2, 20, "127.10.0.36"),
        ],
        policy: Some(PolicyRecords {
            spf,
            dmarc: observed(vec![format!(
                "v=DMARC1; p=reject; rua=mailto:dmarc@{domain}"
            )]),
            mta_sts: observed(vec!["v=STSv1; id=202612023".into()]),
            tls_rpt: observed(vec![format!("v=TLSRPTv1; rua=mailto:tlsrpt@{domain}")]),
        }),
        limits: vec![],
        nameservers: vec![],
        mail_auth: Some(MailAuthObservation {
            spf_answers,
            ..Default::default()
        }),
        dnssec: Some(DnssecObservation {
            anchor: "lab".into(),
            domain: vec![RrsetProof {
                question: format!("MX {domain}"),
                proof: secure(),
            }],
            exchanges: vec![exchange_dnssec(mx1), exchange_dnssec(mx2)],
        }),
        mta_sts_policy: Some(PolicyFetch {
            url: format!("https://mta-sts.{domain}/.well-known/mta-sts.txt"),
            addresses: vec![],
            outcome: FetchOutcome::Fetched {
                content_type: "text/plain".into(),
                body: format!(
                    "version: STSv1\r\nmode: enforce\r\nmx: {mx1}\r\nmx: {mx2}\r\nmax_age: 86400\r\n"
                ),
                not_utf8: false,
            },
            elapsed_ms: 1,
        }),
        rdap: None,
    }
}

fn main() {
    let count: usize = match std::env::args().nth(1) {
        None => 100_000,
        Some(arg) => match arg.parse() {
            Ok(n) if n > 0 => n,
            _ => {
                eprintln!("usage: checks_bench [REPORTS], a positive count (default 100000)");
                std::process::exit(2);
            }
        },
    };
    let observation = bench_observation();
    // The scan audits loopback addresses in the lab, which only then count as routable.
    let ctx = CheckContext {
        lab: true,
        ..Default::default()
    };
    let report = Report::new(observation.clone(), &ctx, vec![]);
    println!("findings of the bench observation:");
    for finding in &report.findings {
        println!("  {} {}: {}", finding.id, finding.subject, finding.detail);
    }
    // The clone is part of the loop (Report::new takes the observation by value, as the scan
    // gives it); it is timed alone below and subtracted.
    let started = Instant::now();
    for _ in 0..count {
        black_box(black_box(observation.clone()));
    }
    let clone_us = started.elapsed().as_secs_f64() * 1e6 / count as f64;
    let started = Instant::now();
    for _ in 0..count {
        black_box(Report::new(black_box(observation.clone()), &ctx, vec![]));
    }
    let total_us = started.elapsed().as_secs_f64() * 1e6 / count as f64;
    println!(
        "{count} reports: {total_us:.2} µs/report ({:.2} µs of checks, {clone_us:.2} µs cloning the observation)",
        total_us - clone_us
    );
}
