//! A report: one domain's observation judged by the checks.

use crate::checks::{self, CheckContext};
use crate::finding::{Finding, FindingId, Severity};
use crate::observation::Observation;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Nothing above `info` was found and everything could be determined.
    Ok,
    /// At least one finding of severity `low` or above (besides "could not determine").
    Findings,
    /// Nothing definite was found, but some of it could not be determined.
    Indeterminate,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The domain in ASCII (A-label) form.
    pub domain: String,
    /// The domain as a person reads it (differs for an IDN).
    pub domain_unicode: String,
    pub status: Status,
    /// What was done to the input to get the domain (a URL or e-mail address pasted in …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    pub findings: Vec<Finding>,
    pub observation: Observation,
}

impl Report {
    pub fn new(observation: Observation, ctx: &CheckContext, notes: Vec<String>) -> Report {
        let findings = checks::run_all(&observation, ctx);
        let status = status_of(&findings);
        Report {
            domain: observation.domain.ascii.clone(),
            domain_unicode: observation.domain.unicode.clone(),
            status,
            notes,
            findings,
            observation,
        }
    }

    /// The most severe definite finding (not counting "could not determine").
    pub fn worst_definite(&self) -> Option<Severity> {
        self.findings
            .iter()
            .filter(|f| f.id != FindingId::DNS_INDETERMINATE)
            .map(|f| f.severity)
            .max()
    }

    pub fn is_indeterminate(&self) -> bool {
        self.findings
            .iter()
            .any(|f| f.id == FindingId::DNS_INDETERMINATE)
    }
}

fn status_of(findings: &[Finding]) -> Status {
    let definite = findings
        .iter()
        .any(|f| f.id != FindingId::DNS_INDETERMINATE && f.severity > Severity::Info);
    if definite {
        Status::Findings
    } else if findings
        .iter()
        .any(|f| f.id == FindingId::DNS_INDETERMINATE)
    {
        Status::Indeterminate
    } else {
        Status::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testkit::*;
    use crate::observation::lookup::Failure;

    #[test]
    fn statuses() {
        let ctx = CheckContext::default();
        assert_eq!(Report::new(healthy(), &ctx, vec![]).status, Status::Ok);
        let null = domain("example.com", &[(0, ".", &[])]);
        assert_eq!(Report::new(null, &ctx, vec![]).status, Status::Ok);
        let mut broken = healthy();
        broken.mx = failed(Failure::ServFail);
        broken.exchanges.clear();
        let report = Report::new(broken, &ctx, vec![]);
        assert_eq!(report.status, Status::Indeterminate);
        assert_eq!(report.worst_definite(), None);
        let none = domain("example.com", &[]);
        let report = Report::new(none, &ctx, vec![]);
        assert_eq!(report.status, Status::Findings);
        assert_eq!(report.worst_definite(), Some(Severity::High));
    }
}
