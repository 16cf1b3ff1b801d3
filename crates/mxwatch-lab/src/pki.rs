//! The lab's certificates: a CA made fresh for each lab, and leaves for its hosts.

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::{Duration, OffsetDateTime};

pub struct LabPki {
    ca: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate chain and its key, ready for a rustls server.
pub struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    /// The leaf's SubjectPublicKeyInfo (DER), for the lab's DANE records.
    pub spki_der: Vec<u8>,
}

impl Clone for Identity {
    fn clone(&self) -> Self {
        Identity {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
            spki_der: self.spki_der.clone(),
        }
    }
}

/// When a leaf is valid, relative to now.
#[derive(Clone, Copy, Debug)]
pub struct Validity {
    pub from_days: i64,
    pub to_days: i64,
}

impl Validity {
    pub const CURRENT: Validity = Validity {
        from_days: -1,
        to_days: 365,
    };
}

impl LabPki {
    pub fn new() -> Result<LabPki, rcgen::Error> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "mxwatch lab CA");
        params
            .distinguished_name
            .push(DnType::OrganizationName, "mxwatch lab");
        let now = OffsetDateTime::now_utc();
        // Back-dated like a CA that has been issuing for years: the lab's expired leaf was
        // issued while the CA was valid, so the chain is valid at one moment.
        params.not_before = now - Duration::days(3650);
        params.not_after = now + Duration::days(3650);
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate()?)?;
        Ok(LabPki { ca })
    }

    pub fn ca_der(&self) -> CertificateDer<'static> {
        self.ca.der().clone()
    }

    pub fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    /// A leaf for `names` signed by the lab CA.
    pub fn leaf(&self, names: &[String], validity: Validity) -> Result<Identity, rcgen::Error> {
        let key = KeyPair::generate()?;
        let params = leaf_params(names, validity)?;
        let cert = params.signed_by(&key, &self.ca)?;
        Ok(Identity {
            chain: vec![cert.der().clone(), self.ca_der()],
            spki_der: rcgen::PublicKeyData::subject_public_key_info(&key),
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        })
    }

    /// A self-signed leaf for `names`.
    pub fn self_signed(names: &[String]) -> Result<Identity, rcgen::Error> {
        let key = KeyPair::generate()?;
        let cert = leaf_params(names, Validity::CURRENT)?.self_signed(&key)?;
        Ok(Identity {
            chain: vec![cert.der().clone()],
            spki_der: rcgen::PublicKeyData::subject_public_key_info(&key),
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        })
    }
}

fn leaf_params(names: &[String], validity: Validity) -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::new(names.to_vec())?;
    if let Some(first) = names.first() {
        params
            .distinguished_name
            .push(DnType::CommonName, first.as_str());
    }
    let now = OffsetDateTime::now_utc();
    params.not_before = now + Duration::days(validity.from_days);
    params.not_after = now + Duration::days(validity.to_days);
    Ok(params)
}
