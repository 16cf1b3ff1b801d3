//! The lab's zone data, and how a recursive resolver would answer from it.

use crate::signing::{LabKey, Signing};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};
use hickory_proto::serialize::txt::Parser;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use thiserror::Error;

include!(concat!(env!("OUT_DIR"), "/zones.rs"));

#[derive(Debug, Error)]
pub enum ZoneError {
    #[error("zone file {file}: {message}")]
    Parse { file: String, message: String },
    #[error("zone file {file} has no SOA record")]
    NoSoa { file: String },
    #[error("signing the lab zones: {message}")]
    Signing { message: String },
}

/// One authoritative zone.
#[derive(Clone, Debug)]
pub struct Zone {
    pub origin: LowerName,
    records: HashMap<(LowerName, RecordType), Vec<Record>>,
    /// Every owner name and every empty non-terminal between it and the origin.
    names: HashSet<LowerName>,
    /// Owners of NS records below the apex: where this zone hands over to another.
    delegations: HashSet<LowerName>,
    soa: Record,
    /// How the zone file asks to be signed (`; lab:unsigned`, `; lab:bogus=…`).
    pub signing: Signing,
    /// RRSIGs per RRset (owner, covered type); empty while the zone is unsigned.
    rrsigs: HashMap<(LowerName, RecordType), Vec<Record>>,
    /// The NSEC chain, by owner in canonical order; empty while the zone is unsigned.
    nsec: BTreeMap<LowerName, Record>,
    /// The NSEC3 chain instead, for a zone marked `; lab:nsec3`.
    nsec3: Option<crate::nsec3::Nsec3Chain>,
}

impl Zone {
    fn parse(file: &str, text: &str) -> Result<Zone, ZoneError> {
        let origin_text = file.trim_end_matches(".zone");
        let origin = if origin_text == "root" {
            Name::root()
        } else {
            Name::from_ascii(format!("{origin_text}.")).map_err(|e| ZoneError::Parse {
                file: file.into(),
                message: e.to_string(),
            })?
        };
        let (origin, sets) =
            Parser::new(text, None, Some(origin))
                .parse()
                .map_err(|e| ZoneError::Parse {
                    file: file.into(),
                    message: e.to_string(),
                })?;
        let origin = LowerName::new(&origin);
        let mut zone = Zone {
            origin: origin.clone(),
            records: HashMap::new(),
            names: HashSet::new(),
            delegations: HashSet::new(),
            signing: Signing::from_zone_text(text),
            rrsigs: HashMap::new(),
            nsec: BTreeMap::new(),
            nsec3: None,
            soa: Record::from_rdata(
                Name::root(),
                0,
                RData::A(hickory_proto::rr::rdata::A(std::net::Ipv4Addr::UNSPECIFIED)),
            ),
        };
        let mut soa = None;
        for (key, set) in sets {
            let owner = key.name.clone();
            let records: Vec<Record> = set.records_without_rrsigs().cloned().collect();
            if key.record_type == RecordType::SOA {
                soa = records.first().cloned();
            }
            if key.record_type == RecordType::NS && owner != origin {
                zone.delegations.insert(owner.clone());
            }
            let mut name = owner.clone();
            while origin.zone_of(&name) && zone.names.insert(name.clone()) && name != origin {
                name = name.base_name();
            }
            zone.records.insert((owner, key.record_type), records);
        }
        zone.soa = soa.ok_or_else(|| ZoneError::NoSoa { file: file.into() })?;
        Ok(zone)
    }

    /// Whether `owner` is glue or other data below a zone cut (not authoritative here).
    fn below_cut(&self, owner: &LowerName) -> bool {
        self.delegation_covering(owner)
            .is_some_and(|cut| &cut != owner)
    }

    /// Signs the zone with `key`: DNSKEY at the apex, the NSEC chain, an RRSIG per RRset.
    fn sign(&mut self, key: &LabKey, now: time::OffsetDateTime) -> Result<(), String> {
        let origin = Name::from(&self.origin);
        self.records.retain(|(_, t), _| {
            !matches!(t, RecordType::NSEC | RecordType::NSEC3 | RecordType::DNSKEY)
        });
        self.records.insert(
            (self.origin.clone(), RecordType::DNSKEY),
            vec![key.dnskey_record(&origin)],
        );
        self.rrsigs.clear();
        self.nsec.clear();
        self.nsec3 = None;
        let mut types: BTreeMap<LowerName, Vec<RecordType>> = BTreeMap::new();
        for (owner, rtype) in self.records.keys() {
            if !self.below_cut(owner) {
                types.entry(owner.clone()).or_default().push(*rtype);
            }
        }
        let owners: Vec<LowerName> = types.keys().cloned().collect();
        let negative_ttl = match &self.soa.data {
            RData::SOA(soa) => soa.minimum.min(self.soa.ttl),
            _ => 300,
        };
        if self.signing == Signing::Nsec3OptOut {
            let insecure: HashSet<LowerName> = self
                .delegations
                .iter()
                .filter(|d| !self.records.contains_key(&((*d).clone(), RecordType::DS)))
                .cloned()
                .collect();
            let chain =
                crate::nsec3::Nsec3Chain::build(&self.origin, &types, &insecure, negative_ttl)?;
            for record in chain.records() {
                self.records.insert(
                    (LowerName::new(&record.name), RecordType::NSEC3),
                    vec![record.clone()],
                );
            }
            self.nsec3 = Some(chain);
        }
        for (i, owner) in owners.iter().enumerate() {
            if self.nsec3.is_some() {
                break;
            }
            let next = owners.get(i + 1).unwrap_or(&self.origin);
            let mut at = types[owner].clone();
            at.sort();
            let record = crate::signing::nsec(owner, next, at, negative_ttl);
            self.records
                .insert((owner.clone(), RecordType::NSEC), vec![record.clone()]);
            self.nsec.insert(owner.clone(), record);
        }
        for ((owner, rtype), records) in &self.records {
            let delegation_ns = *rtype == RecordType::NS && owner != &self.origin;
            if self.below_cut(owner) || delegation_ns || records.is_empty() {
                continue;
            }
            let rrsig = key.sign(owner, records, self.signing, now)?;
            self.rrsigs.insert((owner.clone(), *rtype), vec![rrsig]);
        }
        Ok(())
    }

    /// The RRSIGs over `(owner, rtype)`, when the zone is signed.
    fn rrsigs_of(&self, owner: &LowerName, rtype: RecordType) -> Vec<Record> {
        self.rrsigs
            .get(&(owner.clone(), rtype))
            .cloned()
            .unwrap_or_default()
    }

    /// The signed proof that `name` has no data of the asked type (NODATA) or does not exist
    /// (NXDOMAIN, with the wildcard denied too): the SOA's RRSIG and the NSEC records.
    fn denial(&self, name: &LowerName, nxdomain: bool) -> Vec<Record> {
        if let Some(chain) = &self.nsec3 {
            let mut out = self.rrsigs_of(&self.origin, RecordType::SOA);
            for record in chain.denial(name, nxdomain) {
                out.extend(self.rrsigs_of(&LowerName::new(&record.name), RecordType::NSEC3));
                out.push(record);
            }
            return out;
        }
        if self.nsec.is_empty() {
            return vec![];
        }
        let mut out = self.rrsigs_of(&self.origin, RecordType::SOA);
        let add = |owner: &LowerName, out: &mut Vec<Record>| {
            if let Some(nsec) = self.nsec.get(owner)
                && !out.contains(nsec)
            {
                out.push(nsec.clone());
                out.extend(self.rrsigs_of(owner, RecordType::NSEC));
            }
        };
        let covering = |target: &LowerName| {
            self.nsec
                .range(..target.clone())
                .next_back()
                .map(|(owner, _)| owner.clone())
                .or_else(|| self.nsec.keys().next_back().cloned())
        };
        if self.nsec.contains_key(name) {
            add(name, &mut out);
        } else if let Some(owner) = covering(name) {
            add(&owner, &mut out);
        }
        if nxdomain {
            let mut encloser = name.base_name();
            while !self.names.contains(&encloser) && encloser != self.origin {
                encloser = encloser.base_name();
            }
            if let Ok(wildcard) = Name::from(&encloser).prepend_label("*")
                && let Some(owner) = covering(&LowerName::new(&wildcard))
            {
                add(&owner, &mut out);
            }
        }
        out
    }

    /// The delegation point at or above `name` inside this zone, if any.
    fn delegation_covering(&self, name: &LowerName) -> Option<LowerName> {
        let mut cur = name.clone();
        while cur != self.origin && self.origin.zone_of(&cur) {
            if self.delegations.contains(&cur) {
                return Some(cur);
            }
            cur = cur.base_name();
        }
        None
    }
}

/// Every lab zone, answering like a recursive resolver that has walked the
/// delegations: CNAMEs are followed across zones, and a name under a
/// delegation that no lab zone serves gets SERVFAIL (the delegated server is
/// not there: a lame delegation).
#[derive(Clone, Debug, Default)]
pub struct LabZones {
    zones: BTreeMap<LowerName, Zone>,
    /// One key per signed zone, kept so a zone changed during a test is signed again alike.
    keys: BTreeMap<LowerName, Arc<LabKey>>,
    /// The root's trust anchor (DS and DNSKEY lines) once the lab is signed.
    anchor: Option<String>,
}

/// What a resolver would send back.
#[derive(Clone, Debug)]
pub struct Answer {
    pub rcode: ResponseCode,
    pub answers: Vec<Record>,
    pub authorities: Vec<Record>,
}

/// CNAME hops the lab follows inside one answer (like a resolver would).
const MAX_CHAIN: usize = 8;

impl LabZones {
    /// The zones built into the lab (`zones/*.zone`), signed with keys made now.
    pub fn builtin() -> Result<LabZones, ZoneError> {
        let mut lab = Self::builtin_unsigned()?;
        lab.sign()?;
        Ok(lab)
    }

    /// The zones built into the lab, not yet signed (records may be added, then [`Self::sign`]).
    pub fn builtin_unsigned() -> Result<LabZones, ZoneError> {
        Self::from_files(ZONE_FILES.iter().map(|(f, t)| (*f, *t)))
    }

    /// The text of one built-in zone file (`healthy.test.zone`), for tests that edit a copy of it.
    pub fn builtin_zone_text(file: &str) -> Option<&'static str> {
        ZONE_FILES.iter().find(|(f, _)| *f == file).map(|(_, t)| *t)
    }

    /// healthy.test as the monitor's tests change it: its backup MX (20 mx2.healthy.test) moved
    /// to the provider (30 mx1.provider.test), the rest as built in.
    pub fn healthy_with_backup_moved() -> String {
        let text = Self::builtin_zone_text("healthy.test.zone").expect("healthy.test.zone");
        let moved = text.replace(
            "@\tIN\tMX\t20 mx2.healthy.test.",
            "@\tIN\tMX\t30 mx1.provider.test.",
        );
        assert_ne!(moved, text, "the healthy.test zone changed shape");
        moved
    }

    /// Signs every zone but those marked `; lab:unsigned`: a key per zone (made once, kept),
    /// DS records in the parents, NSEC chains and RRSIGs. Call again after a change.
    pub fn sign(&mut self) -> Result<(), ZoneError> {
        let failed = |message: String| ZoneError::Signing { message };
        let now = time::OffsetDateTime::now_utc();
        let signed: Vec<LowerName> = self
            .zones
            .values()
            .filter(|z| z.signing != Signing::Unsigned)
            .map(|z| z.origin.clone())
            .collect();
        for origin in &signed {
            if !self.keys.contains_key(origin) {
                let key = LabKey::generate(&Name::from(origin)).map_err(failed)?;
                self.keys.insert(origin.clone(), key);
            }
        }
        // DS records first: they are part of the parents' signed data.
        for zone in self.zones.values_mut() {
            zone.records.retain(|(_, t), _| *t != RecordType::DS);
        }
        for origin in signed.iter().filter(|o| !o.is_root()) {
            let corrupt = self.zones[origin].signing == Signing::BogusDs;
            let ds = if self.zones[origin].signing == Signing::UnsupportedDs {
                self.keys[origin].unsupported_ds_record(&Name::from(origin))
            } else {
                self.keys[origin].ds_record(&Name::from(origin), corrupt)
            }
            .map_err(failed)?;
            let Some(parent) = self.zone_for(&origin.base_name()).map(|z| z.origin.clone()) else {
                continue;
            };
            if let Some(parent) = self.zones.get_mut(&parent) {
                parent
                    .records
                    .insert((origin.clone(), RecordType::DS), vec![ds]);
            }
        }
        for origin in &signed {
            let key = self.keys[origin].clone();
            if let Some(zone) = self.zones.get_mut(origin) {
                zone.sign(&key, now).map_err(failed)?;
            }
        }
        self.anchor = match self.keys.get(&LowerName::from(Name::root())) {
            Some(root) => Some(crate::signing::anchor_text(root).map_err(failed)?),
            None => None,
        };
        Ok(())
    }

    /// The root trust anchor (DS and DNSKEY in zone-file form) when the lab is signed.
    pub fn trust_anchor(&self) -> Option<&str> {
        self.anchor.as_deref()
    }

    fn resign_if_signed(&mut self) -> Result<(), ZoneError> {
        if self.keys.is_empty() {
            Ok(())
        } else {
            self.sign()
        }
    }

    pub fn from_files<'a>(
        files: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<LabZones, ZoneError> {
        let mut lab = LabZones::default();
        for (file, text) in files {
            let zone = Zone::parse(file, text)?;
            lab.zones.insert(zone.origin.clone(), zone);
        }
        Ok(lab)
    }

    /// Replaces (or adds) one zone from master-file text: the lab can change while a test runs.
    pub fn set_zone(&mut self, file: &str, text: &str) -> Result<(), ZoneError> {
        let zone = Zone::parse(file, text)?;
        self.zones.insert(zone.origin.clone(), zone);
        self.resign_if_signed()
    }

    /// Adds one record to the zone that holds its owner: for names no zone file
    /// can spell (control characters and other hostile bytes in a label).
    pub fn add_record(&mut self, record: Record) -> bool {
        let owner = LowerName::new(&record.name);
        let Some(origin) = self.zone_for(&owner).map(|z| z.origin.clone()) else {
            return false;
        };
        let Some(zone) = self.zones.get_mut(&origin) else {
            return false;
        };
        let mut name = owner.clone();
        while zone.origin.zone_of(&name) && zone.names.insert(name.clone()) && name != zone.origin {
            name = name.base_name();
        }
        zone.records
            .entry((owner, record.record_type()))
            .or_default()
            .push(record);
        self.resign_if_signed().is_ok()
    }

    /// Replaces the RRset of `record`'s owner and type with this one record (signed again if
    /// the lab is signed); `false` when no zone holds the owner.
    pub fn replace_rrset(&mut self, record: Record) -> bool {
        let owner = LowerName::new(&record.name);
        let Some(origin) = self.zone_for(&owner).map(|z| z.origin.clone()) else {
            return false;
        };
        if let Some(zone) = self.zones.get_mut(&origin) {
            zone.records.remove(&(owner, record.record_type()));
        }
        self.add_record(record)
    }

    pub fn remove_zone(&mut self, origin: &str) {
        if let Ok(name) = Name::from_ascii(origin) {
            self.zones.remove(&LowerName::new(&name));
        }
    }

    /// Every address an A or AAAA record points at, with the owner names pointing there.
    pub fn address_names(&self) -> std::collections::BTreeMap<std::net::IpAddr, Vec<String>> {
        let mut out: std::collections::BTreeMap<std::net::IpAddr, Vec<String>> = Default::default();
        for zone in self.zones.values() {
            for ((owner, _), records) in &zone.records {
                for record in records {
                    let ip = match &record.data {
                        RData::A(a) => std::net::IpAddr::V4(a.0),
                        RData::AAAA(a) => std::net::IpAddr::V6(a.0),
                        _ => continue,
                    };
                    let name = owner.to_string().trim_end_matches('.').to_string();
                    let names = out.entry(ip).or_default();
                    if !names.contains(&name) {
                        names.push(name);
                        names.sort();
                    }
                }
            }
        }
        out
    }

    /// The origins of every zone, in order.
    pub fn origins(&self) -> Vec<String> {
        self.zones.keys().map(ToString::to_string).collect()
    }

    fn zone_for(&self, name: &LowerName) -> Option<&Zone> {
        let mut cur = name.clone();
        loop {
            if let Some(zone) = self.zones.get(&cur) {
                return Some(zone);
            }
            if cur.is_root() {
                return None;
            }
            cur = cur.base_name();
        }
    }

    /// Answers `qname qtype` as an authoritative server for the lab zones would:
    /// no CNAME chasing across zones; `None` for a name no zone here is authoritative for.
    pub fn authoritative(&self, qname: &Name, qtype: RecordType) -> Option<Answer> {
        let name = LowerName::new(qname);
        let zone = self.zone_for(&name)?;
        if zone.delegation_covering(&name).is_some() {
            return None;
        }
        if let Some(records) = zone.records.get(&(name.clone(), qtype)) {
            return Some(Answer {
                rcode: ResponseCode::NoError,
                answers: records.clone(),
                authorities: vec![],
            });
        }
        if let Some(cname) = zone.records.get(&(name.clone(), RecordType::CNAME)) {
            return Some(Answer {
                rcode: ResponseCode::NoError,
                answers: cname.clone(),
                authorities: vec![],
            });
        }
        let rcode = if zone.names.contains(&name) {
            ResponseCode::NoError
        } else {
            ResponseCode::NXDomain
        };
        Some(Answer {
            rcode,
            answers: vec![],
            authorities: vec![zone.soa.clone()],
        })
    }

    /// Answers `qname qtype` as a recursive resolver would.
    pub fn resolve(&self, qname: &Name, qtype: RecordType) -> Answer {
        self.resolve_dnssec(qname, qtype, false)
    }

    /// Whether a validating resolver finds the answer to `qname qtype` bogus: it comes from a
    /// signed zone whose file asks to be broken (`; lab:bogus=…`).
    pub fn is_bogus(&self, qname: &Name, qtype: RecordType) -> bool {
        self.trust_anchor().is_some()
            && self
                .zone_answering(&LowerName::new(qname), qtype)
                .is_some_and(|z| matches!(z.signing, Signing::BogusExpired | Signing::BogusDs))
    }

    /// The zone that answers `qtype` at `name`: for DS, the parent side of a zone cut.
    fn zone_answering(&self, name: &LowerName, qtype: RecordType) -> Option<&Zone> {
        let zone = self.zone_for(name)?;
        if qtype == RecordType::DS && &zone.origin == name && !name.is_root() {
            return self.zone_for(&name.base_name());
        }
        Some(zone)
    }

    /// Answers like a recursive resolver; with `dnssec_ok` (the DO bit), RRSIGs and the
    /// NSEC proofs of negative answers come along, as a resolver passes them on.
    pub fn resolve_dnssec(&self, qname: &Name, qtype: RecordType, dnssec_ok: bool) -> Answer {
        let mut answers = Vec::new();
        let mut cur = LowerName::new(qname);
        let mut seen = HashSet::new();
        for _ in 0..=MAX_CHAIN {
            if !seen.insert(cur.clone()) {
                // A loop: return the chain so far, as resolvers do; the client sees the loop.
                break;
            }
            let Some(zone) = self.zone_answering(&cur, qtype) else {
                return Answer {
                    rcode: ResponseCode::NXDomain,
                    answers,
                    authorities: vec![],
                };
            };
            let ds_at_cut =
                qtype == RecordType::DS && zone.delegation_covering(&cur).as_ref() == Some(&cur);
            if zone.delegation_covering(&cur).is_some() && !ds_at_cut {
                return Answer {
                    rcode: ResponseCode::ServFail,
                    answers: vec![],
                    authorities: vec![],
                };
            }
            if let Some(records) = zone.records.get(&(cur.clone(), qtype)) {
                answers.extend(records.iter().cloned());
                if dnssec_ok {
                    answers.extend(zone.rrsigs_of(&cur, qtype));
                }
                break;
            }
            if qtype != RecordType::CNAME
                && let Some(cname) = zone.records.get(&(cur.clone(), RecordType::CNAME))
                && let Some(record) = cname.first()
                && let RData::CNAME(target) = &record.data
            {
                answers.push(record.clone());
                if dnssec_ok {
                    answers.extend(zone.rrsigs_of(&cur, RecordType::CNAME));
                }
                cur = LowerName::new(&target.0);
                continue;
            }
            let rcode = if zone.names.contains(&cur) {
                ResponseCode::NoError
            } else {
                ResponseCode::NXDomain
            };
            let mut authorities = vec![zone.soa.clone()];
            if dnssec_ok {
                authorities.extend(zone.denial(&cur, rcode == ResponseCode::NXDomain));
            }
            return Answer {
                rcode,
                answers,
                authorities,
            };
        }
        Answer {
            rcode: ResponseCode::NoError,
            answers,
            authorities: vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lab() -> LabZones {
        LabZones::from_files([
            (
                "root.zone",
                "$TTL 3600\n. SOA ns1.lab.test. h.lab.test. 1 1 1 1 300\n. NS ns1.lab.test.\ntest. NS ns1.lab.test.\n",
            ),
            (
                "test.zone",
                "$ORIGIN test.\n$TTL 3600\n@ SOA ns1.lab.test. h.lab.test. 1 1 1 1 300\n@ NS ns1.lab.test.\n\
                 a NS ns1.lab.test.\nlame NS ns1.lame.test.\nns1.lame A 127.53.0.99\n",
            ),
            (
                "a.test.zone",
                "$ORIGIN a.test.\n$TTL 3600\n@ SOA ns1.lab.test. h.lab.test. 1 1 1 1 300\n@ NS ns1.lab.test.\n\
                 @ MX 10 mx.a.test.\nmx A 127.0.1.1\nalias CNAME mx\nx.y TXT \"deep\"\nl1 CNAME l2\nl2 CNAME l1\n",
            ),
        ])
        .unwrap()
    }

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    #[test]
    fn answers_like_a_resolver() {
        let lab = lab();
        let mx = lab.resolve(&name("a.test."), RecordType::MX);
        assert_eq!(mx.rcode, ResponseCode::NoError);
        assert_eq!(mx.answers.len(), 1);

        let alias = lab.resolve(&name("alias.a.test."), RecordType::A);
        assert_eq!(alias.answers.len(), 2, "CNAME then A");

        let nodata = lab.resolve(&name("mx.a.test."), RecordType::AAAA);
        assert_eq!(
            (nodata.rcode, nodata.answers.len()),
            (ResponseCode::NoError, 0)
        );
        assert_eq!(nodata.authorities.len(), 1, "SOA for negative caching");

        let ent = lab.resolve(&name("y.a.test."), RecordType::A);
        assert_eq!(
            ent.rcode,
            ResponseCode::NoError,
            "empty non-terminal exists"
        );

        assert_eq!(
            lab.resolve(&name("nope.a.test."), RecordType::A).rcode,
            ResponseCode::NXDomain
        );
        assert_eq!(
            lab.resolve(&name("b.test."), RecordType::NS).rcode,
            ResponseCode::NXDomain
        );
        assert_eq!(
            lab.resolve(&name("lame.test."), RecordType::MX).rcode,
            ResponseCode::ServFail
        );
        assert_eq!(
            lab.resolve(&name("x.lame.test."), RecordType::A).rcode,
            ResponseCode::ServFail
        );

        let looped = lab.resolve(&name("l1.a.test."), RecordType::A);
        assert_eq!(looped.answers.len(), 2, "the loop is cut after one turn");
    }

    #[test]
    fn builtin_zones_parse() {
        let lab = LabZones::builtin().unwrap();
        assert!(lab.origins().len() >= 3, "{:?}", lab.origins());
    }
}
