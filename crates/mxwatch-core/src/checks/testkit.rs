//! Hand-built observations for the checks' unit tests.

use crate::name::DomainName;
use crate::observation::lookup::{Absence, Failure, Lookup};
use crate::observation::smtp::{
    CertVerdict, Certificate, Connect, SmtpProbe, StartTls, TlsSession,
};
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
                smtp_politeness: None,
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
        rdap: None,
    }
}

/// A registration answered over RDAP: expiring `days` after the checks' default "now", with
/// these status values.
pub fn registered(
    domain: &str,
    own: bool,
    exchanges: &[&str],
    days: i64,
    status: &[&str],
) -> crate::observation::rdap::DomainRegistration {
    use crate::observation::rdap::{DomainRegistration, RdapOutcome};
    let expires_unix = super::CheckContext::default().now_unix + days * 86_400;
    DomainRegistration {
        domain: domain.into(),
        own,
        exchanges: exchanges.iter().map(|e| e.to_string()).collect(),
        url: Some(format!("https://rdap.example/domain/{domain}")),
        outcome: RdapOutcome::Registered {
            record: crate::records::rdap::RegistrationRecord {
                ldh_name: Some(domain.into()),
                expires: Some(crate::utc::date(expires_unix)),
                expires_unix: Some(expires_unix),
                status: status.iter().map(|s| s.to_string()).collect(),
                registrar: Some("Example Registrar".into()),
            },
        },
    }
}

/// The status values of a domain with both registrar locks.
pub const LOCKED: &[&str] = &[
    "client transfer prohibited",
    "client update prohibited",
    "active",
];

/// The IDs the checks report for an observation (in the default, non-lab context).
pub fn ids(observation: &Observation) -> Vec<String> {
    ids_in(observation, &super::CheckContext::default())
}

pub fn ids_in(observation: &Observation, ctx: &super::CheckContext) -> Vec<String> {
    super::run_all(observation, ctx)
        .into_iter()
        .map(|f| f.id.to_string())
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

/// healthy() with every fallible part the observation can hold present and had: the domain's
/// implicit A/AAAA (besides its MX), a registration, SMTP dialogues, the policy TXT records, every
/// mail-authentication answer, DNSSEC proofs and TLSA, the MTA-STS fetch and two nameservers.
/// With [`fail_parts`] it covers every [`Slot`](crate::observation::parts::Slot) of the walk.
pub fn full_observation() -> Observation {
    use crate::observation::dnssec::{DnssecObservation, ExchangeDnssec, Proof, RrsetProof};
    use crate::observation::mailauth::*;
    use crate::observation::mta_sts::{FetchOutcome, PolicyFetch};
    use crate::observation::smtp::{Connect, Reply, SmtpProbe, StartTls};
    let mut obs = healthy();
    let txt = |text: &str| observed(vec![text.to_string()], 300);
    obs.implicit = Some(AddressLookups {
        a: observed(ips(&["192.0.43.5"]), 300),
        aaaa: nodata(),
    });
    obs.exchanges[1].registration = Some(Registration {
        registrable_domain: "example.net".into(),
        public_suffix: "net".into(),
        delegation: observed(vec!["a.iana-servers.net".into()], 300),
        suffix: nodata(),
    });
    for exchange in &mut obs.exchanges {
        let name = exchange.name.clone();
        for addr in &mut exchange.addresses {
            addr.smtp = Some(SmtpProbe {
                port: 25,
                connect: Connect::Connected { ms: 1 },
                greeting: Some(Reply {
                    code: 220,
                    lines: vec![format!("{name} ESMTP")],
                }),
                greeting_ms: Some(5),
                ehlo: None,
                helo_fallback: false,
                starttls: StartTls::NotOffered,
                tls: None,
                certificates: vec![],
                verdict: None,
                relay: None,
                error: None,
                elapsed_ms: 10,
                shared_with: None,
            });
        }
    }
    obs.policy = Some(PolicyRecords {
        spf: txt("v=spf1 mx include:_spf.example.net -all"),
        dmarc: txt("v=DMARC1; p=reject; rua=mailto:d@reports.example.org"),
        mta_sts: txt("v=STSv1; id=20261123"),
        tls_rpt: txt("v=TLSRPTv1; rua=mailto:tls@example.com"),
    });
    obs.mail_auth = Some(MailAuthObservation {
        spf_answers: [
            (
                "TXT example.com".to_string(),
                txt("v=spf1 mx include:_spf.example.net -all"),
            ),
            ("TXT _spf.example.net".to_string(), txt("v=spf1 -all")),
        ]
        .into_iter()
        .collect(),
        spf_truncated: false,
        dmarc_org: Some(OrgDmarc {
            domain: "example.com".into(),
            record: txt("v=DMARC1; p=reject"),
        }),
        report_authorizations: vec![ReportAuthorization {
            report_domain: "reports.example.org".into(),
            name: "example.com._report._dmarc.reports.example.org".into(),
            record: txt("v=DMARC1"),
        }],
        dkim: vec![DkimSelector {
            selector: "s1".into(),
            guessed: false,
            record: txt("v=DKIM1; p=AAAA"),
        }],
        bimi: Some(nodata()),
        dnsbl: vec![DnsblAnswer {
            address: "192.0.43.10".parse().unwrap(),
            zone: "bl.example".into(),
            listing: nxdomain(),
        }],
    });
    let secure = || Proof::Secure {
        zone: "example.com".into(),
    };
    obs.dnssec = Some(DnssecObservation {
        anchor: "test".into(),
        domain: vec![RrsetProof {
            question: "MX example.com".into(),
            proof: secure(),
        }],
        exchanges: vec![ExchangeDnssec {
            name: "mx1.example.com".into(),
            address: RrsetProof {
                question: "A mx1.example.com".into(),
                proof: secure(),
            },
            tlsa: observed(
                vec![
                    crate::records::tlsa::TlsaRecord::from_presentation(&format!(
                        "3 1 1 {}",
                        "ab".repeat(32)
                    ))
                    .unwrap(),
                ],
                300,
            ),
            tlsa_proof: secure(),
        }],
    });
    obs.mta_sts_policy = Some(PolicyFetch {
        url: "https://mta-sts.example.com/.well-known/mta-sts.txt".into(),
        addresses: ips(&["192.0.43.7"]),
        outcome: FetchOutcome::Fetched {
            content_type: "text/plain".into(),
            body: "version: STSv1\nmode: enforce\nmx: mx1.example.com\nmax_age: 86400\n".into(),
            not_utf8: false,
        },
        elapsed_ms: 3,
    });
    obs.rdap = Some(crate::observation::rdap::RdapObservation {
        domains: vec![
            registered("example.com", true, &["mx1.example.com"], 400, LOCKED),
            registered("example.net", false, &["mx2.example.net"], 400, LOCKED),
        ],
    });
    obs.nameservers = ["ns1.example.com", "ns2.example.com"]
        .iter()
        .zip(["192.0.43.53", "192.0.43.54"])
        .map(|(name, ip)| NameserverObservation {
            name: name.to_string(),
            address: Some(ip.parse().unwrap()),
            address_failure: None,
            answers: vec![AuthAnswer {
                question: "MX example.com".into(),
                authoritative: true,
                result: observed(
                    vec!["10 mx1.example.com.".into(), "20 mx2.example.net.".into()],
                    3600,
                ),
            }],
        })
        .collect();
    obs
}

/// Fails each part of `obs` whose slot `fail` names: a lookup times out, a DNSSEC proof cannot be
/// determined, an SMTP dialogue stops before EHLO, the MTA-STS fetch times out, a nameserver's
/// address cannot be looked up.
pub fn fail_parts(obs: &mut Observation, fail: impl Fn(crate::observation::parts::Slot) -> bool) {
    use crate::observation::dnssec::Proof;
    use crate::observation::mta_sts::{FetchFailure, FetchOutcome};
    use crate::observation::parts::Slot;
    use crate::observation::smtp::StartTls;
    fn timeout<T>(lookup: &mut Lookup<T>) {
        *lookup = failed(Failure::Timeout);
    }
    let undetermined = |proof: &mut Proof| {
        *proof = Proof::Indeterminate {
            detail: "injected".into(),
        }
    };
    if fail(Slot::Mx) {
        timeout(&mut obs.mx);
    }
    if fail(Slot::Soa) {
        timeout(&mut obs.soa);
    }
    if fail(Slot::Ns) {
        timeout(&mut obs.ns);
    }
    if let Some(implicit) = &mut obs.implicit {
        if fail(Slot::ImplicitA) {
            timeout(&mut implicit.a);
        }
        if fail(Slot::ImplicitAaaa) {
            timeout(&mut implicit.aaaa);
        }
    }
    for exchange in &mut obs.exchanges {
        if fail(Slot::ExchangeA) {
            timeout(&mut exchange.lookups.a);
        }
        if fail(Slot::ExchangeAaaa) {
            timeout(&mut exchange.lookups.aaaa);
        }
        for addr in &mut exchange.addresses {
            if fail(Slot::Ptr)
                && let Some(ptr) = &mut addr.ptr
            {
                timeout(ptr);
            }
            if fail(Slot::PtrForward) {
                for forward in &mut addr.ptr_forward {
                    timeout(&mut forward.addresses);
                }
            }
            if fail(Slot::SmtpDialogue)
                && let Some(smtp) = &mut addr.smtp
            {
                smtp.greeting = None;
                smtp.starttls = StartTls::NotReached;
            }
        }
        if let Some(reg) = &mut exchange.registration {
            if fail(Slot::RegistrationDelegation) {
                timeout(&mut reg.delegation);
            }
            if fail(Slot::RegistrationSuffix) {
                timeout(&mut reg.suffix);
            }
        }
    }
    if let Some(policy) = &mut obs.policy {
        for (slot, lookup) in [
            (Slot::PolicySpf, &mut policy.spf),
            (Slot::PolicyDmarc, &mut policy.dmarc),
            (Slot::PolicyMtaSts, &mut policy.mta_sts),
            (Slot::PolicyTlsRpt, &mut policy.tls_rpt),
        ] {
            if fail(slot) {
                timeout(lookup);
            }
        }
    }
    if let Some(mail_auth) = &mut obs.mail_auth {
        if fail(Slot::SpfAnswer) {
            mail_auth.spf_answers.values_mut().for_each(timeout);
        }
        if fail(Slot::OrgDmarc)
            && let Some(org) = &mut mail_auth.dmarc_org
        {
            timeout(&mut org.record);
        }
        if fail(Slot::ReportAuthorization) {
            for auth in &mut mail_auth.report_authorizations {
                timeout(&mut auth.record);
            }
        }
        if fail(Slot::DkimKey) {
            for selector in &mut mail_auth.dkim {
                timeout(&mut selector.record);
            }
        }
        if fail(Slot::Bimi)
            && let Some(bimi) = &mut mail_auth.bimi
        {
            timeout(bimi);
        }
        if fail(Slot::Dnsbl) {
            for answer in &mut mail_auth.dnsbl {
                timeout(&mut answer.listing);
            }
        }
    }
    if let Some(dnssec) = &mut obs.dnssec {
        if fail(Slot::DomainProof) {
            for rrset in &mut dnssec.domain {
                undetermined(&mut rrset.proof);
            }
        }
        for exchange in &mut dnssec.exchanges {
            if fail(Slot::ExchangeAddressProof) {
                undetermined(&mut exchange.address.proof);
            }
            if fail(Slot::Tlsa) {
                timeout(&mut exchange.tlsa);
            }
            if fail(Slot::TlsaProof) {
                undetermined(&mut exchange.tlsa_proof);
            }
        }
    }
    if fail(Slot::MtaStsPolicy)
        && let Some(fetch) = &mut obs.mta_sts_policy
    {
        fetch.outcome = FetchOutcome::Failed {
            failure: FetchFailure::Timeout,
            detail: "injected".into(),
        };
    }
    if fail(Slot::NameserverAnswer) {
        for ns in &mut obs.nameservers {
            for answer in &mut ns.answers {
                timeout(&mut answer.result);
            }
        }
    }
    if fail(Slot::Registration)
        && let Some(rdap) = &mut obs.rdap
    {
        for registration in &mut rdap.domains {
            registration.outcome = crate::observation::rdap::RdapOutcome::Failed {
                failure: crate::observation::rdap::RdapFailure::RateLimited,
                detail: "injected: HTTP 429".into(),
            };
        }
    }
    if fail(Slot::NameserverAddress)
        && let Some(ns) = obs.nameservers.last_mut()
    {
        ns.address = None;
        ns.address_failure = Some("injected: no answer before the timeout".into());
        ns.answers.clear();
    }
}

/// A leaf certificate whose digests are made from `seed` (its SPKI digest differs from its DER's).
pub fn leaf_certificate(seed: &str) -> Certificate {
    Certificate {
        subject: "CN=mx".into(),
        issuer: "CN=ca".into(),
        dns_names: vec![],
        not_before: 0,
        not_after: i64::MAX,
        key_type: "EC".into(),
        key_bits: 256,
        self_signed: false,
        sha256: seed.repeat(64),
        spki_sha256: seed.repeat(64).replacen(seed, "0", 1),
        sha512: seed.repeat(128),
        spki_sha512: seed.repeat(128).replacen(seed, "0", 1),
    }
}

/// A probe that reached `starttls` and presented `certificates` (trusted, for the name).
pub fn tls_probe(starttls: StartTls, certificates: Vec<Certificate>) -> SmtpProbe {
    SmtpProbe {
        port: 25,
        connect: Connect::Connected { ms: 1 },
        greeting: None,
        greeting_ms: None,
        ehlo: None,
        helo_fallback: false,
        tls: (starttls == StartTls::Established).then(|| TlsSession {
            version: "TLSv1.3".into(),
            cipher: "x".into(),
            ehlo: None,
        }),
        starttls,
        certificates,
        verdict: Some(CertVerdict {
            trusted: true,
            trust_failure: None,
            trust_detail: None,
            name_matches: true,
        }),
        relay: None,
        error: None,
        elapsed_ms: 1,
        shared_with: None,
    }
}
