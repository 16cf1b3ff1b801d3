//! `--format sarif`: SARIF 2.1.0 with the checks catalogue as the rule table.
//!
//! Built with serde_json rather than a SARIF crate: mxwatch emits a dozen
//! fields of the format, and the typed builders would cost more compile time
//! than they save. A test checks the required structure.

use super::Sink;
use mxwatch_core::checks::CHECKS;
use mxwatch_core::{Report, Severity};
use serde_json::{Value, json};
use std::io::{self, Write};

#[derive(Default)]
pub struct SarifSink {
    results: Vec<Value>,
}

pub(crate) fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// A stable fingerprint of (domain, check, subject), so dashboards track one finding across runs.
pub(crate) fn fingerprint(domain: &str, id: &str, subject: &str) -> String {
    // FNV-1a: stable across Rust versions, unlike DefaultHasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in domain
        .bytes()
        .chain([0])
        .chain(id.bytes())
        .chain([0])
        .chain(subject.bytes())
    {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

impl Sink for SarifSink {
    fn report(&mut self, report: &Report) -> io::Result<()> {
        for finding in &report.findings {
            let rule_index = CHECKS.iter().position(|c| c.id == finding.id);
            self.results.push(json!({
                "ruleId": finding.id,
                "ruleIndex": rule_index,
                "level": level(finding.severity),
                "message": { "text": format!("{}: {} ({})", finding.subject, finding.title, finding.detail) },
                "locations": [{
                    "physicalLocation": { "artifactLocation": { "uri": report.domain } },
                    "logicalLocations": [{
                        "name": finding.subject,
                        "fullyQualifiedName": format!("{}/{}", report.domain, finding.subject),
                        "kind": "resource"
                    }]
                }],
                "partialFingerprints": {
                    "mxwatch/v1": fingerprint(&report.domain, finding.id.as_str(), &finding.subject)
                },
                "properties": { "severity": finding.severity, "domain": report.domain }
            }));
        }
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        write_log(
            CHECKS
                .iter()
                .map(|c| rule(c.id, c.severity, c.title, c.explanation, c.fix, c.reference))
                .collect(),
            std::mem::take(&mut self.results),
        )
    }
}

/// One entry of the rule table.
pub(crate) fn rule(
    id: &str,
    severity: Severity,
    title: &str,
    explanation: &str,
    fix: &str,
    reference: &str,
) -> Value {
    json!({
        "id": id,
        "name": id,
        "shortDescription": { "text": title },
        "fullDescription": { "text": explanation },
        "help": { "text": format!("{fix} ({reference})") },
        "defaultConfiguration": { "level": level(severity) },
        "properties": { "severity": severity, "reference": reference }
    })
}

/// The SARIF log of one run, written to standard output.
pub(crate) fn write_log(rules: Vec<Value>, results: Vec<Value>) -> io::Result<()> {
    let log = json!({
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [{
            "tool": { "driver": {
                "name": "mxwatch",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules
            }},
            "results": results
        }]
    });
    let mut out = io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &log)?;
    out.write_all(b"\n")?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_stable() {
        assert_eq!(
            fingerprint("a.test", "MX-NONE", "a.test"),
            fingerprint("a.test", "MX-NONE", "a.test")
        );
        assert_ne!(
            fingerprint("a.test", "MX-NONE", "a.test"),
            fingerprint("b.test", "MX-NONE", "a.test")
        );
    }
}
