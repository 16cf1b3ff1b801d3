//! Trust anchors: where validation starts.
//!
//! The IANA root KSKs hickory ships, or root DS/DNSKEY records in zone-file presentation form
//! (Unbound's `root.key`, the lab's root anchor). Parsing and the one question the walk asks of
//! an anchor (does it trust this root key?) live here; nothing here does I/O except
//! [`TrustAnchor::from_file`] reading the file it is given.

use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, DS};
use hickory_proto::dnssec::{PublicKey, TrustAnchors, Verifier};
use hickory_proto::rr::{Name, RData};

/// Where validation starts: DS and/or DNSKEY records for the root.
#[derive(Clone, Debug)]
pub struct TrustAnchor {
    /// For reports: `IANA root KSKs`, or the file it came from.
    pub description: String,
    ds: Vec<DS>,
    keys: Vec<DNSKEY>,
}

impl TrustAnchor {
    /// The IANA root KSKs hickory ships (KSK-2017 and KSK-2024).
    pub fn iana() -> TrustAnchor {
        let anchors = TrustAnchors::default();
        let keys = (0..anchors.len())
            .filter_map(|i| anchors.get(i))
            .map(|key| DNSKEY::with_flags(257, key.clone()))
            .collect();
        TrustAnchor {
            description: "IANA root KSKs".into(),
            ds: vec![],
            keys,
        }
    }

    /// Root DS and/or DNSKEY records in zone-file presentation form (like Unbound's root.key).
    pub fn parse(text: &str, description: &str) -> Result<TrustAnchor, String> {
        let mut anchor = TrustAnchor {
            description: description.into(),
            ds: vec![],
            keys: vec![],
        };
        // hickory's zone parser refuses DNSKEY records ("should be dynamically generated"):
        // those lines are read here, the rest (DS) by hickory.
        let mut rest = String::new();
        for line in text.lines() {
            let content = line.split(';').next().unwrap_or_default();
            if content
                .split_whitespace()
                .any(|w| w.eq_ignore_ascii_case("DNSKEY"))
            {
                anchor.keys.push(parse_dnskey_line(content)?);
            } else {
                rest.push_str(line);
                rest.push('\n');
            }
        }
        let (_, sets) = hickory_proto::serialize::txt::Parser::new(&rest, None, Some(Name::root()))
            .parse()
            .map_err(|e| format!("not DS or DNSKEY records in zone-file form: {e}"))?;
        for set in sets.values() {
            for record in set.records_without_rrsigs() {
                if !record.name.is_root() {
                    return Err(format!(
                        "only root trust anchors are supported, not {}",
                        record.name
                    ));
                }
                match &record.data {
                    RData::DNSSEC(DNSSECRData::DS(ds)) => anchor.ds.push(ds.clone()),
                    RData::DNSSEC(DNSSECRData::DNSKEY(key)) => anchor.keys.push(key.clone()),
                    _ => {}
                }
            }
        }
        if anchor.ds.is_empty() && anchor.keys.is_empty() {
            return Err("no DS or DNSKEY record for the root".into());
        }
        Ok(anchor)
    }

    pub fn from_file(path: &std::path::Path) -> Result<TrustAnchor, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&text, &path.display().to_string())
    }

    pub(super) fn trusts(&self, key: &DNSKEY) -> bool {
        let root = Name::root();
        self.keys.iter().any(|k| {
            k.algorithm() == key.algorithm()
                && k.public_key().public_bytes() == key.public_key().public_bytes()
        }) || self
            .ds
            .iter()
            .any(|ds| ds.algorithm() == key.algorithm() && ds.covers(&root, key).unwrap_or(false))
    }
}

/// `. [TTL] [IN] DNSKEY flags 3 algorithm base64…` (the presentation form of RFC 4034 §2.2).
fn parse_dnskey_line(line: &str) -> Result<DNSKEY, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let bad = || {
        format!(
            "not a DNSKEY record: {:?}",
            line.chars().take(80).collect::<String>()
        )
    };
    if words.first() != Some(&".") {
        return Err(format!(
            "only root trust anchors are supported: {:?}",
            words.first().unwrap_or(&"")
        ));
    }
    let at = words
        .iter()
        .position(|w| w.eq_ignore_ascii_case("DNSKEY"))
        .ok_or_else(bad)?;
    let field = |i: usize| words.get(at + i).ok_or_else(bad);
    let flags: u16 = field(1)?.parse().map_err(|_| bad())?;
    let protocol: u8 = field(2)?.parse().map_err(|_| bad())?;
    let algorithm: u8 = field(3)?.parse().map_err(|_| bad())?;
    if protocol != 3 {
        return Err(bad());
    }
    let key: String = words.get(at + 4..).ok_or_else(bad)?.concat();
    let bytes = data_encoding::BASE64
        .decode(key.as_bytes())
        .map_err(|e| format!("{}: {e}", bad()))?;
    if bytes.is_empty() {
        return Err(bad());
    }
    Ok(DNSKEY::with_flags(
        flags,
        hickory_proto::dnssec::PublicKeyBuf::new(
            bytes,
            hickory_proto::dnssec::Algorithm::from_u8(algorithm),
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_parse_from_ds_or_dnskey_text() {
        assert!(TrustAnchor::iana().keys.len() >= 2);
        let ds = ". 3600 IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n";
        let anchor = TrustAnchor::parse(ds, "test").unwrap();
        assert_eq!(anchor.ds.len(), 1);
        assert!(TrustAnchor::parse("example. 3600 IN DS 1 8 2 00", "x").is_err());
        assert!(TrustAnchor::parse("not a zone file {{{", "x").is_err());
        assert!(TrustAnchor::parse("; nothing\n", "x").is_err());
        let key = ". 172800 IN DNSKEY 257 3 13 mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ==";
        assert_eq!(TrustAnchor::parse(key, "x").unwrap().keys.len(), 1);
        assert!(TrustAnchor::parse(". DNSKEY 257 3 13 !!!", "x").is_err());
        assert!(TrustAnchor::parse(". DNSKEY 257", "x").is_err());
    }
}
