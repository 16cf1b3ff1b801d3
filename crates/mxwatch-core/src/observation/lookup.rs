//! The outcome of one DNS question: observed, absent or failed.
//!
//! "Could not observe" is a type, not a convention: a timeout or SERVFAIL is a
//! [`Lookup::Failed`], which checks turn into "could not determine", never into
//! "missing". Only [`Lookup::Absent`] (NXDOMAIN or NODATA from a resolver that
//! answered) may be read as "there is none".

use serde::{Deserialize, Serialize};

/// Why an answer holds no data of the asked type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Absence {
    /// RCODE 3: the name does not exist (RFC 8020: nor does anything below it).
    NxDomain,
    /// NOERROR with an empty answer: the name exists, but has no record of this type.
    NoData,
}

/// Why no usable answer could be had.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    /// No reply within the time limit, after the retries.
    Timeout,
    /// RCODE 2: the resolver could not get an answer (lame or broken delegation, DNSSEC failure …).
    ServFail,
    /// RCODE 5: the server refused to answer.
    Refused,
    /// Another error RCODE (FORMERR, NOTIMP …).
    ErrorRcode,
    /// The reply could not be parsed, or did not match the question.
    Malformed,
    /// A socket error (connection refused, network unreachable …).
    Network,
    /// The server is not a recursive resolver: it sent a referral, or no recursion.
    Referral,
    /// The CNAME chain loops back on itself.
    CnameLoop,
    /// The CNAME chain is longer than we follow.
    CnameChainTooLong,
}

impl Failure {
    /// Whether asking again later may well give an answer.
    pub fn is_temporary(self) -> bool {
        matches!(
            self,
            Failure::Timeout | Failure::ServFail | Failure::Network
        )
    }

    pub fn describe(self) -> &'static str {
        match self {
            Failure::Timeout => "no answer before the timeout",
            Failure::ServFail => "the resolver answered SERVFAIL",
            Failure::Refused => "the server refused to answer (REFUSED)",
            Failure::ErrorRcode => "the server answered with an error code",
            Failure::Malformed => "the reply was malformed or did not match the question",
            Failure::Network => "a network error",
            Failure::Referral => {
                "the server is not a recursive resolver (referral or no recursion)"
            }
            Failure::CnameLoop => "the CNAME chain loops",
            Failure::CnameChainTooLong => "the CNAME chain is too long to follow",
        }
    }
}

/// The outcome of one question (name, type), with the CNAME chain followed to
/// get there and the time it took.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Lookup<T> {
    Observed {
        value: T,
        /// The smallest TTL of the records in the answer.
        ttl: u32,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        cname_chain: Vec<String>,
        elapsed_ms: u64,
    },
    Absent {
        absence: Absence,
        /// The negative-caching TTL from the SOA in the authority section (RFC 2308).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        negative_ttl: Option<u32>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        cname_chain: Vec<String>,
        elapsed_ms: u64,
    },
    Failed {
        failure: Failure,
        /// What exactly went wrong, for a person (RCODE, socket error …).
        detail: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        cname_chain: Vec<String>,
        elapsed_ms: u64,
    },
}

impl<T> Lookup<T> {
    pub fn value(&self) -> Option<&T> {
        match self {
            Lookup::Observed { value, .. } => Some(value),
            _ => None,
        }
    }

    pub fn ttl(&self) -> Option<u32> {
        match self {
            Lookup::Observed { ttl, .. } => Some(*ttl),
            _ => None,
        }
    }

    pub fn absence(&self) -> Option<Absence> {
        match self {
            Lookup::Absent { absence, .. } => Some(*absence),
            _ => None,
        }
    }

    pub fn is_nxdomain(&self) -> bool {
        self.absence() == Some(Absence::NxDomain)
    }

    pub fn is_absent(&self) -> bool {
        matches!(self, Lookup::Absent { .. })
    }

    pub fn failure(&self) -> Option<(Failure, &str)> {
        match self {
            Lookup::Failed {
                failure, detail, ..
            } => Some((*failure, detail.as_str())),
            _ => None,
        }
    }

    pub fn is_failed(&self) -> bool {
        matches!(self, Lookup::Failed { .. })
    }

    pub fn cname_chain(&self) -> &[String] {
        match self {
            Lookup::Observed { cname_chain, .. }
            | Lookup::Absent { cname_chain, .. }
            | Lookup::Failed { cname_chain, .. } => cname_chain,
        }
    }

    pub fn elapsed_ms(&self) -> u64 {
        match self {
            Lookup::Observed { elapsed_ms, .. }
            | Lookup::Absent { elapsed_ms, .. }
            | Lookup::Failed { elapsed_ms, .. } => *elapsed_ms,
        }
    }

    /// Keeps the outcome and its metadata, transforming the observed value.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Lookup<U> {
        match self {
            Lookup::Observed {
                value,
                ttl,
                cname_chain,
                elapsed_ms,
            } => Lookup::Observed {
                value: f(value),
                ttl,
                cname_chain,
                elapsed_ms,
            },
            Lookup::Absent {
                absence,
                negative_ttl,
                cname_chain,
                elapsed_ms,
            } => Lookup::Absent {
                absence,
                negative_ttl,
                cname_chain,
                elapsed_ms,
            },
            Lookup::Failed {
                failure,
                detail,
                cname_chain,
                elapsed_ms,
            } => Lookup::Failed {
                failure,
                detail,
                cname_chain,
                elapsed_ms,
            },
        }
    }

    /// A short human description of the outcome, for change logs and tables.
    pub fn outcome_label(&self) -> String {
        match self {
            Lookup::Observed { .. } => "observed".into(),
            Lookup::Absent {
                absence: Absence::NxDomain,
                ..
            } => "NXDOMAIN".into(),
            Lookup::Absent {
                absence: Absence::NoData,
                ..
            } => "no data".into(),
            Lookup::Failed { failure, .. } => failure.describe().into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_with_an_outcome_tag() {
        let failed: Lookup<Vec<u16>> = Lookup::Failed {
            failure: Failure::Timeout,
            detail: "3 tries".into(),
            cname_chain: vec![],
            elapsed_ms: 5000,
        };
        let json = serde_json::to_value(&failed).unwrap();
        assert_eq!(json["outcome"], "failed");
        assert_eq!(json["failure"], "timeout");
        let back: Lookup<Vec<u16>> = serde_json::from_value(json).unwrap();
        assert_eq!(back, failed);
    }

    #[test]
    fn a_failure_is_never_absent() {
        let failed: Lookup<()> = Lookup::Failed {
            failure: Failure::ServFail,
            detail: String::new(),
            cname_chain: vec![],
            elapsed_ms: 1,
        };
        assert!(!failed.is_absent());
        assert!(!failed.is_nxdomain());
        assert!(failed.value().is_none());
    }
}
