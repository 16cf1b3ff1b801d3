//! What a presented certificate says, parsed with x509-parser.

use mxwatch_core::observation::smtp::Certificate;
use sha2::{Digest, Sha256, Sha512};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses one DER certificate; `None` when it is not a certificate at all.
pub fn parse_certificate(der: &[u8]) -> Option<Certificate> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let mut dns_names: Vec<String> = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::DNSName(name) => Some(name.to_ascii_lowercase()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    if dns_names.is_empty() {
        // No SAN: fall back to the subject CN, as SMTP clients still do (RFC 6125 §6.4.4).
        dns_names.extend(
            cert.subject()
                .iter_common_name()
                .filter_map(|cn| cn.as_str().ok())
                .map(str::to_ascii_lowercase),
        );
    }
    let spki = cert.public_key();
    let (key_type, key_bits) = match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => ("RSA", rsa.key_size()),
        Ok(PublicKey::EC(ec)) => ("EC", ec.key_size()),
        Ok(PublicKey::DSA(y)) => ("DSA", y.len() * 8),
        Ok(_) | Err(_) => match spki.algorithm.algorithm.to_id_string().as_str() {
            "1.3.101.112" => ("Ed25519", 256),
            "1.3.101.113" => ("Ed448", 456),
            other => {
                return Some(certificate(
                    &cert,
                    der,
                    dns_names,
                    format!("unknown ({other})"),
                    0,
                ));
            }
        },
    };
    Some(certificate(
        &cert,
        der,
        dns_names,
        key_type.to_string(),
        key_bits as u32,
    ))
}

fn certificate(
    cert: &X509Certificate<'_>,
    der: &[u8],
    dns_names: Vec<String>,
    key_type: String,
    key_bits: u32,
) -> Certificate {
    let subject = cert.subject().to_string();
    let issuer = cert.issuer().to_string();
    Certificate {
        self_signed: subject == issuer,
        subject,
        issuer,
        dns_names,
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        key_type,
        key_bits,
        sha256: hex(&Sha256::digest(der)),
        spki_sha256: hex(&Sha256::digest(cert.public_key().raw)),
        sha512: hex(&Sha512::digest(der)),
        spki_sha512: hex(&Sha512::digest(cert.public_key().raw)),
    }
}
