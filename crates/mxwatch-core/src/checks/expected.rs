//! Does the MX set match what the domain is expected to have?

use super::{Check, CheckContext, Hit, Subject};
use crate::finding::{Severity, ids};

pub static MX_UNEXPECTED: Check = Check {
    id: ids::MX_UNEXPECTED,
    severity: Severity::High,
    title: "The MX set differs from the one expected for this domain",
    explanation: "The domain's configuration names the MX set it should have (an explicit `expect_mx` list or a \
                  provider preset), and the published set differs: an exchange nobody planned for receives mail, \
                  or a planned one is missing. Only reported when an expectation is configured (`mxwatch watch`).",
    fix: "If the change was intended, update `expect_mx` (or the preset) in the configuration; otherwise restore \
          the MX records and find out who changed them.",
    reference: "RFC 5321 §5.1",
    run: mx_unexpected,
};

fn mx_unexpected(obs: &Subject, ctx: &CheckContext) -> Vec<Hit> {
    let Some(expected) = ctx.expected_mx.as_ref() else {
        return vec![];
    };
    // An observed absence of MX is an empty set, and every expected MX is missing from it.
    let none = Vec::new();
    let records = match obs.mx.value() {
        Some(records) => records,
        None if obs.mx.is_absent() => &none,
        None => return vec![],
    };
    let found = expected.discrepancies(records);
    if found.is_empty() {
        return vec![];
    }
    vec![Hit::new(
        obs.domain.display(),
        format!("{} (expected from {})", found.join("; "), expected.source),
    )]
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use crate::checks::CheckContext;
    use crate::expect::MxExpectation;
    use std::sync::Arc;

    #[test]
    fn fires_only_with_an_expectation() {
        let obs = healthy();
        assert!(ids(&obs).is_empty());
        let ctx = |list: &[&str]| CheckContext {
            expected_mx: Some(Arc::new(
                MxExpectation::from_list(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                    .unwrap(),
            )),
            ..CheckContext::default()
        };
        assert!(ids_in(&obs, &ctx(&["10 mx1.example.com", "20 mx2.example.net"])).is_empty());
        assert_eq!(
            ids_in(&obs, &ctx(&["10 mx1.example.com"])),
            ["MX-UNEXPECTED"]
        );
    }
}
