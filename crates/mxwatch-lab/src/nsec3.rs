//! An NSEC3 chain with opt-out for a lab zone marked `; lab:nsec3` (RFC 5155 §7.1), the way
//! .com and .net deny DS: insecure delegations are left out of the chain, so the DS question
//! for one is answered by the closest encloser and an opt-out record covering it.
//!
//! Hand-written because hickory's NSEC3 chain building lives in hickory-server's in-memory zone
//! handler, which the lab's own zone model does not use; the hashing is hickory-proto's
//! (`Nsec3HashAlgorithm::hash`). Parameters follow RFC 9276: SHA-1, no salt, 0 iterations.

use hickory_proto::dnssec::Nsec3HashAlgorithm;
use hickory_proto::dnssec::rdata::{DNSSECRData, NSEC3};
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};
use std::collections::{BTreeMap, HashSet};

/// The chain of one zone: records by raw hash, and the names they stand for.
#[derive(Clone, Debug, Default)]
pub struct Nsec3Chain {
    origin: Option<LowerName>,
    by_hash: BTreeMap<Vec<u8>, Record>,
}

fn hash(name: &LowerName) -> Result<Vec<u8>, String> {
    Nsec3HashAlgorithm::SHA1
        .hash(&[], &Name::from(name), 0)
        .map(|d| d.as_ref().to_vec())
        .map_err(|e| e.to_string())
}

impl Nsec3Chain {
    /// The chain over `types` (authoritative owners and their types; empty non-terminals are
    /// added here), leaving out `insecure_delegations` (opt-out, flag set on every record).
    pub fn build(
        origin: &LowerName,
        types: &BTreeMap<LowerName, Vec<RecordType>>,
        insecure_delegations: &HashSet<LowerName>,
        ttl: u32,
    ) -> Result<Nsec3Chain, String> {
        let mut owners: BTreeMap<LowerName, Vec<RecordType>> = BTreeMap::new();
        for (owner, at) in types {
            if insecure_delegations.contains(owner) {
                continue;
            }
            let mut bitmap = at.clone();
            let signed = at.iter().any(|t| *t != RecordType::NS) || owner == origin;
            if signed {
                bitmap.push(RecordType::RRSIG);
            }
            bitmap.sort();
            bitmap.dedup();
            owners.insert(owner.clone(), bitmap);
            let mut ent = owner.base_name();
            while origin.zone_of(&ent) && &ent != origin {
                owners.entry(ent.clone()).or_default();
                ent = ent.base_name();
            }
        }
        let mut hashed: Vec<(Vec<u8>, Vec<RecordType>)> = owners
            .into_iter()
            .map(|(owner, at)| Ok((hash(&owner)?, at)))
            .collect::<Result<_, String>>()?;
        hashed.sort();
        let mut by_hash = BTreeMap::new();
        for (i, (h, at)) in hashed.iter().enumerate() {
            let next = hashed[(i + 1) % hashed.len()].0.clone();
            let owner = Name::from(origin)
                .prepend_label(data_encoding::BASE32_DNSSEC.encode(h))
                .map_err(|e| e.to_string())?;
            let rdata = NSEC3::new(Nsec3HashAlgorithm::SHA1, true, 0, vec![], next, at.clone());
            by_hash.insert(
                h.clone(),
                Record::from_rdata(owner, ttl, RData::DNSSEC(DNSSECRData::NSEC3(rdata))),
            );
        }
        Ok(Nsec3Chain {
            origin: Some(origin.clone()),
            by_hash,
        })
    }

    pub fn records(&self) -> impl Iterator<Item = &Record> {
        self.by_hash.values()
    }

    fn matching(&self, name: &LowerName) -> Option<&Record> {
        self.by_hash.get(&hash(name).ok()?)
    }

    fn covering(&self, name: &LowerName) -> Option<&Record> {
        let h = hash(name).ok()?;
        self.by_hash
            .range(..h)
            .next_back()
            .or_else(|| self.by_hash.iter().next_back())
            .map(|(_, r)| r)
    }

    /// The NSEC3 records proving a negative answer at `name` (RFC 5155 §7.2): the matching
    /// record (NODATA), or the closest encloser proof, plus the wildcard's cover for NXDOMAIN.
    pub fn denial(&self, name: &LowerName, nxdomain: bool) -> Vec<Record> {
        let Some(origin) = &self.origin else {
            return vec![];
        };
        if let Some(record) = self.matching(name) {
            return vec![record.clone()];
        }
        let mut out: Vec<Record> = Vec::new();
        let mut add = |r: Option<&Record>| {
            if let Some(r) = r
                && !out.contains(r)
            {
                out.push(r.clone());
            }
        };
        let mut next_closer = name.clone();
        while origin.zone_of(&next_closer) && &next_closer != origin {
            let encloser = next_closer.base_name();
            if let Some(record) = self.matching(&encloser) {
                add(Some(record));
                add(self.covering(&next_closer));
                if nxdomain && let Ok(wildcard) = Name::from(&encloser).prepend_label("*") {
                    add(self.covering(&LowerName::new(&wildcard)));
                }
                break;
            }
            next_closer = encloser;
        }
        out
    }
}
