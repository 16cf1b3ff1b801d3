//! What the collectors saw for one domain: a plain, serialisable value.
//!
//! An observation can be saved, replayed, diffed and shipped; checks read
//! nothing else. Names are stored in lower-case ASCII (A-label) form without
//! the trailing dot; the null MX target is stored as `"."`.
//!
//! This module is the model of what was seen, and only that: the outcome of one DNS question
//! ([`lookup`]), DNSSEC proofs ([`dnssec`]), SMTP probes ([`smtp`]), the mail-authentication
//! answers ([`mailauth`]), the MTA-STS policy fetch ([`mta_sts`]) and the registrations over RDAP
//! ([`rdap`]); and one walk over every
//! part of it that can fail ([`parts`]). The parsers that read the
//! text inside it are in `records`; what a monitor does with two of them is in `monitor`.

pub mod dnssec;
pub mod lookup;
pub mod mailauth;
pub mod mta_sts;
pub mod parts;
pub mod rdap;
pub mod smtp;

use crate::name::DomainName;
use crate::observation::lookup::Lookup;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// The observation format version; bump it when a field changes meaning.
pub const OBSERVATION_SCHEMA: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub schema: u32,
    pub domain: DomainName,
    /// When the collection started, RFC 3339 UTC; set by the collector's clock.
    pub observed_at: String,
    /// The recursive resolver that was asked (`ip:port`).
    pub resolver: String,
    pub mx: Lookup<Vec<MxRecord>>,
    pub soa: Lookup<Soa>,
    pub ns: Lookup<Vec<String>>,
    /// The domain's own A/AAAA, looked up only when it has no MX (the implicit MX of RFC 5321 §5.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub implicit: Option<AddressLookups>,
    /// One entry per distinct exchange, ordered by best preference then name.
    pub exchanges: Vec<ExchangeObservation>,
    /// The mail-policy TXT records that go with the MX set (compared over time by `watch`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyRecords>,
    /// Limits that were reached while collecting (what was not examined, and why).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub limits: Vec<String>,
    /// What each authoritative nameserver of the domain answers, asked directly.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<NameserverObservation>,
    /// SPF walk, organisational DMARC, report authorisations, DKIM, BIMI, DNS blocklists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail_auth: Option<crate::observation::mailauth::MailAuthObservation>,
    /// DNSSEC validation of the domain and its exchanges, and their TLSA records (DANE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dnssec: Option<crate::observation::dnssec::DnssecObservation>,
    /// The MTA-STS policy fetched over HTTPS (RFC 8461 §3.3); `None` when not fetched (no STS TXT
    /// record, or `--no-probe`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mta_sts_policy: Option<crate::observation::mta_sts::PolicyFetch>,
    /// Registration data over RDAP of the domain and of its exchanges' domains; `None` when not
    /// asked (`--no-rdap`, or the lab without an RDAP server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rdap: Option<crate::observation::rdap::RdapObservation>,
}

/// One address of one NS of the domain, asked directly (no recursion).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NameserverObservation {
    pub name: String,
    /// `None` when the NS name gave no usable address (see `address_failure`).
    pub address: Option<IpAddr>,
    /// Why there is no address when its lookup failed (a timeout, SERVFAIL): could not determine,
    /// not "unreachable". `None` with no address means the name has no routable address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_failure: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answers: Vec<AuthAnswer>,
}

/// One question put to one authoritative server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuthAnswer {
    /// `MX example.com`, `TXT _dmarc.example.com` …
    pub question: String,
    /// The AA bit: the server answered as an authority for the name.
    pub authoritative: bool,
    /// The records in presentation form, sorted (TTL left out: only data is compared).
    pub result: Lookup<Vec<String>>,
}

impl NameserverObservation {
    pub fn answer(&self, question: &str) -> Option<&AuthAnswer> {
        self.answers.iter().find(|a| a.question == question)
    }

    /// Every question failed with a timeout or a network error: nothing answers there.
    pub fn unreachable(&self) -> bool {
        (self.address.is_none() && self.address_failure.is_none())
            || (!self.answers.is_empty()
                && self.answers.iter().all(|a| {
                    matches!(
                        a.result.failure().map(|(f, _)| f),
                        Some(
                            crate::observation::lookup::Failure::Timeout
                                | crate::observation::lookup::Failure::Network
                        )
                    )
                }))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MxRecord {
    pub preference: u16,
    /// Lower-case ASCII, no trailing dot; `"."` for the null MX.
    pub exchange: String,
}

impl Observation {
    /// The MX TTL as published: the largest TTL the authoritative servers gave for the
    /// MX RRset (a recursive resolver counts its cached copy down, so its TTL is not the
    /// published one). `None` when no nameserver was asked or none answered.
    pub fn published_mx_ttl(&self) -> Option<u32> {
        let question = format!("MX {}", self.domain.ascii);
        self.nameservers
            .iter()
            .filter_map(|ns| ns.answer(&question))
            .filter(|a| a.authoritative)
            .filter_map(|a| a.result.ttl())
            .max()
    }
}

impl MxRecord {
    pub fn is_null(&self) -> bool {
        self.exchange == "."
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Soa {
    pub mname: String,
    pub rname: String,
    pub serial: u32,
    pub refresh: u32,
    pub retry: u32,
    pub expire: u32,
    pub minimum: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AddressLookups {
    pub a: Lookup<Vec<IpAddr>>,
    pub aaaa: Lookup<Vec<IpAddr>>,
}

impl AddressLookups {
    /// Every address either family returned.
    pub fn addresses(&self) -> Vec<IpAddr> {
        let mut all = Vec::new();
        for lookup in [&self.a, &self.aaaa] {
            if let Some(ips) = lookup.value() {
                all.extend(ips.iter().copied());
            }
        }
        all
    }

    /// Both families answered and neither has an address.
    pub fn definitely_none(&self) -> bool {
        self.a.is_absent() && self.aaaa.is_absent()
    }

    pub fn any_failed(&self) -> bool {
        self.a.is_failed() || self.aaaa.is_failed()
    }

    /// The CNAME chain followed from the name (either lookup has it; A first).
    pub fn cname_chain(&self) -> &[String] {
        let chain = self.a.cname_chain();
        if chain.is_empty() {
            self.aaaa.cname_chain()
        } else {
            chain
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExchangeObservation {
    /// The exchange as the MX record names it.
    pub name: String,
    /// Every preference this exchange is listed with (more than one is a duplicate).
    pub preferences: Vec<u16>,
    /// A and AAAA of the exchange, with any CNAME chain followed on the way.
    pub lookups: AddressLookups,
    /// Per address: reverse DNS and its forward confirmation.
    pub addresses: Vec<AddressObservation>,
    /// Who holds the exchange's registrable domain; looked up only when the exchange does not exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration: Option<Registration>,
    /// Addresses beyond the per-exchange limit: resolved and listed in `lookups`, but not examined
    /// (no reverse DNS, no SMTP). A limit is never read as "absent".
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unexamined: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl ExchangeObservation {
    pub fn best_preference(&self) -> u16 {
        self.preferences.iter().copied().min().unwrap_or(u16::MAX)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AddressObservation {
    pub ip: IpAddr,
    /// The PTR names; `None` when reverse DNS was not looked up (a non-routable address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ptr: Option<Lookup<Vec<String>>>,
    /// For each PTR name, its addresses of the same family (forward confirmation, FCrDNS).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ptr_forward: Vec<PtrForward>,
    /// What the host said on the SMTP port; `None` when not probed (`--no-probe`, or a non-routable address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp: Option<crate::observation::smtp::SmtpProbe>,
    /// The probe waited for its turn at this address, or was skipped (then `smtp` is `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_politeness: Option<crate::observation::smtp::Politeness>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PtrForward {
    pub name: String,
    pub addresses: Lookup<Vec<IpAddr>>,
}

impl AddressObservation {
    /// Some PTR name resolves back to this address. `None` when it could not be told.
    pub fn forward_confirmed(&self) -> Option<bool> {
        let ptr = self.ptr.as_ref()?;
        ptr.value()?;
        if self.ptr_forward.iter().any(|f| {
            f.addresses
                .value()
                .is_some_and(|ips| ips.contains(&self.ip))
        }) {
            return Some(true);
        }
        if self.ptr_forward.iter().any(|f| f.addresses.is_failed()) {
            return None;
        }
        Some(false)
    }
}

/// Whether the registrable domain of an exchange that does not exist is itself delegated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Registration {
    /// The registrable domain per the public suffix list (e.g. `example.net` for `mx.example.net`).
    pub registrable_domain: String,
    /// Its public suffix (e.g. `net`, `co.uk`).
    pub public_suffix: String,
    /// NS of the registrable domain: NXDOMAIN means it is not delegated.
    pub delegation: Lookup<Vec<String>>,
    /// SOA of the public suffix: NXDOMAIN means the suffix itself does not exist (no one can register under it).
    pub suffix: Lookup<Soa>,
}

/// The TXT records of the mail policies, as published (one string per record, its character-strings joined).
/// Only records with the protocol's version tag are kept (`v=spf1`, `v=DMARC1`, `v=STSv1`, `v=TLSRPTv1`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PolicyRecords {
    pub spf: Lookup<Vec<String>>,
    pub dmarc: Lookup<Vec<String>>,
    pub mta_sts: Lookup<Vec<String>>,
    pub tls_rpt: Lookup<Vec<String>>,
}
