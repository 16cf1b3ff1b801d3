//! What one HTTPS fetch of the MTA-STS policy saw (RFC 8461 §3.3), filled by the probe. The
//! policy's grammar is parsed by `records::mta_sts`.

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// The HTTPS fetch of `https://mta-sts.<domain>/.well-known/mta-sts.txt` (RFC 8461 §3.3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PolicyFetch {
    pub url: String,
    /// The routable addresses of `mta-sts.<domain>` (resolved through our own resolver).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<IpAddr>,
    pub outcome: FetchOutcome,
    pub elapsed_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum FetchOutcome {
    /// HTTP 200 with `text/plain` and a body within the size limit.
    Fetched {
        content_type: String,
        /// The body (lossy UTF-8; at most [`MAX_POLICY_BYTES`](crate::records::mta_sts::MAX_POLICY_BYTES)).
        body: String,
        /// The body was not valid UTF-8.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        not_utf8: bool,
    },
    Failed {
        failure: FetchFailure,
        /// For a person: the status line, the TLS alert, the socket error …
        detail: String,
    },
}

/// Why there is no policy, in terms an auditor reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FetchFailure {
    /// The address lookup of the policy host failed (timeout, SERVFAIL): could not determine.
    Dns,
    /// The policy host name does not exist or has no address.
    NoAddress,
    /// The policy host has addresses, but none is routable (private, loopback outside the lab …).
    NotRoutable,
    /// Nothing listens on the HTTPS port.
    ConnectRefused,
    /// No answer in time (connection, handshake or body): could not determine.
    Timeout,
    /// The TLS handshake or the certificate check failed (untrusted, expired, wrong name …).
    Tls,
    /// A status other than 200 (3xx are [`FetchFailure::Redirect`]).
    HttpStatus,
    /// A 3xx: RFC 8461 §3.3 forbids following redirects.
    Redirect,
    /// The media type is not `text/plain` (§3.2).
    ContentType,
    /// The body exceeds [`MAX_POLICY_BYTES`](crate::records::mta_sts::MAX_POLICY_BYTES).
    TooLarge,
    /// Another network or protocol error (a reset, garbage instead of HTTP): could not determine.
    Network,
}

impl FetchFailure {
    /// Could not determine: a sender might well have got the policy.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            FetchFailure::Dns | FetchFailure::Timeout | FetchFailure::Network
        )
    }

    pub fn describe(self) -> &'static str {
        match self {
            FetchFailure::Dns => "the policy host could not be resolved (DNS failure)",
            FetchFailure::NoAddress => "the policy host has no address",
            FetchFailure::NotRoutable => "the policy host has no routable address",
            FetchFailure::ConnectRefused => "the HTTPS connection was refused",
            FetchFailure::Timeout => "no answer before the timeout",
            FetchFailure::Tls => "the TLS handshake or certificate check failed",
            FetchFailure::HttpStatus => "the server did not answer 200 OK",
            FetchFailure::Redirect => "the server redirected (redirects must not be followed)",
            FetchFailure::ContentType => "the policy is not served as text/plain",
            FetchFailure::TooLarge => "the policy is too large",
            FetchFailure::Network => "a network or protocol error",
        }
    }
}
