//! What RDAP (RFC 9082/9083) said about the registrations a domain's mail depends on: its own
//! registrable domain and the registrable domain of every MX exchange, filled by the probe. The
//! domain object is read by `records::rdap`.

use crate::records::rdap::RegistrationRecord;
use serde::{Deserialize, Serialize};

/// The registrations asked about for one domain, its own first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RdapObservation {
    pub domains: Vec<DomainRegistration>,
}

/// One registrable domain, asked once per run whatever number of audited domains share it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DomainRegistration {
    /// The registrable domain (`example.net` for `mx1.mail.example.net`).
    pub domain: String,
    /// It is the audited domain's own registrable domain.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub own: bool,
    /// The MX exchanges of the audited domain inside it (empty for the domain's own when its
    /// exchanges are elsewhere).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exchanges: Vec<String>,
    /// The URL asked; `None` when no RDAP service is known for the domain's TLD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub outcome: RdapOutcome,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum RdapOutcome {
    /// HTTP 200 with an RDAP domain object.
    Registered { record: RegistrationRecord },
    /// HTTP 404: the registry does not know the domain (RFC 9083 §6, RFC 7480 §5.3): not
    /// registered. Data, not a failure.
    NotFound,
    /// The bootstrap names no RDAP server for the TLD (some ccTLDs have none): not asked, and not
    /// a failure (asking again will not help).
    NoService { detail: String },
    /// No usable answer: could not determine. Never read as "no lock" or "expiring".
    Failed {
        failure: RdapFailure,
        detail: String,
    },
}

/// Why an RDAP answer could not be had.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RdapFailure {
    /// The RDAP server's address lookup failed or gave no routable address.
    Dns,
    /// No answer in time (connection, handshake, headers or body).
    Timeout,
    /// HTTP 429: the server's rate limit (RFC 7480 §5.5).
    RateLimited,
    /// Another status (5xx, 403 …).
    HttpStatus,
    /// The body is not an RDAP domain object (not JSON, another object, about another domain).
    Garbage,
    /// The body exceeds [`MAX_RDAP_BYTES`](crate::records::rdap::MAX_RDAP_BYTES).
    TooLarge,
    /// The TLS handshake or the certificate check failed.
    Tls,
    /// The connection was refused or reset, or another transport error.
    Network,
}

impl RdapFailure {
    pub fn describe(self) -> &'static str {
        match self {
            RdapFailure::Dns => "the RDAP server's address could not be resolved",
            RdapFailure::Timeout => "the RDAP server did not answer in time",
            RdapFailure::RateLimited => "the RDAP server is rate limiting us (HTTP 429)",
            RdapFailure::HttpStatus => "the RDAP server answered with an error status",
            RdapFailure::Garbage => "the RDAP answer is not a domain object",
            RdapFailure::TooLarge => "the RDAP answer is too large",
            RdapFailure::Tls => "the TLS connection to the RDAP server failed",
            RdapFailure::Network => "the RDAP server could not be reached",
        }
    }
}

impl DomainRegistration {
    /// The registration record, when one was had.
    pub fn record(&self) -> Option<&RegistrationRecord> {
        match &self.outcome {
            RdapOutcome::Registered { record } => Some(record),
            _ => None,
        }
    }

    pub fn is_failed(&self) -> bool {
        matches!(self.outcome, RdapOutcome::Failed { .. })
    }
}

impl RdapObservation {
    pub fn get(&self, domain: &str) -> Option<&DomainRegistration> {
        self.domains.iter().find(|d| d.domain == domain)
    }
}
