//! Findings and their severities.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

/// How bad a finding is. Defined once, here, in prose:
///
/// - `info`: worth knowing, nothing is wrong (a null MX, a guessed selector not found).
/// - `low`: a departure from good practice with no mail lost today (no redundancy, odd TTL).
/// - `medium`: mail may be delayed, rejected by strict senders, or routing is fragile.
/// - `high`: mail is being lost or misrouted, or will be at the next change.
/// - `critical`: mail can be received by someone else (an exchange whose domain anyone can register).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Severity::ALL
            .into_iter()
            .find(|sev| sev.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!("unknown severity {s:?}: expected one of info, low, medium, high, critical")
            })
    }
}

/// The text of the named [`FindingId`]s, for the registry's `&'static str` IDs (a `FindingId`
/// cannot be read in a `static`'s initialiser).
pub mod ids {
    pub const DNS_INDETERMINATE: &str = "DNS-INDETERMINATE";
    pub const MX_UNEXPECTED: &str = "MX-UNEXPECTED";
}

/// The stable ID of a check and of its findings (`MX-NONE` …): users script on it.
///
/// Serialised as the plain string. The IDs that code outside their own check compares with are
/// named here (`FindingId::DNS_INDETERMINATE` …) and the registry's check takes its ID from the
/// same constant, so a comparison cannot drift from the check it means.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FindingId(Cow<'static, str>);

impl FindingId {
    /// What could not be determined (`checks::DNS_INDETERMINATE`): never a definite finding.
    pub const DNS_INDETERMINATE: FindingId = FindingId::from_static(ids::DNS_INDETERMINATE);
    /// The MX set is not the expected one (`watch` compares it with its expectation).
    pub const MX_UNEXPECTED: FindingId = FindingId::from_static(ids::MX_UNEXPECTED);

    /// Every named ID above (each is a check of the registry: a test holds them to it).
    pub const NAMED: &'static [FindingId] =
        &[FindingId::DNS_INDETERMINATE, FindingId::MX_UNEXPECTED];

    pub const fn from_static(id: &'static str) -> FindingId {
        FindingId(Cow::Borrowed(id))
    }

    /// An ID read back from elsewhere (a stored report, a user's argument).
    pub fn new(id: impl Into<String>) -> FindingId {
        FindingId(Cow::Owned(id.into()))
    }

    pub const fn as_str(&self) -> &str {
        match &self.0 {
            Cow::Borrowed(id) => id,
            Cow::Owned(id) => id.as_str(),
        }
    }
}

impl fmt::Display for FindingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for FindingId {
    fn from(id: &str) -> FindingId {
        FindingId::new(id)
    }
}

impl From<String> for FindingId {
    fn from(id: String) -> FindingId {
        FindingId::new(id)
    }
}

impl AsRef<str> for FindingId {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq<str> for FindingId {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for FindingId {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<FindingId> for &str {
    fn eq(&self, other: &FindingId) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<FindingId> for str {
    fn eq(&self, other: &FindingId) -> bool {
        self == other.as_str()
    }
}

/// One problem found in one observation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The stable check ID (`MX-NONE` …): users script on it.
    pub id: FindingId,
    pub severity: Severity,
    /// What the finding is about: the domain, an exchange, an address.
    pub subject: String,
    pub title: String,
    /// What was seen, in this case.
    pub detail: String,
    pub fix: String,
    pub reference: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_a_plain_string_in_json() {
        let id = FindingId::DNS_INDETERMINATE;
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"DNS-INDETERMINATE\"");
        let back: FindingId = serde_json::from_str("\"DNS-INDETERMINATE\"").unwrap();
        assert_eq!(back, id);
        assert_eq!(back, "DNS-INDETERMINATE");
        assert_eq!(id.to_string(), "DNS-INDETERMINATE");
        assert_ne!(FindingId::new("MX-NONE"), FindingId::MX_UNEXPECTED);
    }
}
