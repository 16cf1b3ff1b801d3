//! The lab's DANE records that depend on certificates made at lab start: each replaces the
//! placeholder TLSA RRset of its zone file with `3 1 1 <SHA-256 of the host's SPKI>`.

use crate::smtp::LabSmtp;
use crate::zones::LabZones;
use hickory_proto::rr::rdata::TLSA;
use hickory_proto::rr::rdata::tlsa::{CertUsage, Matching, Selector};
use hickory_proto::rr::{Name, RData, Record};
use sha2::{Digest, Sha256};
use std::net::IpAddr;

/// (TLSA owner, address of the SMTP host whose certificate it must match).
pub const DYNAMIC_TLSA: &[(&str, &str)] = &[
    ("_25._tcp.mx1.dane-ok.test.", "127.0.2.30"),
    ("_25._tcp.mx1.dane-partial.test.", "127.0.2.33"),
    ("_25._tcp.mx1.dane-selfsigned.test.", "127.0.2.7"),
];

/// Puts the matching TLSA records into `zones` (before they are signed).
pub fn add_dynamic_tlsa(zones: &mut LabZones, smtp: &LabSmtp) -> Result<(), String> {
    for (owner, ip) in DYNAMIC_TLSA {
        let ip: IpAddr = ip.parse().map_err(|e| format!("{ip}: {e}"))?;
        let spki = smtp
            .spki
            .get(&ip)
            .ok_or_else(|| format!("no TLS host on {ip} for {owner}"))?;
        let name = Name::from_ascii(owner).map_err(|e| e.to_string())?;
        let record = Record::from_rdata(
            name,
            300,
            RData::TLSA(TLSA::new(
                CertUsage::DaneEe,
                Selector::Spki,
                Matching::Sha256,
                Sha256::digest(spki).to_vec(),
            )),
        );
        zones.replace_rrset(record);
    }
    Ok(())
}
