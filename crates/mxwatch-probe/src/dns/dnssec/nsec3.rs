//! NSEC3 denial proofs (RFC 5155), over NSEC3 records whose signatures were already verified.
//!
//! Two questions are answered: is a name an unsigned delegation (the DS walk, RFC 5155 §8.6 and
//! §8.9, RFC 4035 §5.2), and is a negative answer proven (NXDOMAIN §8.4, NODATA §8.5, wildcard
//! NODATA §8.7). The closest-encloser and covering logic is adapted from hickory-net 0.26.3's
//! `dnssec/nsec3.rs` (`verify_nsec3_insecure_delegation`, `find_covering_record`; MIT or
//! Apache-2.0), which is `pub(super)` there and tied to hickory's own validator; hashing is
//! hickory-proto's `Nsec3HashAlgorithm::hash`.
//!
//! Iterations: RFC 9276 §3.2 lets validators treat NSEC3 with more iterations than they accept
//! as insecure, and BIND, Unbound and Knot Resolver do (limits of 50 to 150). A sending MTA's
//! validating resolver therefore gives no AD bit for such a zone and uses no TLSA there, so
//! mxwatch reports more than [`MAX_ITERATIONS`] as *insecure*, with the reason, and does not
//! hash at all (the point of the limit: each iteration is a SHA-1 a hostile zone makes us pay).

use hickory_proto::dnssec::Nsec3HashAlgorithm;
use hickory_proto::dnssec::rdata::NSEC3;
use hickory_proto::rr::{Name, RecordType};

/// Iterations accepted (RFC 9276 §3.2 recommends that validators accept no more than 100).
pub(super) const MAX_ITERATIONS: u16 = 100;

/// The verified NSEC3 records of one zone, with their parameters checked to agree (§8.2).
pub(super) struct Nsec3Set<'a> {
    zone: &'a Name,
    algorithm: Nsec3HashAlgorithm,
    salt: &'a [u8],
    iterations: u16,
    /// (hash of the owner, decoded from its first label; the record)
    records: Vec<(Vec<u8>, &'a NSEC3)>,
}

/// Why a set of NSEC3 records cannot be used at all.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Nsec3Problem {
    /// More iterations than [`MAX_ITERATIONS`]: insecure by RFC 9276 §3.2.
    TooManyIterations(u16),
    /// None of the records belongs to the zone, or their parameters disagree: no proof.
    Unusable(String),
}

/// What the NSEC3 records say about a DS question at `name`.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Delegation {
    /// An unsigned delegation (or, with opt-out, possibly one): the chain of trust ends.
    Insecure(String),
    /// Not a zone cut (no NS there, or no such name): the parent's keys still hold.
    NotACut,
    /// The records prove neither.
    Unproven(String),
}

/// What the NSEC3 records say about a negative answer.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Denial {
    Proven,
    /// The next closer name is covered by an opt-out NSEC3: it may be an unsigned delegation.
    OptOut(String),
    Unproven(String),
}

impl<'a> Nsec3Set<'a> {
    /// The records of `records` whose owner is `<base32hash>.<zone>`.
    pub(super) fn new(
        zone: &'a Name,
        records: &'a [(Name, NSEC3)],
    ) -> Result<Nsec3Set<'a>, Nsec3Problem> {
        let mut own = Vec::new();
        for (owner, nsec3) in records {
            if owner.num_labels() != zone.num_labels() + 1 || !zone.zone_of(owner) {
                continue;
            }
            let Some(label) = owner.iter().next() else {
                continue;
            };
            let Ok(hash) = data_encoding::BASE32_DNSSEC.decode(&label.to_ascii_lowercase()) else {
                continue;
            };
            own.push((hash, nsec3));
        }
        let Some((_, first)) = own.first() else {
            return Err(Nsec3Problem::Unusable(format!("no NSEC3 record of {zone}")));
        };
        let (algorithm, salt, iterations) =
            (first.hash_algorithm(), first.salt(), first.iterations());
        if own.iter().any(|(_, r)| {
            r.hash_algorithm() != algorithm || r.salt() != salt || r.iterations() != iterations
        }) {
            return Err(Nsec3Problem::Unusable(format!(
                "the NSEC3 records of {zone} disagree on their parameters"
            )));
        }
        if iterations > MAX_ITERATIONS {
            return Err(Nsec3Problem::TooManyIterations(iterations));
        }
        Ok(Nsec3Set {
            zone,
            algorithm,
            salt,
            iterations,
            records: own,
        })
    }

    fn hash(&self, name: &Name) -> Option<Vec<u8>> {
        self.algorithm
            .hash(self.salt, name, self.iterations)
            .ok()
            .map(|d| d.as_ref().to_vec())
    }

    /// The NSEC3 whose owner is the hash of `name` (RFC 5155 §8.3 "matches").
    fn matching(&self, name: &Name) -> Option<&'a NSEC3> {
        let hash = self.hash(name)?;
        self.records
            .iter()
            .find(|(owner, _)| *owner == hash)
            .map(|(_, r)| *r)
    }

    /// The NSEC3 whose interval holds the hash of `name` strictly (§8.3 "covers"), wrapping at
    /// the end of the chain. Raw hashes of one length sort like their base32hex labels.
    fn covering(&self, name: &Name) -> Option<&'a NSEC3> {
        let hash = self.hash(name)?;
        self.records
            .iter()
            .find(|(owner, r)| {
                let next = r.next_hashed_owner_name();
                if *owner == hash || next.len() != hash.len() {
                    return false;
                }
                if owner.as_slice() < next {
                    owner.as_slice() < hash.as_slice() && hash.as_slice() < next
                } else {
                    hash.as_slice() > owner.as_slice() || hash.as_slice() < next
                }
            })
            .map(|(_, r)| *r)
    }

    /// The closest provable encloser of `name` and the covering NSEC3 of the next closer name
    /// (§8.3): the longest proper ancestor (down to the zone apex) with a matching NSEC3 that
    /// is not a parent-side delegation record (RFC 6840 §4.1).
    fn closest_encloser(&self, name: &Name) -> Option<(Name, Name, &'a NSEC3)> {
        let mut next_closer = name.clone();
        while next_closer.num_labels() > self.zone.num_labels() {
            let encloser = next_closer.base_name();
            if let Some(m) = self.matching(&encloser) {
                if m.is_ancestor_delegation() {
                    return None;
                }
                let cover = self.covering(&next_closer)?;
                return Some((encloser, next_closer, cover));
            }
            next_closer = encloser;
        }
        None
    }

    /// Is `name` (asked for DS in this zone, no DS in the answer) an unsigned delegation?
    pub(super) fn delegation(&self, name: &Name) -> Delegation {
        if let Some(m) = self.matching(name) {
            let types: Vec<RecordType> = m.type_bit_maps().collect();
            let has = |t| types.contains(&t);
            if has(RecordType::DS) {
                return Delegation::Unproven(format!(
                    "the NSEC3 of {name} lists DS, yet no DS was answered"
                ));
            }
            if has(RecordType::NS) && !has(RecordType::SOA) {
                return Delegation::Insecure(format!(
                    "the signed NSEC3 of {name} in {} lists NS and no DS",
                    self.zone
                ));
            }
            return Delegation::NotACut;
        }
        match self.closest_encloser(name) {
            Some((encloser, next_closer, cover)) if cover.opt_out() => {
                Delegation::Insecure(format!(
                    "an opt-out NSEC3 of {} covers {next_closer} (closest encloser {encloser}): \
                     a delegation there has no DS",
                    self.zone
                ))
            }
            // The next closer name does not exist, so neither does anything below it.
            Some(_) => Delegation::NotACut,
            None => Delegation::Unproven(format!(
                "no NSEC3 of {} matches {name} or proves its closest encloser",
                self.zone
            )),
        }
    }

    /// Is the negative answer for `name rtype` proven?
    pub(super) fn denies(&self, name: &Name, rtype: RecordType, nxdomain: bool) -> Denial {
        let lacks = |r: &NSEC3| {
            let types: Vec<RecordType> = r.type_bit_maps().collect();
            !types.contains(&rtype) && !types.contains(&RecordType::CNAME)
        };
        if !nxdomain && let Some(m) = self.matching(name) {
            // NODATA (§8.5); a DS question at a delegation point is [`Self::delegation`]'s.
            return if lacks(m) && !(m.is_ancestor_delegation() && rtype != RecordType::DS) {
                Denial::Proven
            } else {
                Denial::Unproven(format!("the NSEC3 of {name} lists {rtype}"))
            };
        }
        let Some((encloser, next_closer, cover)) = self.closest_encloser(name) else {
            return Denial::Unproven(format!(
                "no NSEC3 of {} proves the closest encloser of {name}",
                self.zone
            ));
        };
        let Ok(wildcard) = encloser.prepend_label("*") else {
            return Denial::Unproven(format!("no wildcard name under {encloser}"));
        };
        let wildcard_denied = if nxdomain {
            // §8.4: no wildcard could have answered.
            self.covering(&wildcard).is_some()
        } else {
            // §8.7: a wildcard matched, without the type.
            self.matching(&wildcard).is_some_and(lacks)
        };
        if !wildcard_denied {
            return Denial::Unproven(format!(
                "no NSEC3 of {} denies the wildcard {wildcard}",
                self.zone
            ));
        }
        if cover.opt_out() {
            return Denial::OptOut(format!(
                "an opt-out NSEC3 of {} covers {next_closer}",
                self.zone
            ));
        }
        Denial::Proven
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn h(name: &str) -> Vec<u8> {
        Nsec3HashAlgorithm::SHA1
            .hash(b"", &n(name), 0)
            .unwrap()
            .as_ref()
            .to_vec()
    }

    /// A chain over `names` (hashed, sorted), each with its types; `opt_out` on every record.
    fn chain(zone: &str, names: &[(&str, &[RecordType])], opt_out: bool) -> Vec<(Name, NSEC3)> {
        let mut hashed: Vec<(Vec<u8>, Vec<RecordType>)> = names
            .iter()
            .map(|(name, types)| (h(name), types.to_vec()))
            .collect();
        hashed.sort();
        (0..hashed.len())
            .map(|i| {
                let (hash, types) = &hashed[i];
                let next = hashed[(i + 1) % hashed.len()].0.clone();
                let owner = n(&format!(
                    "{}.{zone}",
                    data_encoding::BASE32_DNSSEC.encode(hash)
                ));
                let data = NSEC3::new(
                    Nsec3HashAlgorithm::SHA1,
                    opt_out,
                    0,
                    vec![],
                    next,
                    types.clone(),
                );
                (owner, data)
            })
            .collect()
    }

    use RecordType::{A, DS, MX, NS, SOA};

    #[test]
    fn opt_out_covering_the_next_closer_proves_an_insecure_delegation() {
        let zone = n("com.");
        let records = chain(
            "com.",
            &[("com.", &[SOA, NS]), ("signed.com.", &[NS, DS])],
            true,
        );
        let set = Nsec3Set::new(&zone, &records).unwrap();
        assert!(matches!(
            set.delegation(&n("example.com.")),
            Delegation::Insecure(_)
        ));
        // Without opt-out, the same cover only says the name does not exist.
        let strict = chain(
            "com.",
            &[("com.", &[SOA, NS]), ("signed.com.", &[NS, DS])],
            false,
        );
        let set = Nsec3Set::new(&zone, &strict).unwrap();
        assert_eq!(set.delegation(&n("example.com.")), Delegation::NotACut);
        // A matching record with DS contradicts a DS-less answer.
        assert!(matches!(
            set.delegation(&n("signed.com.")),
            Delegation::Unproven(_)
        ));
    }

    #[test]
    fn a_matching_record_with_ns_and_no_ds_is_an_insecure_delegation() {
        let zone = n("example.");
        let records = chain(
            "example.",
            &[
                ("example.", &[SOA, NS]),
                ("child.example.", &[NS]),
                ("www.example.", &[A]),
            ],
            false,
        );
        let set = Nsec3Set::new(&zone, &records).unwrap();
        assert!(matches!(
            set.delegation(&n("child.example.")),
            Delegation::Insecure(_)
        ));
        assert_eq!(set.delegation(&n("www.example.")), Delegation::NotACut);
        // Records of another zone prove nothing here.
        assert!(matches!(
            Nsec3Set::new(&n("other."), &records).err(),
            Some(Nsec3Problem::Unusable(_))
        ));
    }

    #[test]
    fn nodata_and_nxdomain_are_proven_or_not() {
        let zone = n("example.");
        let records = chain(
            "example.",
            &[("example.", &[SOA, NS, MX]), ("www.example.", &[A])],
            false,
        );
        let set = Nsec3Set::new(&zone, &records).unwrap();
        assert_eq!(set.denies(&n("www.example."), MX, false), Denial::Proven);
        assert!(matches!(
            set.denies(&n("www.example."), A, false),
            Denial::Unproven(_)
        ));
        // NXDOMAIN: closest encloser example., next closer and wildcard covered.
        assert_eq!(set.denies(&n("nope.example."), A, true), Denial::Proven);
        assert_eq!(set.denies(&n("a.b.www.example."), A, true), Denial::Proven);
        // Without the record matching the apex, there is no closest encloser: unproven.
        let partial: Vec<_> = records
            .iter()
            .filter(|(owner, _)| {
                !owner
                    .to_ascii()
                    .starts_with(&data_encoding::BASE32_DNSSEC.encode(&h("example.")))
            })
            .cloned()
            .collect();
        let set = Nsec3Set::new(&zone, &partial).unwrap();
        assert!(matches!(
            set.denies(&n("nope.example."), A, true),
            Denial::Unproven(_)
        ));
    }

    #[test]
    fn too_many_iterations_or_mixed_parameters_are_refused() {
        let zone = n("example.");
        let mut records = chain("example.", &[("example.", &[SOA, NS])], false);
        let (owner, r) = records[0].clone();
        let costly = NSEC3::new(
            Nsec3HashAlgorithm::SHA1,
            false,
            MAX_ITERATIONS + 1,
            vec![],
            r.next_hashed_owner_name().to_vec(),
            [SOA],
        );
        assert_eq!(
            Nsec3Set::new(&zone, &[(owner.clone(), costly)]).err(),
            Some(Nsec3Problem::TooManyIterations(MAX_ITERATIONS + 1))
        );
        records.push((
            owner,
            NSEC3::new(
                Nsec3HashAlgorithm::SHA1,
                false,
                0,
                vec![1],
                vec![0; 20],
                [A],
            ),
        ));
        assert!(matches!(
            Nsec3Set::new(&zone, &records).err(),
            Some(Nsec3Problem::Unusable(_))
        ));
    }
}
