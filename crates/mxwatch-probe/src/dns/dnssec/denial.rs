//! Denial of existence: what signed NSEC and NSEC3 records prove, with no I/O.
//!
//! Two questions, both over a reply already in hand and keys already validated: is a negative
//! answer (NXDOMAIN or NODATA) proven ([`deny`]), and does a DS reply without DS records prove
//! an unsigned delegation or no zone cut at all ([`no_ds`], RFC 4035 §5.2). NSEC is handled
//! here; NSEC3 hashing and closest-encloser logic are in `nsec3.rs`, and this module only picks
//! the verified NSEC3 records and turns that module's answers into [`Proof`]s.

use super::nsec3::{Delegation, Denial, MAX_ITERATIONS, Nsec3Problem, Nsec3Set};
use super::signatures::{rrset, rrsigs, verify};
use super::{bogus, host};
use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, NSEC3};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use mxwatch_core::observation::dnssec::{BrokenLink, Proof};

/// What a DS reply without DS records proves about the name asked.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Cut {
    /// An unsigned delegation (or, by RFC 9276 §3.2 or NSEC3 opt-out, treated as one): the
    /// chain of trust ends here, for this reason.
    Unsigned(String),
    /// No zone cut (no such name, an empty non-terminal, or a name in the parent zone): the
    /// parent's keys still hold.
    NotACut,
}

/// Whether the NSEC from `owner` to `next` covers `name` (lies strictly between, in canonical order).
fn covers(owner: &Name, next: &Name, name: &Name) -> bool {
    owner < name && (name < next || next <= owner)
}

/// The NSEC records of the authority section whose signatures verify, as (owner, next, types).
fn proven_nsecs(
    message: &Message,
    keys: &[DNSKEY],
    zone: &Name,
    now: u32,
) -> Vec<(Name, Name, Vec<RecordType>)> {
    message
        .authorities
        .iter()
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::NSEC(nsec)) => Some((r, nsec)),
            _ => None,
        })
        .filter(|(r, _)| {
            let set = rrset(&message.authorities, &r.name, RecordType::NSEC);
            let sigs = rrsigs(&message.authorities, &r.name, RecordType::NSEC);
            verify(&set, &sigs, keys, zone, now).is_ok()
        })
        .map(|(r, nsec)| {
            (
                r.name.clone(),
                nsec.next_domain_name().clone(),
                nsec.type_bit_maps().collect(),
            )
        })
        .collect()
}

fn has_nsec3(message: &Message) -> bool {
    message
        .authorities
        .iter()
        .any(|r| r.record_type() == RecordType::NSEC3)
}

/// The NSEC3 records of the authority section whose signatures verify with `zone`'s keys.
fn proven_nsec3s(message: &Message, keys: &[DNSKEY], zone: &Name, now: u32) -> Vec<(Name, NSEC3)> {
    message
        .authorities
        .iter()
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::NSEC3(nsec3)) => Some((r, nsec3)),
            _ => None,
        })
        .filter(|(r, _)| {
            let set = rrset(&message.authorities, &r.name, RecordType::NSEC3);
            let sigs = rrsigs(&message.authorities, &r.name, RecordType::NSEC3);
            verify(&set, &sigs, keys, zone, now).is_ok()
        })
        .map(|(r, nsec3)| (r.name.clone(), nsec3.clone()))
        .collect()
}

/// The verified NSEC3 set of `zone` in `message`, or why there is none: `Err(Ok(insecure))`
/// when it has too many iterations (RFC 9276 §3.2), `Err(Err(bogus))` when nothing verifies.
fn nsec3_set<'a>(
    proven: &'a [(Name, NSEC3)],
    zone: &'a Name,
    what: &str,
) -> Result<Nsec3Set<'a>, Result<String, Proof>> {
    if proven.is_empty() {
        return Err(Err(bogus(
            BrokenLink::NoDenialProof,
            zone,
            format!("{what}: no NSEC3 record signed by {}", host(zone)),
        )));
    }
    match Nsec3Set::new(zone, proven) {
        Ok(set) => Ok(set),
        Err(Nsec3Problem::TooManyIterations(n)) => Err(Ok(format!(
            "{} uses NSEC3 with {n} iterations, more than the {MAX_ITERATIONS} validators accept \
             (RFC 9276 §3.2), so they treat it as unsigned",
            host(zone)
        ))),
        Err(Nsec3Problem::Unusable(why)) => Err(Err(bogus(
            BrokenLink::NoDenialProof,
            zone,
            format!("{what}: {why}"),
        ))),
    }
}

/// Proves a negative answer for `name rtype` from a secure `zone`.
pub(super) fn deny(
    message: &Message,
    name: &Name,
    rtype: RecordType,
    keys: &[DNSKEY],
    zone: &Name,
    now: u32,
) -> Proof {
    let nsecs = proven_nsecs(message, keys, zone, now);
    let nxdomain = message.metadata.response_code == ResponseCode::NXDomain;
    let proven = nsecs.iter().any(|(owner, next, types)| {
        if nxdomain {
            covers(owner, next, name)
        } else {
            (owner == name && !types.contains(&rtype) && !types.contains(&RecordType::CNAME))
                // An empty non-terminal: the next name is below it.
                || (covers(owner, next, name) && name.zone_of(next) && next != name)
        }
    });
    if proven {
        return Proof::Secure { zone: host(zone) };
    }
    if has_nsec3(message) {
        let proven = proven_nsec3s(message, keys, zone, now);
        let what = format!("{rtype} {}", host(name));
        let set = match nsec3_set(&proven, zone, &what) {
            Ok(set) => set,
            Err(Ok(proof)) => {
                return Proof::Insecure {
                    zone: host(zone),
                    proof,
                };
            }
            Err(Err(bogus)) => return bogus,
        };
        return match set.denies(name, rtype, nxdomain) {
            Denial::Proven => Proof::Secure { zone: host(zone) },
            Denial::OptOut(proof) => Proof::Insecure {
                zone: host(name),
                proof,
            },
            Denial::Unproven(why) => bogus(BrokenLink::NoDenialProof, zone, why),
        };
    }
    bogus(
        BrokenLink::NoDenialProof,
        zone,
        format!(
            "{} for {rtype} {} without a signed NSEC proving it",
            if nxdomain { "NXDOMAIN" } else { "NODATA" },
            host(name)
        ),
    )
}

/// What the signed denial in a DS reply for `name` proves, `zone` (with `keys`) being the
/// closest secure ancestor: an unsigned delegation, no zone cut, or nothing (bogus).
pub(super) fn no_ds(
    message: &Message,
    name: &Name,
    zone: &Name,
    keys: &[DNSKEY],
    now: u32,
) -> Result<Cut, Proof> {
    for (owner, next, types) in proven_nsecs(message, keys, zone, now) {
        if &owner == name {
            if types.contains(&RecordType::NS)
                && !types.contains(&RecordType::SOA)
                && !types.contains(&RecordType::DS)
            {
                return Ok(Cut::Unsigned(format!(
                    "the signed NSEC at {} in {} lists NS and no DS",
                    host(name),
                    host(zone)
                )));
            }
            return Ok(Cut::NotACut);
        }
        if covers(&owner, &next, name) {
            // No such name (or an empty non-terminal): not a zone cut.
            return Ok(Cut::NotACut);
        }
    }
    if has_nsec3(message) {
        let proven = proven_nsec3s(message, keys, zone, now);
        let what = format!("DS {}", host(name));
        let set = match nsec3_set(&proven, zone, &what) {
            Ok(set) => set,
            Err(Ok(proof)) => {
                return Ok(Cut::Unsigned(proof));
            }
            Err(Err(bogus)) => return Err(bogus),
        };
        return match set.delegation(name) {
            Delegation::Insecure(proof) => Ok(Cut::Unsigned(proof)),
            Delegation::NotACut => Ok(Cut::NotACut),
            Delegation::Unproven(why) => Err(bogus(BrokenLink::NoDenialProof, zone, why)),
        };
    }
    Err(bogus(
        BrokenLink::NoDenialProof,
        zone,
        format!(
            "no DS for {} and no signed NSEC from {} proving there is none",
            host(name),
            host(zone)
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nsec_cover_is_canonical_and_wraps() {
        let n = |s: &str| Name::from_ascii(s).unwrap();
        assert!(covers(&n("a.example."), &n("c.example."), &n("b.example.")));
        assert!(!covers(
            &n("a.example."),
            &n("c.example."),
            &n("a.example.")
        ));
        assert!(!covers(
            &n("a.example."),
            &n("c.example."),
            &n("d.example.")
        ));
        // The last NSEC points back to the apex: it covers everything after its owner.
        assert!(covers(&n("z.example."), &n("example."), &n("zz.example.")));
        // An empty non-terminal sorts between its predecessor and its descendants.
        assert!(covers(
            &n("a.example."),
            &n("x.b.example."),
            &n("b.example.")
        ));
    }
}
