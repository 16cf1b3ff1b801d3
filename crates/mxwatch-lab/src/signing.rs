//! DNSSEC for the lab: a key per zone made at lab start (like the lab CA), DS records in the
//! parents, an NSEC chain, and an RRSIG on every authoritative RRset, all with hickory-proto's
//! signing code (`DnssecSigner`, `RRSIG::from_rrset`, `DS::from_key`).
//!
//! Zone files opt out or misbehave with a comment line the real-peer script reads too:
//! `; lab:unsigned` (served without DNSSEC), `; lab:bogus=expired` (every signature expired),
//! `; lab:bogus=ds` (the DS in the parent matches no DNSKEY), `; lab:ds=unsupported` (the DS
//! uses an algorithm and digest nobody here supports), `; lab:nsec3` (denials by an
//! NSEC3 chain with opt-out, `nsec3.rs`).

use hickory_proto::dnssec::crypto::EcdsaSigningKey;
use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, DS, NSEC, RRSIG};
use hickory_proto::dnssec::{Algorithm, DigestType, DnssecSigner, SigningKey};
use hickory_proto::rr::{DNSClass, LowerName, Name, RData, Record, RecordSet, RecordType};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// TTL of the DNSKEY and DS records the lab adds.
const KEY_TTL: u32 = 3600;
/// How long signatures are valid.
const SIGNATURE_LIFETIME: Duration = Duration::from_secs(30 * 86_400);

/// How a zone file asks to be treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Signing {
    #[default]
    Signed,
    Unsigned,
    /// Signed, with every signature expired ten days ago.
    BogusExpired,
    /// Signed, but the DS in the parent matches no DNSKEY.
    BogusDs,
    /// Signed, but the parent's only DS uses algorithm 16 (Ed448) and digest type 3 (GOST), which
    /// validators without them treat as unsigned (`; lab:ds=unsupported`, RFC 4035 §5.2).
    UnsupportedDs,
    /// Signed, denying with an NSEC3 chain with opt-out instead of NSEC (`; lab:nsec3`).
    Nsec3OptOut,
}

impl Signing {
    /// Reads the `; lab:…` directive of a zone file (the first one wins).
    pub fn from_zone_text(text: &str) -> Signing {
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with(';') {
                let directive = line.trim_start_matches(';').trim();
                match directive {
                    "lab:unsigned" => return Signing::Unsigned,
                    "lab:bogus=expired" => return Signing::BogusExpired,
                    "lab:bogus=ds" => return Signing::BogusDs,
                    "lab:nsec3" => return Signing::Nsec3OptOut,
                    "lab:ds=unsupported" => return Signing::UnsupportedDs,
                    _ => {}
                }
            }
        }
        Signing::Signed
    }
}

/// One zone's key: an ECDSA P-256 key used as a combined signing key (flags 257).
pub struct LabKey {
    signer: DnssecSigner,
    pub dnskey: DNSKEY,
}

impl std::fmt::Debug for LabKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LabKey({})", self.dnskey)
    }
}

impl LabKey {
    pub fn generate(origin: &Name) -> Result<Arc<LabKey>, String> {
        let algorithm = Algorithm::ECDSAP256SHA256;
        let pkcs8 = EcdsaSigningKey::generate_pkcs8(algorithm).map_err(|e| e.to_string())?;
        let key = EcdsaSigningKey::from_pkcs8(&pkcs8, algorithm).map_err(|e| e.to_string())?;
        let public = key.to_public_key().map_err(|e| e.to_string())?;
        let dnskey = DNSKEY::with_flags(257, public);
        let signer = DnssecSigner::new(
            dnskey.clone(),
            Box::new(key),
            origin.clone(),
            SIGNATURE_LIFETIME,
        );
        Ok(Arc::new(LabKey { signer, dnskey }))
    }

    pub fn dnskey_record(&self, origin: &Name) -> Record {
        Record::from_rdata(
            origin.clone(),
            KEY_TTL,
            RData::DNSSEC(DNSSECRData::DNSKEY(self.dnskey.clone())),
        )
    }

    /// The DS for this key at `origin` (SHA-256); `corrupt` flips its digest (a broken rollover).
    pub fn ds(&self, origin: &Name, corrupt: bool) -> Result<DS, String> {
        let digest = self
            .dnskey
            .to_digest(origin, DigestType::SHA256)
            .map_err(|e| e.to_string())?;
        let mut digest = digest.as_ref().to_vec();
        if corrupt {
            for byte in &mut digest {
                *byte ^= 0x5a;
            }
        }
        Ok(DS::new(
            self.dnskey.calculate_key_tag().map_err(|e| e.to_string())?,
            Algorithm::ECDSAP256SHA256,
            DigestType::SHA256,
            digest,
        ))
    }

    /// A DS naming this key's tag with algorithm 16 (Ed448) and digest type 3 (GOST R 34.11-94):
    /// both unknown to hickory, so no validator here can use it.
    pub fn unsupported_ds_record(&self, origin: &Name) -> Result<Record, String> {
        let ds = DS::new(
            self.dnskey.calculate_key_tag().map_err(|e| e.to_string())?,
            Algorithm::from_u8(16),
            DigestType::from(3),
            vec![0x5a; 32],
        );
        Ok(Record::from_rdata(
            origin.clone(),
            KEY_TTL,
            RData::DNSSEC(DNSSECRData::DS(ds)),
        ))
    }

    pub fn ds_record(&self, origin: &Name, corrupt: bool) -> Result<Record, String> {
        Ok(Record::from_rdata(
            origin.clone(),
            KEY_TTL,
            RData::DNSSEC(DNSSECRData::DS(self.ds(origin, corrupt)?)),
        ))
    }

    /// The RRSIG record over one RRset.
    pub fn sign(
        &self,
        owner: &LowerName,
        records: &[Record],
        signing: Signing,
        now: OffsetDateTime,
    ) -> Result<Record, String> {
        let first = records.first().ok_or("an empty RRset")?;
        let name = Name::from(owner);
        let mut rrset = RecordSet::with_ttl(name.clone(), first.record_type(), first.ttl);
        for record in records {
            rrset.insert(record.clone(), 0);
        }
        let inception = match signing {
            Signing::BogusExpired => now - time::Duration::days(40),
            _ => now - time::Duration::hours(1),
        };
        let rrsig = RRSIG::from_rrset(&rrset, DNSClass::IN, inception, &self.signer)
            .map_err(|e| e.to_string())?;
        Ok(Record::from_rdata(
            name,
            first.ttl,
            RData::DNSSEC(DNSSECRData::RRSIG(rrsig)),
        ))
    }
}

/// The NSEC record at `owner` pointing to `next`, listing `types` (plus NSEC and RRSIG).
pub fn nsec(owner: &LowerName, next: &LowerName, types: Vec<RecordType>, ttl: u32) -> Record {
    Record::from_rdata(
        Name::from(owner),
        ttl,
        RData::DNSSEC(DNSSECRData::NSEC(NSEC::new_cover_self(
            Name::from(next),
            types,
        ))),
    )
}

/// The trust anchor file for the lab root: its DS and DNSKEY in presentation form
/// (the format of Unbound's `trust-anchor-file` and of `mxwatch --trust-anchor`).
pub fn anchor_text(root: &LabKey) -> Result<String, String> {
    let ds = root.ds(&Name::root(), false)?;
    Ok(format!(
        "; mxwatch lab root trust anchor (made at lab start)\n. {KEY_TTL} IN DS {} {} {} {}\n. {KEY_TTL} IN DNSKEY {}\n",
        ds.key_tag(),
        u8::from(ds.algorithm()),
        u8::from(ds.digest_type()),
        ds.digest()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<String>(),
        root.dnskey
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives() {
        assert_eq!(Signing::from_zone_text("$TTL 1\n"), Signing::Signed);
        assert_eq!(
            Signing::from_zone_text("; a comment\n;  lab:unsigned\n"),
            Signing::Unsigned
        );
        assert_eq!(
            Signing::from_zone_text("; lab:bogus=expired\n"),
            Signing::BogusExpired
        );
        assert_eq!(Signing::from_zone_text("; lab:bogus=ds"), Signing::BogusDs);
        assert_eq!(Signing::from_zone_text("; lab:nsec3"), Signing::Nsec3OptOut);
        assert_eq!(
            Signing::from_zone_text("; lab:ds=unsupported"),
            Signing::UnsupportedDs
        );
    }

    #[test]
    fn ds_covers_the_key_unless_corrupted() {
        let origin = Name::from_ascii("example.test.").unwrap();
        let key = LabKey::generate(&origin).unwrap();
        assert!(
            key.ds(&origin, false)
                .unwrap()
                .covers(&origin, &key.dnskey)
                .unwrap()
        );
        assert!(
            !key.ds(&origin, true)
                .unwrap()
                .covers(&origin, &key.dnskey)
                .unwrap()
        );
        let anchor = anchor_text(&LabKey::generate(&Name::root()).unwrap()).unwrap();
        assert!(anchor.contains(" IN DS ") && anchor.contains(" IN DNSKEY 257 3 13 "));
    }
}
