//! DKIM key records (RFC 6376 §3.6.1; Ed25519 keys RFC 8463), with the key's type and size.
//!
//! mail-auth reads a key to verify with it; it does not say how large an RSA key is or why a record
//! is unusable, which is what an audit reports. The key is decoded with x509-parser (RSA: a
//! SubjectPublicKeyInfo, or the bare RSAPublicKey some publishers use).

use super::taglist::{self, Tag};
use super::{RecordError, excerpt};
use base64::Engine;
use x509_parser::prelude::FromDer;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DkimKey {
    /// `p=` is empty: the key is revoked (§3.6.1).
    Revoked,
    Rsa {
        bits: usize,
    },
    Ed25519,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DkimRecord {
    pub key: DkimKey,
    /// `t=y`: the domain is testing DKIM; verifiers may treat failures as unsigned.
    pub testing: bool,
    /// `h=` lists only sha1 (RFC 8301: sha1 signatures must not be accepted).
    pub sha1_only: bool,
}

pub fn parse(text: &str) -> Result<DkimRecord, RecordError> {
    let tags = taglist::parse(text)?;
    if let Some(position) = tags.iter().position(|t| t.name == "v") {
        if position != 0 {
            return Err(RecordError::new(
                "\"v=\" must be the first tag when present",
            ));
        }
        if tags[0].value != "DKIM1" {
            return Err(RecordError::new(format!(
                "v={} is not DKIM1",
                excerpt(&tags[0].value)
            )));
        }
    }
    let get = |name: &str| taglist::get(&tags, name);
    let key_type = get("k").unwrap_or("rsa").to_ascii_lowercase();
    let testing = get("t").is_some_and(|t| t.split(':').any(|f| f.trim() == "y"));
    let sha1_only = get("h").is_some_and(|h| {
        let algorithms: Vec<&str> = h.split(':').map(str::trim).collect();
        !algorithms.is_empty() && algorithms.iter().all(|a| a.eq_ignore_ascii_case("sha1"))
    });
    let Some(Tag { value: p, .. }) = tags.iter().find(|t| t.name == "p") else {
        return Err(RecordError::new("no \"p=\" tag (the public key)"));
    };
    let compact: String = p.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if compact.is_empty() {
        return Ok(DkimRecord {
            key: DkimKey::Revoked,
            testing,
            sha1_only,
        });
    }
    let der = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|e| RecordError::new(format!("p= is not valid base64 ({e})")))?;
    let key = match key_type.as_str() {
        "rsa" => DkimKey::Rsa {
            bits: rsa_bits(&der).ok_or_else(|| {
                RecordError::new("p= does not hold an RSA public key (SubjectPublicKeyInfo)")
            })?,
        },
        "ed25519" => {
            if der.len() != 32 {
                return Err(RecordError::new(format!(
                    "an Ed25519 key is 32 bytes; p= holds {}",
                    der.len()
                )));
            }
            DkimKey::Ed25519
        }
        other => {
            return Err(RecordError::new(format!(
                "k={} is not a key type verifiers know (rsa, ed25519)",
                excerpt(other)
            )));
        }
    };
    Ok(DkimRecord {
        key,
        testing,
        sha1_only,
    })
}

fn rsa_bits(der: &[u8]) -> Option<usize> {
    use x509_parser::public_key::{PublicKey, RSAPublicKey};
    use x509_parser::x509::SubjectPublicKeyInfo;
    if let Ok((rest, spki)) = SubjectPublicKeyInfo::from_der(der)
        && rest.is_empty()
    {
        return match spki.parsed() {
            Ok(PublicKey::RSA(rsa)) => modulus_bits(rsa.modulus),
            _ => None,
        };
    }
    match RSAPublicKey::from_der(der) {
        Ok(([], rsa)) => modulus_bits(rsa.modulus),
        _ => None,
    }
}

/// The bit length of an RSA modulus (big-endian bytes). x509-parser's `key_size` assumes a DER
/// leading zero byte and says 0 without one.
fn modulus_bits(modulus: &[u8]) -> Option<usize> {
    let first = modulus.iter().position(|b| *b != 0)?;
    let bytes = &modulus[first..];
    Some(bytes.len() * 8 - bytes[0].leading_zeros() as usize)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An RSA-2048 SubjectPublicKeyInfo (generated once with openssl for these tests and the lab zones).
    pub(crate) const RSA_2048: &str = include_str!("../../testdata/dkim-rsa2048.b64");
    /// An RSA-1024 SubjectPublicKeyInfo.
    pub(crate) const RSA_1024: &str = include_str!("../../testdata/dkim-rsa1024.b64");

    #[test]
    fn reads_key_type_and_size() {
        let r = parse(&format!("v=DKIM1; k=rsa; p={}", RSA_2048.trim())).unwrap();
        assert_eq!(r.key, DkimKey::Rsa { bits: 2048 });
        let r = parse(&format!("p={}; t=y", RSA_1024.trim())).unwrap();
        assert_eq!(r.key, DkimKey::Rsa { bits: 1024 });
        assert!(r.testing);
        let ed = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        assert_eq!(
            parse(&format!("v=DKIM1; k=ed25519; p={ed}")).unwrap().key,
            DkimKey::Ed25519
        );
        assert_eq!(parse("v=DKIM1; p=").unwrap().key, DkimKey::Revoked);
        assert!(parse("v=DKIM1; h=sha1; p=").unwrap().sha1_only);
    }

    #[test]
    fn modulus_length_counts_bits_whatever_the_leading_byte() {
        assert_eq!(modulus_bits(&[0x00, 0x80, 0, 0]), Some(24));
        assert_eq!(modulus_bits(&[0x80, 0, 0]), Some(24));
        assert_eq!(modulus_bits(&[0x01, 0]), Some(9));
        assert_eq!(modulus_bits(&[0, 0]), None);
    }

    #[test]
    fn names_what_is_wrong() {
        for (text, wanted) in [
            ("v=DKIM1; k=rsa", "no \"p=\""),
            ("v=DKIM1; p=!!!", "base64"),
            ("v=DKIM1; p=AAAA", "RSA public key"),
            ("v=DKIM1; k=dsa; p=AAAA", "k=dsa"),
            ("v=DKIM1; k=ed25519; p=AAAA", "32 bytes"),
            ("p=; v=DKIM1", "first tag"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.reason.contains(wanted), "{text:?}: {err}");
        }
    }
}
