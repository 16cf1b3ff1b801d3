//! What one alert says: a domain's confirmed change set (or what of it went back), in plain
//! words for chat and e-mail and as one JSON event for webhooks, JSON lines and syslog.

use crate::config::rfc3339;
use mxwatch_core::Severity;
use mxwatch_core::monitor::diff::ChangeKind;
use mxwatch_store::{AlertKind, StoredAlert, StoredChange};
use serde_json::{Value, json};

/// An alert ready to render. Changes are ordered for reading: record changes first, then the
/// findings they brought or cleared, each group highest severity first.
#[derive(Clone, Debug)]
pub struct Message {
    pub alert: StoredAlert,
}

impl Message {
    pub fn new(mut alert: StoredAlert) -> Message {
        // Stable: changes of one severity keep the order they were recorded in.
        alert
            .changes
            .sort_by_key(|c| (c.kind.is_finding(), std::cmp::Reverse(c.severity)));
        Message { alert }
    }

    /// The most severe change.
    pub fn severity(&self) -> Severity {
        self.alert
            .changes
            .iter()
            .map(|c| c.severity)
            .max()
            .unwrap_or(Severity::Info)
    }

    pub fn is_resolved(&self) -> bool {
        self.alert.event == AlertKind::Resolved
    }

    fn records(&self) -> impl Iterator<Item = &StoredChange> {
        self.alert
            .changes
            .iter()
            .filter(|c| !c.kind.is_finding() && c.kind != ChangeKind::Consequence)
    }

    /// What the changes do (`consequence` changes): the drain time, MTA-STS, DANE, SPF.
    fn consequences(&self) -> impl Iterator<Item = &StoredChange> {
        self.alert
            .changes
            .iter()
            .filter(|c| c.kind == ChangeKind::Consequence)
    }

    fn findings(&self) -> impl Iterator<Item = &StoredChange> {
        self.alert.changes.iter().filter(|c| c.kind.is_finding())
    }

    /// One line for a person (chat, an e-mail subject): what changed, in plain words.
    pub fn headline(&self) -> String {
        let a = &self.alert;
        let head = if self.is_resolved() { "RESOLVED " } else { "" };
        let what = match (&a.mx_before, &a.mx_after) {
            (Some(before), Some(after)) => format!("MX {before} → {after}"),
            (None, Some(after)) => format!("MX set appeared: {after}"),
            (Some(before), None) => format!("MX set gone (was {before})"),
            (None, None) => match a.changes.as_slice() {
                [one] => change_line(one),
                many => {
                    let mut kinds: Vec<&str> = many.iter().map(|c| c.kind.as_str()).collect();
                    kinds.dedup();
                    format!("{} changes ({})", many.len(), kinds.join(", "))
                }
            },
        };
        let others = if a.mx_before.is_some() || a.mx_after.is_some() {
            let n = self.records().filter(|c| !c.kind.is_mx_set()).count()
                + self.consequences().count()
                + self.findings().count();
            if n > 0 {
                format!(" (+{n} more)")
            } else {
                String::new()
            }
        } else {
            String::new()
        };
        format!("{head}[{}] {}: {what}{others}", self.severity(), a.domain)
    }

    /// The whole alert as plain text: the headline, then each change, then the findings.
    pub fn text(&self) -> String {
        let mut out = self.headline();
        out.push('\n');
        let records: Vec<&StoredChange> = self.records().collect();
        if !records.is_empty() {
            out.push_str(if self.is_resolved() {
                "\nBack as before:\n"
            } else {
                "\nChanges:\n"
            });
            for c in records {
                out.push_str(&format!(
                    "  {:<8} {}\n",
                    c.severity.as_str(),
                    change_line(c)
                ));
                if let Some(why) = &c.expected {
                    out.push_str(&format!("           expected: {why}\n"));
                }
            }
        }
        let consequences: Vec<&StoredChange> = self.consequences().collect();
        if !consequences.is_empty() {
            out.push_str(if self.is_resolved() {
                "\nNo longer in effect:\n"
            } else {
                "\nWhat it does:\n"
            });
            for c in consequences {
                out.push_str(&format!(
                    "  {:<8} {}{}\n",
                    c.severity.as_str(),
                    c.subject,
                    c.new.as_ref().map(|d| format!(": {d}")).unwrap_or_default()
                ));
            }
        }
        let findings: Vec<&StoredChange> = self.findings().collect();
        if !findings.is_empty() {
            out.push_str("\nFindings:\n");
            for c in findings {
                let verb = if c.kind.as_str() == "finding-appeared" {
                    "new"
                } else {
                    "cleared"
                };
                let detail = c.new.as_ref().or(c.old.as_ref());
                out.push_str(&format!(
                    "  {:<8} {verb:<7} {}{}\n",
                    c.severity.as_str(),
                    c.subject,
                    detail.map(|d| format!(": {d}")).unwrap_or_default()
                ));
            }
        }
        out
    }

    /// The JSON event (webhook body, JSON lines, syslog message): every typed change inside it.
    pub fn json(&self) -> Value {
        let a = &self.alert;
        json!({
            "event": a.event.as_str(),
            "id": a.id,
            "domain": a.domain,
            "severity": self.severity(),
            "summary": self.headline(),
            "mx_before": a.mx_before,
            "mx_after": a.mx_after,
            "created_at": rfc3339(a.created_at),
            "changes": a.changes.iter().map(|c| json!({
                "id": c.id,
                "kind": c.kind,
                "subject": c.subject,
                "severity": c.severity,
                "old": c.old,
                "new": c.new,
                "expected": c.expected,
                "first_seen": rfc3339(c.first_seen),
                "confirmed_at": rfc3339(c.confirmed_at),
                "resolved_at": c.resolved_at.map(rfc3339),
            })).collect::<Vec<_>>(),
        })
    }
}

/// `kind subject: old → new`.
fn change_line(c: &StoredChange) -> String {
    let values = match (&c.old, &c.new) {
        (Some(o), Some(n)) => format!(": {o} → {n}"),
        (None, Some(n)) => format!(": {n}"),
        (Some(o), None) => format!(": was {o}"),
        (None, None) => String::new(),
    };
    format!("{} {}{values}", c.kind.as_str(), c.subject)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn change(
        id: i64,
        kind: ChangeKind,
        severity: Severity,
        subject: &str,
        old: Option<&str>,
        new: Option<&str>,
    ) -> StoredChange {
        StoredChange {
            id,
            domain: "a.test".into(),
            kind,
            subject: subject.into(),
            severity,
            old: old.map(Into::into),
            new: new.map(Into::into),
            first_seen: 1_764_000_000,
            confirmed_at: 1_764_000_030,
            expected: None,
            approved_by: None,
            resolved_at: None,
        }
    }

    /// An MX replacement as the monitor records it: two MX changes and the findings they moved.
    pub fn replacement() -> Message {
        Message::new(StoredAlert {
            id: 7,
            event: AlertKind::Change,
            domain: "a.test".into(),
            created_at: 1_764_000_030,
            mx_before: Some("10 mx1.a.test, 20 mx2.a.test".into()),
            mx_after: Some("10 mx1.a.test, 30 mx.other.test".into()),
            changes: vec![
                change(
                    1,
                    ChangeKind::FindingAppeared,
                    Severity::Low,
                    "SPF-MX-NOT-COVERED mx.other.test",
                    None,
                    Some("not covered"),
                ),
                change(
                    2,
                    ChangeKind::MxAdded,
                    Severity::High,
                    "mx.other.test",
                    None,
                    Some("30"),
                ),
                change(
                    3,
                    ChangeKind::MxRemoved,
                    Severity::High,
                    "mx2.a.test",
                    Some("20"),
                    None,
                ),
                change(
                    4,
                    ChangeKind::FindingAppeared,
                    Severity::Medium,
                    "MX-UNEXPECTED a.test",
                    None,
                    Some("drift"),
                ),
                change(
                    5,
                    ChangeKind::AddressAdded,
                    Severity::Medium,
                    "mx.other.test",
                    None,
                    Some("192.0.2.9"),
                ),
            ],
        })
    }

    #[test]
    fn one_line_says_what_changed() {
        let m = replacement();
        assert_eq!(
            m.headline(),
            "[high] a.test: MX 10 mx1.a.test, 20 mx2.a.test → 10 mx1.a.test, 30 mx.other.test (+3 more)"
        );
        assert_eq!(m.severity(), Severity::High);
    }

    #[test]
    fn records_first_then_findings_each_by_severity() {
        let m = replacement();
        let order: Vec<i64> = m.alert.changes.iter().map(|c| c.id).collect();
        assert_eq!(order, [2, 3, 5, 4, 1]);
        let text = m.text();
        let added = text.find("mx-added mx.other.test: 30").unwrap();
        let unexpected = text.find("MX-UNEXPECTED").unwrap();
        let spf = text.find("SPF-MX-NOT-COVERED").unwrap();
        assert!(added < unexpected && unexpected < spf, "{text}");
    }

    #[test]
    fn consequences_say_what_the_change_does_with_the_drain_time() {
        let mut m = replacement();
        m.alert.changes.push(change(
            6,
            ChangeKind::Consequence,
            Severity::Info,
            "CHANGE-MX-DRAIN mx2.a.test",
            None,
            Some("safe to decommission mx2.a.test after 2026-12-14 09:30 UTC (old MX TTL 3600 s)"),
        ));
        let m = Message::new(m.alert);
        assert!(m.headline().ends_with("(+4 more)"), "{}", m.headline());
        let text = m.text();
        let section = text.find("What it does:").expect(&text);
        let drain = text
            .find("CHANGE-MX-DRAIN mx2.a.test: safe to decommission mx2.a.test after 2026-12-14 09:30 UTC")
            .expect(&text);
        assert!(
            section < drain && drain < text.find("Findings:").unwrap(),
            "{text}"
        );
        assert!(
            !text[..section].contains("CHANGE-MX-DRAIN"),
            "not among the record changes: {text}"
        );
    }

    #[test]
    fn the_json_event_holds_every_change() {
        let json = replacement().json();
        assert_eq!(json["event"], "change");
        assert_eq!(json["changes"].as_array().unwrap().len(), 5);
        assert_eq!(json["changes"][0]["kind"], "mx-added");
        assert_eq!(json["mx_after"], "10 mx1.a.test, 30 mx.other.test");
        assert_eq!(json["severity"], "high");
    }

    #[test]
    fn a_single_change_reads_as_itself() {
        let m = Message::new(StoredAlert {
            id: 1,
            event: AlertKind::Resolved,
            domain: "a.test".into(),
            created_at: 0,
            mx_before: None,
            mx_after: None,
            changes: vec![change(
                9,
                ChangeKind::SpfChanged,
                Severity::Medium,
                "a.test",
                Some("v=spf1 -all"),
                Some("v=spf1 mx -all"),
            )],
        });
        assert_eq!(
            m.headline(),
            "RESOLVED [medium] a.test: spf-changed a.test: v=spf1 -all → v=spf1 mx -all"
        );
    }
}
