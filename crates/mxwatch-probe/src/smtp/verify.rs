//! Certificates: captured during the handshake whatever they are, judged afterwards.
//!
//! The handshake uses a verifier that records the chain and accepts it, so a bad
//! certificate still gives "STARTTLS works, certificate bad" rather than "no TLS"
//! (a known false negative of other checkers). The handshake signatures are still
//! really verified: skipping that would accept a man in the middle's proof.
//! The chain is then judged by rustls' WebPKI verifier against the roots.

use mxwatch_core::observation::smtp::{CertVerdict, TrustFailure};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error, RootCertStore, SignatureScheme};
use std::path::Path;
use std::sync::{Arc, Mutex};

pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The roots a chain must lead to: the web PKI (Mozilla's list) plus extra CAs.
#[derive(Clone)]
pub struct TrustRoots {
    verifier: Arc<WebPkiServerVerifier>,
    /// The same roots, kept for clients that verify inside the handshake (the MTA-STS fetch).
    store: Arc<RootCertStore>,
}

impl TrustRoots {
    /// Mozilla's roots plus the PEM certificates in `extra` (each a `--ca-file`).
    pub fn load(extra: &[&Path]) -> Result<TrustRoots, String> {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for path in extra {
            let certs = read_pem(path)?;
            if certs.is_empty() {
                return Err(format!(
                    "{}: no PEM certificate in the file",
                    path.display()
                ));
            }
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|e| format!("{}: not a usable CA certificate: {e}", path.display()))?;
            }
        }
        Self::from_store(roots)
    }

    /// Only the given DER roots (for tests and the lab).
    pub fn from_ders(ders: Vec<CertificateDer<'static>>) -> Result<TrustRoots, String> {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for der in ders {
            roots.add(der).map_err(|e| e.to_string())?;
        }
        Self::from_store(roots)
    }

    fn from_store(roots: RootCertStore) -> Result<TrustRoots, String> {
        let store = Arc::new(roots);
        let verifier = WebPkiServerVerifier::builder_with_provider(store.clone(), provider())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(TrustRoots { verifier, store })
    }

    /// The root store (web PKI plus the extra CAs).
    pub fn root_store(&self) -> Arc<RootCertStore> {
        self.store.clone()
    }

    /// Judges a captured chain for `exchange`. Trust is judged at a moment inside the
    /// leaf's validity, so an expired certificate is reported as expired, not as untrusted.
    pub fn verdict(
        &self,
        chain: &[CertificateDer<'static>],
        exchange: &str,
        leaf: &mxwatch_core::observation::smtp::Certificate,
    ) -> CertVerdict {
        let name_ok = name_matches(&leaf.dns_names, exchange);
        let Some((end_entity, intermediates)) = chain.split_first() else {
            return CertVerdict {
                trusted: false,
                trust_failure: Some(TrustFailure::Other),
                trust_detail: Some("no certificate was presented".into()),
                name_matches: false,
            };
        };
        // The name is judged by our own matcher; give webpki a name it can parse.
        let server_name = ServerName::try_from(exchange.to_string())
            .unwrap_or_else(|_| ServerName::try_from("invalid.invalid").expect("valid name"));
        let verify = |moment: UnixTime| {
            self.verifier
                .verify_server_cert(end_entity, intermediates, &server_name, &[], moment)
        };
        // Dates are judged apart (TLS-CERT-EXPIRED): when the chain fails only on a date now,
        // judge it again at a moment when every certificate of the chain is valid. If there is
        // no such moment, the chain is broken, and it is not trusted.
        let mut result = verify(UnixTime::now());
        if is_date_error(&result) {
            let dates: Vec<(i64, i64)> = chain
                .iter()
                .filter_map(|der| super::certs::parse_certificate(der))
                .map(|c| (c.not_before, c.not_after))
                .collect();
            let start = dates.iter().map(|d| d.0).max().unwrap_or(0).max(0);
            let end = dates.iter().map(|d| d.1).min().unwrap_or(0);
            result = if start < end {
                let moment = start + (end - start) / 2;
                verify(UnixTime::since_unix_epoch(std::time::Duration::from_secs(
                    u64::try_from(moment).unwrap_or(0),
                )))
            } else {
                Err(Error::General(
                    "the certificates of the chain are never valid at the same time".into(),
                ))
            };
        }
        let (trusted, failure, detail) = match result {
            Ok(_) => (true, None, None),
            Err(Error::InvalidCertificate(e)) => match e {
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => (true, None, None),
                CertificateError::UnknownIssuer if leaf.self_signed => (
                    false,
                    Some(TrustFailure::SelfSigned),
                    Some(format!("{e:?}")),
                ),
                CertificateError::UnknownIssuer => (
                    false,
                    Some(TrustFailure::UnknownIssuer),
                    Some(format!("{e:?}")),
                ),
                CertificateError::BadSignature => (
                    false,
                    Some(TrustFailure::BadSignature),
                    Some(format!("{e:?}")),
                ),
                other => (false, Some(TrustFailure::Other), Some(format!("{other:?}"))),
            },
            Err(other) => (false, Some(TrustFailure::Other), Some(other.to_string())),
        };
        // A date failure even at a moment when every certificate is valid: not trusted.
        let (trusted, failure, detail) = if trusted || failure.is_some() {
            (trusted, failure, detail)
        } else {
            (
                false,
                Some(TrustFailure::Other),
                Some("chain dates do not verify".into()),
            )
        };
        CertVerdict {
            trusted,
            trust_failure: failure,
            trust_detail: detail,
            name_matches: name_ok,
        }
    }
}

fn is_date_error(result: &Result<ServerCertVerified, Error>) -> bool {
    matches!(
        result,
        Err(Error::InvalidCertificate(
            CertificateError::Expired
                | CertificateError::ExpiredContext { .. }
                | CertificateError::NotValidYet
                | CertificateError::NotValidYetContext { .. }
        ))
    )
}

fn read_pem(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: bad PEM: {e}", path.display()))
}

/// RFC 6125 §6.4 name matching (shared with the checks).
pub fn name_matches(dns_names: &[String], host: &str) -> bool {
    mxwatch_core::name::cert_name_matches(dns_names, host)
}

/// Records the presented chain and accepts it; verifies handshake signatures for real.
#[derive(Debug)]
pub struct CapturingVerifier {
    pub captured: Mutex<Vec<CertificateDer<'static>>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl CapturingVerifier {
    pub fn new() -> Arc<Self> {
        Arc::new(CapturingVerifier {
            captured: Mutex::new(Vec::new()),
            algorithms: provider().signature_verification_algorithms,
        })
    }

    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        self.captured.lock().unwrap().clone()
    }
}

impl ServerCertVerifier for CapturingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let mut chain = vec![end_entity.clone().into_owned()];
        chain.extend(intermediates.iter().map(|c| c.clone().into_owned()));
        *self.captured.lock().unwrap() = chain;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_one_label() {
        let names = vec!["*.example.com".to_string(), "mx.example.net".to_string()];
        assert!(name_matches(&names, "mx1.example.com"));
        assert!(name_matches(&names, "MX.example.net."));
        assert!(!name_matches(&names, "a.b.example.com"));
        assert!(!name_matches(&names, "example.com"));
        assert!(!name_matches(&["*.com".to_string()], "example.com"));
    }
}
