//! Signatures and DS matching: the pure, per-RRset checks of DNSSEC, with no I/O.
//!
//! Picking an RRset and its RRSIGs out of a reply, verifying the RRSIGs against a zone's keys
//! at a given time (with hickory-proto's `Verifier::verify_rrsig`; nothing cryptographic is
//! written here), spotting wildcard-expanded answers, and matching a child's DNSKEYs against
//! the parent's DS records (`DS::covers`), including the RFC 6840 §5.2 rule that a DS set of
//! unsupported algorithms or digests makes a zone insecure rather than bogus.

use super::{bogus, host, key};
use hickory_proto::dnssec::Verifier;
use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, DS, RRSIG};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use mxwatch_core::observation::dnssec::{BrokenLink, Proof};

pub(super) fn rrsigs<'a>(records: &'a [Record], owner: &Name, rtype: RecordType) -> Vec<&'a RRSIG> {
    records
        .iter()
        .filter(|r| &r.name == owner)
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::RRSIG(sig)) if sig.input().type_covered == rtype => {
                Some(sig)
            }
            _ => None,
        })
        .collect()
}

pub(super) fn rrset(records: &[Record], owner: &Name, rtype: RecordType) -> Vec<Record> {
    records
        .iter()
        .filter(|r| &r.name == owner && r.record_type() == rtype)
        .cloned()
        .collect()
}

/// Checks the RRSIGs over `records` against `keys` of `zone` at Unix time `now`.
pub(super) fn verify(
    records: &[Record],
    sigs: &[&RRSIG],
    keys: &[DNSKEY],
    zone: &Name,
    now: u32,
) -> Result<(), (BrokenLink, String)> {
    let Some(first) = records.first() else {
        return Err((BrokenLink::MissingSignature, "an empty RRset".into()));
    };
    let what = format!("{} {}", first.record_type(), host(&first.name));
    if sigs.is_empty() {
        return Err((
            BrokenLink::MissingSignature,
            format!("no RRSIG over {what}"),
        ));
    }
    let mut worst: (u8, BrokenLink, String) = (0, BrokenLink::NoMatchingKey, String::new());
    let mut note = |rank: u8, link: BrokenLink, detail: String| {
        if rank > worst.0 {
            worst = (rank, link, detail);
        }
    };
    for sig in sigs {
        let input = sig.input();
        if key(&input.signer_name) != key(zone) {
            note(
                1,
                BrokenLink::NoMatchingKey,
                format!(
                    "{what} is signed by {}, not by {}",
                    host(&input.signer_name),
                    host(zone)
                ),
            );
            continue;
        }
        // Serial-number arithmetic (RFC 4034 §3.1.5): times wrap in 2106.
        let (inception, expiration) = (input.sig_inception.get(), input.sig_expiration.get());
        if (expiration.wrapping_sub(now) as i32) < 0 {
            note(
                2,
                BrokenLink::SignatureExpired,
                format!("the RRSIG over {what} expired at {expiration} (now {now})"),
            );
            continue;
        }
        if (now.wrapping_sub(inception) as i32) < 0 {
            note(
                2,
                BrokenLink::SignatureNotYetValid,
                format!("the RRSIG over {what} is valid from {inception} (now {now})"),
            );
            continue;
        }
        let candidates = keys.iter().filter(|k| {
            k.zone_key()
                && !k.revoke()
                && k.algorithm() == input.algorithm
                && k.calculate_key_tag().ok() == Some(input.key_tag)
        });
        let mut tried = false;
        for dnskey in candidates {
            tried = true;
            if dnskey
                .verify_rrsig(&first.name, DNSClass::IN, sig, records.iter())
                .is_ok()
            {
                return Ok(());
            }
        }
        if tried {
            note(
                3,
                BrokenLink::BadSignature,
                format!(
                    "the RRSIG over {what} (key tag {}) does not verify",
                    input.key_tag
                ),
            );
        } else {
            note(
                1,
                BrokenLink::NoMatchingKey,
                format!(
                    "the RRSIG over {what} names key tag {}, which {} does not publish",
                    input.key_tag,
                    host(zone)
                ),
            );
        }
    }
    Err((worst.1, worst.2))
}

/// Whether an RRSIG's labels field is smaller than the owner's label count: the answer was
/// expanded from a wildcard (RFC 4035 §5.3.4).
pub(super) fn wildcard_expanded(sigs: &[&RRSIG], owner: &Name) -> bool {
    sigs.iter()
        .any(|sig| sig.input().num_labels < owner.num_labels())
}

/// The DS records whose algorithm and digest type hickory can check, or, when there is none,
/// the (algorithm, digest type) pairs listed, for the report.
pub(super) fn usable_ds<'a>(ds: &[&'a DS]) -> Result<Vec<&'a DS>, String> {
    let usable: Vec<&DS> = ds
        .iter()
        .copied()
        .filter(|d| d.algorithm().is_supported() && d.digest_type().is_supported())
        .collect();
    if usable.is_empty() && !ds.is_empty() {
        return Err(ds
            .iter()
            .map(|d| {
                format!(
                    "algorithm {} digest {}",
                    u8::from(d.algorithm()),
                    u8::from(d.digest_type())
                )
            })
            .collect::<Vec<_>>()
            .join(", "));
    }
    Ok(usable)
}

pub(super) fn dnskeys(records: &[Record]) -> Vec<DNSKEY> {
    records
        .iter()
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::DNSKEY(k)) => Some(k.clone()),
            _ => None,
        })
        .collect()
}

/// The DNSKEYs of `name` that a (usable) DS of the parent vouches for: the keys that must sign
/// the DNSKEY set. Bogus when the zone publishes no DNSKEY or none matches.
pub(super) fn keys_for_ds(name: &Name, ds: &[&DS], keys: &[DNSKEY]) -> Result<Vec<DNSKEY>, Proof> {
    // No check of the DNSKEYs' own algorithms is needed: a usable DS names a supported
    // algorithm, and a zone whose keys all use others breaks the DS's promise (bogus).
    if keys.is_empty() {
        return Err(bogus(
            BrokenLink::MissingDnskey,
            name,
            format!(
                "{} DS record(s) at the parent, no DNSKEY at {}",
                ds.len(),
                host(name)
            ),
        ));
    }
    let entry: Vec<DNSKEY> = keys
        .iter()
        .filter(|k| {
            ds.iter()
                .any(|d| d.algorithm() == k.algorithm() && d.covers(name, k).unwrap_or(false))
        })
        .cloned()
        .collect();
    if entry.is_empty() {
        let tags = |t: Vec<u16>| t.iter().map(u16::to_string).collect::<Vec<_>>().join(", ");
        return Err(bogus(
            BrokenLink::DnskeyNotMatchingDs,
            name,
            format!(
                "DS key tag(s) {} at the parent; DNSKEY key tag(s) {} at {}",
                tags(ds.iter().map(|d| d.key_tag()).collect()),
                tags(
                    keys.iter()
                        .filter_map(|k| k.calculate_key_tag().ok())
                        .collect()
                ),
                host(name)
            ),
        ));
    }
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ds_set_of_unsupported_algorithms_or_digests_is_unusable() {
        use hickory_proto::dnssec::{Algorithm, DigestType};
        let gost = DS::new(
            1,
            Algorithm::ECDSAP256SHA256,
            DigestType::from(3),
            vec![1; 32],
        );
        let ed448 = DS::new(2, Algorithm::from_u8(16), DigestType::SHA256, vec![1; 32]);
        let good = DS::new(
            3,
            Algorithm::ECDSAP256SHA256,
            DigestType::SHA256,
            vec![1; 32],
        );
        let listed = usable_ds(&[&gost, &ed448]).unwrap_err();
        assert!(
            listed.contains("digest 3") && listed.contains("algorithm 16"),
            "{listed}"
        );
        assert_eq!(usable_ds(&[&gost, &good]).unwrap(), vec![&good]);
    }

    #[test]
    fn a_zone_without_dnskeys_or_without_the_ds_key_is_bogus() {
        use hickory_proto::dnssec::{Algorithm, DigestType, PublicKeyBuf};
        let name = Name::from_ascii("example.").unwrap();
        let ds = DS::new(
            1,
            Algorithm::ECDSAP256SHA256,
            DigestType::SHA256,
            vec![1; 32],
        );
        let link = |p: Proof| match p {
            Proof::Bogus { link, .. } => link,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            link(keys_for_ds(&name, &[&ds], &[]).unwrap_err()),
            BrokenLink::MissingDnskey
        );
        let key = DNSKEY::with_flags(
            257,
            PublicKeyBuf::new(vec![2; 64], Algorithm::ECDSAP256SHA256),
        );
        assert_eq!(
            link(keys_for_ds(&name, &[&ds], &[key]).unwrap_err()),
            BrokenLink::DnskeyNotMatchingDs
        );
    }
}
