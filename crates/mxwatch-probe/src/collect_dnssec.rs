//! The DNSSEC part of an observation: proofs for the domain's MX and, per exchange, its
//! address RRset and its TLSA RRset at `_25._tcp.<exchange>` (RFC 7672 §2.2).

use crate::dns::Dns;
use crate::dns::dnssec::Validator;
use futures_util::future::join_all;
use hickory_proto::rr::{RData, RecordType};
use hickory_proto::serialize::binary::BinEncodable;
use mxwatch_core::observation::dnssec::{DnssecObservation, ExchangeDnssec, RrsetProof};
use mxwatch_core::records::tlsa::TlsaRecord;
use mxwatch_core::{Failure, Lookup};
use sha2::{Digest, Sha256};

fn now_unix() -> u32 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // RRSIG times are 32-bit serial numbers (RFC 4034 §3.1.5): the low 32 bits are what compares.
    secs as u32
}

/// Whether to prove the domain's records, given its MX lookup: when it was answered, and when
/// it failed with SERVFAIL, which is how a validating resolver answers bogus data. The proof
/// (asked with CD) then tells DNSSEC-BOGUS from an outage. After a timeout or a REFUSED the
/// resolver would not answer the proof's questions either.
pub(crate) fn worth_proving<T>(mx: &Lookup<T>) -> bool {
    match mx.failure() {
        None => true,
        Some((failure, _)) => failure == Failure::ServFail,
    }
}

pub(crate) async fn observe(
    dns: &Dns,
    validator: &Validator,
    domain: &str,
    exchanges: &[String],
) -> DnssecObservation {
    let now = now_unix();
    let transport = dns.transport();
    let mx = async {
        RrsetProof {
            question: format!("MX {domain}"),
            proof: validator
                .prove(transport, domain, RecordType::MX, now)
                .await,
        }
    };
    let per_exchange = join_all(exchanges.iter().map(|name| async move {
        let tlsa_name = format!("_25._tcp.{name}");
        let (address, tlsa, tlsa_proof) = tokio::join!(
            validator.prove(transport, name, RecordType::A, now),
            tlsa_records(dns, &tlsa_name),
            validator.prove(transport, &tlsa_name, RecordType::TLSA, now),
        );
        ExchangeDnssec {
            name: name.clone(),
            address: RrsetProof {
                question: format!("A {name}"),
                proof: address,
            },
            tlsa,
            tlsa_proof,
        }
    }));
    let (mx, exchanges) = tokio::join!(mx, per_exchange);
    DnssecObservation {
        anchor: validator.anchor().description.clone(),
        domain: vec![mx],
        exchanges,
    }
}

/// The TLSA RRset, each record parsed from its wire form by the core's parser.
async fn tlsa_records(dns: &Dns, name: &str) -> Lookup<Vec<TlsaRecord>> {
    let lookup = dns.lookup(name, RecordType::TLSA).await;
    let mut problem = None;
    let parsed = lookup.map(|rdata| {
        rdata
            .iter()
            .filter_map(|r| match r {
                RData::TLSA(tlsa) => Some(tlsa),
                _ => None,
            })
            .filter_map(|tlsa| {
                let parsed = tlsa
                    .to_bytes()
                    .map_err(|e| e.to_string())
                    .and_then(|bytes| TlsaRecord::from_rdata(&bytes).map_err(|e| e.to_string()));
                match parsed {
                    Ok(mut record) => {
                        if record.matching == 0 {
                            record.data_sha256 = Some(hex(&Sha256::digest(&tlsa.cert_data)));
                        }
                        Some(record)
                    }
                    Err(e) => {
                        problem = Some(e);
                        None
                    }
                }
            })
            .collect::<Vec<_>>()
    });
    // An RRset has no order, and resolvers rotate it: one canonical order keeps `watch`'s diff
    // from reporting `tlsa-changed` for a mere rotation.
    let parsed = parsed.map(|mut records| {
        records.sort_by(|a, b| {
            (a.usage, a.selector, a.matching, &a.data)
                .cmp(&(b.usage, b.selector, b.matching, &b.data))
        });
        records
    });
    match (problem, lookup_meta(&parsed)) {
        (Some(detail), (cname_chain, elapsed_ms)) => Lookup::Failed {
            failure: Failure::Malformed,
            detail,
            cname_chain,
            elapsed_ms,
        },
        (None, _) => parsed,
    }
}

fn lookup_meta<T>(lookup: &Lookup<T>) -> (Vec<String>, u64) {
    (lookup.cname_chain().to_vec(), lookup.elapsed_ms())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
