//! Findings and their severities.

use serde::{Deserialize, Serialize};
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

/// One problem found in one observation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The stable check ID (`MX-NONE` …): users script on it.
    pub id: String,
    pub severity: Severity,
    /// What the finding is about: the domain, an exchange, an address.
    pub subject: String,
    pub title: String,
    /// What was seen, in this case.
    pub detail: String,
    pub fix: String,
    pub reference: String,
}
