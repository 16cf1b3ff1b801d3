//! What could not be determined, said as such, never as "missing".

use super::{Check, CheckContext, Hit};
use crate::finding::Severity;
use crate::observation::Observation;
use crate::observation::lookup::{Failure, Lookup};

pub static DNS_INDETERMINATE: Check = Check {
    id: "DNS-INDETERMINATE",
    severity: Severity::Medium,
    title: "An answer could not be had: this part could not be determined",
    explanation: "A DNS question got no usable answer (a timeout, SERVFAIL, REFUSED, a malformed reply). The checks \
                  that depend on it are skipped rather than guessed: nothing is reported missing because a \
                  resolver or nameserver failed. Persistent failures are themselves a problem, since senders \
                  hit them too.",
    fix: "Run the check again; if it persists, check the domain's nameservers (lame delegation, firewalled \
          TCP/53, DNSSEC errors) and the resolver you used.",
    reference: "RFC 2308 §7; RFC 8914",
    run: dns_indeterminate,
};

fn describe<T>(lookup: &Lookup<T>, question: String, hits: &mut Vec<Hit>) {
    if let Lookup::Failed {
        failure, detail, ..
    } = lookup
    {
        // A CNAME loop is an observed misconfiguration, reported by MX-TARGET-CNAME.
        if matches!(failure, Failure::CnameLoop | Failure::CnameChainTooLong) {
            return;
        }
        let detail = if detail.is_empty() {
            failure.describe().to_string()
        } else {
            format!("{}: {detail}", failure.describe())
        };
        hits.push(Hit::new(question, detail));
    }
}

fn dns_indeterminate(obs: &Observation, _: &CheckContext) -> Vec<Hit> {
    let mut hits = Vec::new();
    let domain = &obs.domain.ascii;
    describe(&obs.mx, format!("MX {domain}"), &mut hits);
    describe(&obs.soa, format!("SOA {domain}"), &mut hits);
    describe(&obs.ns, format!("NS {domain}"), &mut hits);
    if let Some(implicit) = &obs.implicit {
        describe(&implicit.a, format!("A {domain}"), &mut hits);
        describe(&implicit.aaaa, format!("AAAA {domain}"), &mut hits);
    }
    for exchange in &obs.exchanges {
        describe(
            &exchange.lookups.a,
            format!("A {}", exchange.name),
            &mut hits,
        );
        describe(
            &exchange.lookups.aaaa,
            format!("AAAA {}", exchange.name),
            &mut hits,
        );
        for addr in &exchange.addresses {
            if let Some(ptr) = &addr.ptr {
                describe(ptr, format!("PTR {}", addr.ip), &mut hits);
            }
            for forward in &addr.ptr_forward {
                let rtype = if addr.ip.is_ipv4() { "A" } else { "AAAA" };
                describe(
                    &forward.addresses,
                    format!("{rtype} {}", forward.name),
                    &mut hits,
                );
            }
        }
        if let Some(reg) = &exchange.registration {
            describe(
                &reg.delegation,
                format!("NS {}", reg.registrable_domain),
                &mut hits,
            );
            describe(&reg.suffix, format!("SOA {}", reg.public_suffix), &mut hits);
        }
    }
    if let Some(policy) = &obs.policy {
        describe(&policy.spf, format!("TXT {domain}"), &mut hits);
        describe(&policy.dmarc, format!("TXT _dmarc.{domain}"), &mut hits);
        describe(&policy.mta_sts, format!("TXT _mta-sts.{domain}"), &mut hits);
        describe(
            &policy.tls_rpt,
            format!("TXT _smtp._tls.{domain}"),
            &mut hits,
        );
    }
    if let Some(mail_auth) = &obs.mail_auth {
        let own_spf = format!("TXT {domain}");
        for (key, lookup) in &mail_auth.spf_answers {
            if *key != own_spf {
                describe(lookup, format!("{key} (SPF)"), &mut hits);
            }
        }
        if let Some(org) = &mail_auth.dmarc_org {
            describe(&org.record, format!("TXT _dmarc.{}", org.domain), &mut hits);
        }
        for auth in &mail_auth.report_authorizations {
            describe(&auth.record, format!("TXT {}", auth.name), &mut hits);
        }
        for selector in &mail_auth.dkim {
            describe(
                &selector.record,
                format!("TXT {}._domainkey.{domain}", selector.selector),
                &mut hits,
            );
        }
        if let Some(bimi) = &mail_auth.bimi {
            describe(bimi, format!("TXT default._bimi.{domain}"), &mut hits);
        }
        for answer in &mail_auth.dnsbl {
            describe(
                &answer.listing,
                format!("{} on {}", answer.address, answer.zone),
                &mut hits,
            );
        }
    }
    dnssec_indeterminate(obs, &mut hits);
    super::mta_sts::indeterminate(obs, &mut hits);
    hits
}

/// DNSSEC proofs that could not be had: "could not determine", never "unsigned".
fn dnssec_indeterminate(obs: &Observation, hits: &mut Vec<Hit>) {
    let Some(dnssec) = &obs.dnssec else {
        return;
    };
    let exchanges = dnssec.exchanges.iter().flat_map(|e| {
        [
            (e.address.question.clone(), &e.address.proof),
            (format!("TLSA _25._tcp.{}", e.name), &e.tlsa_proof),
        ]
    });
    for (question, proof) in dnssec
        .domain
        .iter()
        .map(|r| (r.question.clone(), &r.proof))
        .chain(exchanges)
    {
        if let crate::observation::dnssec::Proof::Indeterminate { detail } = proof {
            hits.push(Hit::new(
                format!("DNSSEC {question}"),
                format!("the DNSSEC status could not be determined: {detail}"),
            ));
        }
    }
}
