//! One walk over every part of an observation that can fail: each DNS question, DNSSEC proof,
//! SMTP dialogue and HTTPS fetch, with a stable label and its failure, if any.
//!
//! Everything that asks "what could not be had?" asks this walk: `DNS-INDETERMINATE` (which
//! reports the resolver's questions, the DNSSEC proofs and the MTA-STS fetch),
//! [`Observation::has_failures`] (any part at all), and the monitor's baseline, whose test holds
//! `carry_forward` to every [`Slot`]. A part added to the observation is added here once, as a
//! new `Slot`; the consumers cannot each forget it on their own.

use super::Observation;
use super::dnssec::Proof;
use super::lookup::{Failure, Lookup};
use super::mta_sts::{FetchFailure, FetchOutcome};
use super::smtp::SmtpProbe;

/// Who was asked for a part, so that each consumer takes the parts it reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PartKind {
    /// A question put to the recursive resolver.
    Dns,
    /// The DNSSEC validation of one RRset (or of its absence).
    Dnssec,
    /// A question put directly to one of the domain's authoritative nameservers, or the lookup of
    /// such a nameserver's address (judged by the `NS-*` checks).
    Authoritative,
    /// The SMTP dialogue with one address (judged by the `SMTP-*` and `TLS-*` checks).
    Smtp,
    /// The HTTPS fetch of the MTA-STS policy.
    Https,
    /// A registration asked over RDAP.
    Rdap,
}

/// Which field of the observation a part is: one variant per place a fallible value is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Slot {
    Mx,
    Soa,
    Ns,
    /// The domain's own A, asked when it has no MX.
    ImplicitA,
    ImplicitAaaa,
    ExchangeA,
    ExchangeAaaa,
    Ptr,
    /// The forward lookup of a PTR name (forward confirmation).
    PtrForward,
    SmtpDialogue,
    /// NS of the registrable domain of an exchange that does not exist.
    RegistrationDelegation,
    /// SOA of that domain's public suffix.
    RegistrationSuffix,
    PolicySpf,
    PolicyDmarc,
    PolicyMtaSts,
    PolicyTlsRpt,
    /// One DNS answer of the SPF walk.
    SpfAnswer,
    OrgDmarc,
    ReportAuthorization,
    DkimKey,
    Bimi,
    Dnsbl,
    /// A DNSSEC proof of one of the domain's own RRsets.
    DomainProof,
    /// The DNSSEC proof of an exchange's address RRset.
    ExchangeAddressProof,
    /// The TLSA RRset of an exchange.
    Tlsa,
    /// Its DNSSEC proof.
    TlsaProof,
    MtaStsPolicy,
    /// The address lookup of one of the domain's nameservers.
    NameserverAddress,
    /// One question put to one of the domain's nameservers.
    NameserverAnswer,
    /// The RDAP answer about one registrable domain (the domain's own or an exchange's).
    Registration,
}

impl Slot {
    /// Every slot, in walk order.
    pub const ALL: [Slot; 30] = [
        Slot::Mx,
        Slot::Soa,
        Slot::Ns,
        Slot::ImplicitA,
        Slot::ImplicitAaaa,
        Slot::ExchangeA,
        Slot::ExchangeAaaa,
        Slot::Ptr,
        Slot::PtrForward,
        Slot::SmtpDialogue,
        Slot::RegistrationDelegation,
        Slot::RegistrationSuffix,
        Slot::PolicySpf,
        Slot::PolicyDmarc,
        Slot::PolicyMtaSts,
        Slot::PolicyTlsRpt,
        Slot::SpfAnswer,
        Slot::OrgDmarc,
        Slot::ReportAuthorization,
        Slot::DkimKey,
        Slot::Bimi,
        Slot::Dnsbl,
        Slot::DomainProof,
        Slot::ExchangeAddressProof,
        Slot::Tlsa,
        Slot::TlsaProof,
        Slot::MtaStsPolicy,
        Slot::NameserverAddress,
        Slot::NameserverAnswer,
        Slot::Registration,
    ];

    pub fn kind(self) -> PartKind {
        match self {
            Slot::Mx
            | Slot::Soa
            | Slot::Ns
            | Slot::ImplicitA
            | Slot::ImplicitAaaa
            | Slot::ExchangeA
            | Slot::ExchangeAaaa
            | Slot::Ptr
            | Slot::PtrForward
            | Slot::RegistrationDelegation
            | Slot::RegistrationSuffix
            | Slot::PolicySpf
            | Slot::PolicyDmarc
            | Slot::PolicyMtaSts
            | Slot::PolicyTlsRpt
            | Slot::SpfAnswer
            | Slot::OrgDmarc
            | Slot::ReportAuthorization
            | Slot::DkimKey
            | Slot::Bimi
            | Slot::Dnsbl
            | Slot::Tlsa => PartKind::Dns,
            Slot::DomainProof | Slot::ExchangeAddressProof | Slot::TlsaProof => PartKind::Dnssec,
            Slot::NameserverAddress | Slot::NameserverAnswer => PartKind::Authoritative,
            Slot::SmtpDialogue => PartKind::Smtp,
            Slot::MtaStsPolicy => PartKind::Https,
            Slot::Registration => PartKind::Rdap,
        }
    }
}

/// Why a part could not be had ("could not determine", never "missing").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartFailure<'a> {
    /// A DNS question got no usable answer.
    Lookup { failure: Failure, detail: &'a str },
    /// A DNSSEC proof could not be determined.
    Proof { detail: &'a str },
    /// The SMTP dialogue connected but stopped before the EHLO reply: its TLS state is unknown.
    Dialogue,
    /// The MTA-STS fetch failed for a transient reason (the other failures are observations).
    Fetch {
        failure: FetchFailure,
        detail: &'a str,
    },
    /// A nameserver's address lookup failed.
    Address { detail: &'a str },
    /// The RDAP answer about a registration could not be had (timeout, 429, 5xx, garbage …).
    Rdap {
        failure: super::rdap::RdapFailure,
        detail: &'a str,
    },
}

/// One fallible part of an observation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FalliblePart<'a> {
    pub slot: Slot,
    /// What was asked, stable across looks: `MX example.com`, `A mx1.example.com`,
    /// `PTR 192.0.2.1`, `SMTP 192.0.2.1`, `DNSSEC MX example.com`, `HTTPS https://…`,
    /// `MX example.com @ns1.example.com (192.0.2.53)` …
    pub label: String,
    /// `None`: the part was had (observed, or observed absent).
    pub failure: Option<PartFailure<'a>>,
}

impl FalliblePart<'_> {
    pub fn kind(&self) -> PartKind {
        self.slot.kind()
    }

    pub fn is_failed(&self) -> bool {
        self.failure.is_some()
    }
}

fn proof(proof: &Proof) -> Option<PartFailure<'_>> {
    match proof {
        Proof::Indeterminate { detail } => Some(PartFailure::Proof { detail }),
        _ => None,
    }
}

fn lookup<T>(lookup: &Lookup<T>) -> Option<PartFailure<'_>> {
    lookup
        .failure()
        .map(|(failure, detail)| PartFailure::Lookup { failure, detail })
}

/// A dialogue that connected but did not get as far as the EHLO reply: its TLS state is unknown.
pub(crate) fn incomplete_dialogue(probe: &SmtpProbe) -> bool {
    probe.connect.is_connected() && probe.offers_starttls().is_none()
}

impl Observation {
    /// Every part of the observation that can fail, in a fixed order (the order of
    /// `DNS-INDETERMINATE`'s findings): the domain's MX, SOA, NS and implicit A/AAAA; per exchange
    /// its A/AAAA, per address PTR, forward confirmation and SMTP, its registration; the policy
    /// TXT records; the mail-authentication answers; the DNSSEC proofs and TLSA; the MTA-STS
    /// fetch; the authoritative nameservers; the registrations over RDAP. A part that was not
    /// asked is not listed.
    pub fn fallible_parts<'a>(&'a self) -> Vec<FalliblePart<'a>> {
        let mut parts = Vec::new();
        let mut push = |slot: Slot, label: String, failure: Option<PartFailure<'a>>| {
            parts.push(FalliblePart {
                slot,
                label,
                failure,
            });
        };
        let domain = &self.domain.ascii;
        push(Slot::Mx, format!("MX {domain}"), lookup(&self.mx));
        push(Slot::Soa, format!("SOA {domain}"), lookup(&self.soa));
        push(Slot::Ns, format!("NS {domain}"), lookup(&self.ns));
        if let Some(implicit) = &self.implicit {
            push(Slot::ImplicitA, format!("A {domain}"), lookup(&implicit.a));
            push(
                Slot::ImplicitAaaa,
                format!("AAAA {domain}"),
                lookup(&implicit.aaaa),
            );
        }
        for exchange in &self.exchanges {
            let name = &exchange.name;
            push(
                Slot::ExchangeA,
                format!("A {name}"),
                lookup(&exchange.lookups.a),
            );
            push(
                Slot::ExchangeAaaa,
                format!("AAAA {name}"),
                lookup(&exchange.lookups.aaaa),
            );
            for addr in &exchange.addresses {
                if let Some(ptr) = &addr.ptr {
                    push(Slot::Ptr, format!("PTR {}", addr.ip), lookup(ptr));
                }
                let rtype = if addr.ip.is_ipv4() { "A" } else { "AAAA" };
                for forward in &addr.ptr_forward {
                    push(
                        Slot::PtrForward,
                        format!("{rtype} {}", forward.name),
                        lookup(&forward.addresses),
                    );
                }
                if let Some(smtp) = &addr.smtp {
                    push(
                        Slot::SmtpDialogue,
                        format!("SMTP {}", addr.ip),
                        incomplete_dialogue(smtp).then_some(PartFailure::Dialogue),
                    );
                }
            }
            if let Some(reg) = &exchange.registration {
                push(
                    Slot::RegistrationDelegation,
                    format!("NS {}", reg.registrable_domain),
                    lookup(&reg.delegation),
                );
                push(
                    Slot::RegistrationSuffix,
                    format!("SOA {}", reg.public_suffix),
                    lookup(&reg.suffix),
                );
            }
        }
        if let Some(policy) = &self.policy {
            push(
                Slot::PolicySpf,
                format!("TXT {domain}"),
                lookup(&policy.spf),
            );
            push(
                Slot::PolicyDmarc,
                format!("TXT _dmarc.{domain}"),
                lookup(&policy.dmarc),
            );
            push(
                Slot::PolicyMtaSts,
                format!("TXT _mta-sts.{domain}"),
                lookup(&policy.mta_sts),
            );
            push(
                Slot::PolicyTlsRpt,
                format!("TXT _smtp._tls.{domain}"),
                lookup(&policy.tls_rpt),
            );
        }
        if let Some(mail_auth) = &self.mail_auth {
            for (key, answer) in &mail_auth.spf_answers {
                push(Slot::SpfAnswer, format!("{key} (SPF)"), lookup(answer));
            }
            if let Some(org) = &mail_auth.dmarc_org {
                push(
                    Slot::OrgDmarc,
                    format!("TXT _dmarc.{}", org.domain),
                    lookup(&org.record),
                );
            }
            for auth in &mail_auth.report_authorizations {
                push(
                    Slot::ReportAuthorization,
                    format!("TXT {}", auth.name),
                    lookup(&auth.record),
                );
            }
            for selector in &mail_auth.dkim {
                push(
                    Slot::DkimKey,
                    format!("TXT {}._domainkey.{domain}", selector.selector),
                    lookup(&selector.record),
                );
            }
            if let Some(bimi) = &mail_auth.bimi {
                push(
                    Slot::Bimi,
                    format!("TXT default._bimi.{domain}"),
                    lookup(bimi),
                );
            }
            for answer in &mail_auth.dnsbl {
                push(
                    Slot::Dnsbl,
                    format!("{} on {}", answer.address, answer.zone),
                    lookup(&answer.listing),
                );
            }
        }
        if let Some(dnssec) = &self.dnssec {
            for rrset in &dnssec.domain {
                push(
                    Slot::DomainProof,
                    format!("DNSSEC {}", rrset.question),
                    proof(&rrset.proof),
                );
            }
            for exchange in &dnssec.exchanges {
                push(
                    Slot::ExchangeAddressProof,
                    format!("DNSSEC {}", exchange.address.question),
                    proof(&exchange.address.proof),
                );
                push(
                    Slot::TlsaProof,
                    format!("DNSSEC TLSA _25._tcp.{}", exchange.name),
                    proof(&exchange.tlsa_proof),
                );
                push(
                    Slot::Tlsa,
                    format!("TLSA _25._tcp.{}", exchange.name),
                    lookup(&exchange.tlsa),
                );
            }
        }
        if let Some(fetch) = &self.mta_sts_policy {
            let failure = match &fetch.outcome {
                FetchOutcome::Failed { failure, detail } if failure.is_transient() => {
                    Some(PartFailure::Fetch {
                        failure: *failure,
                        detail,
                    })
                }
                _ => None,
            };
            push(Slot::MtaStsPolicy, format!("HTTPS {}", fetch.url), failure);
        }
        for ns in &self.nameservers {
            let at = match &ns.address {
                Some(ip) => format!("@{} ({ip})", ns.name),
                None => format!("@{}", ns.name),
            };
            if ns.address.is_none() {
                push(
                    Slot::NameserverAddress,
                    format!("A/AAAA {}", ns.name),
                    ns.address_failure
                        .as_deref()
                        .map(|detail| PartFailure::Address { detail }),
                );
            }
            for answer in &ns.answers {
                push(
                    Slot::NameserverAnswer,
                    format!("{} {at}", answer.question),
                    lookup(&answer.result),
                );
            }
        }
        if let Some(rdap) = &self.rdap {
            for registration in &rdap.domains {
                let failure = match &registration.outcome {
                    super::rdap::RdapOutcome::Failed { failure, detail } => {
                        Some(PartFailure::Rdap {
                            failure: *failure,
                            detail,
                        })
                    }
                    _ => None,
                };
                push(
                    Slot::Registration,
                    format!("RDAP {}", registration.domain),
                    failure,
                );
            }
        }
        parts
    }

    /// The parts that could not be had.
    pub fn failed_parts(&self) -> Vec<FalliblePart<'_>> {
        let mut parts = self.fallible_parts();
        parts.retain(FalliblePart::is_failed);
        parts
    }

    /// Whether any part of the observation could not be had (any failed lookup, an undetermined
    /// DNSSEC proof, an SMTP dialogue that stopped before EHLO, a transient MTA-STS fetch
    /// failure, an unanswered authoritative question): see [`Observation::fallible_parts`].
    pub fn has_failures(&self) -> bool {
        self.fallible_parts().iter().any(FalliblePart::is_failed)
    }
}
