//! Alert sinks: webhook (generic, Slack, Teams), JSON lines, syslog, e-mail.
//! Delivery is at-least-once: an alert stays queued in the store until a sink
//! accepts it, retried with backoff.

mod email;
mod jsonl;
mod syslog;
mod webhook;

use crate::config::{AlertConfig, SinkKind};
use mxwatch_store::StoredChange;
use serde_json::{Value, json};

/// What one alert says.
#[derive(Clone, Debug)]
pub struct AlertEvent {
    /// `change` or `resolved`.
    pub event: String,
    pub change: StoredChange,
}

fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

impl AlertEvent {
    /// The generic JSON form (webhook body, JSON lines, syslog message).
    pub fn json(&self) -> Value {
        let c = &self.change;
        json!({
            "event": self.event,
            "id": c.id,
            "domain": c.domain,
            "kind": c.kind,
            "subject": c.subject,
            "severity": c.severity,
            "old": c.old,
            "new": c.new,
            "summary": self.summary(),
            "expected": c.expected,
            "first_seen": rfc3339(c.first_seen),
            "confirmed_at": rfc3339(c.confirmed_at),
            "resolved_at": c.resolved_at.map(rfc3339),
        })
    }

    /// One line for a person (chat, e-mail subject).
    pub fn summary(&self) -> String {
        let c = &self.change;
        let values = match (&c.old, &c.new) {
            (Some(o), Some(n)) => format!(": {o} → {n}"),
            (None, Some(n)) => format!(": {n}"),
            (Some(o), None) => format!(": was {o}"),
            (None, None) => String::new(),
        };
        let head = if self.event == "resolved" {
            "RESOLVED "
        } else {
            ""
        };
        format!(
            "{head}[{}] {} {} {}{values}",
            c.severity, c.domain, c.kind, c.subject
        )
    }
}

/// Sends one alert to one sink.
pub async fn deliver(
    sink: &AlertConfig,
    http: &reqwest::Client,
    event: &AlertEvent,
) -> Result<(), String> {
    match sink.kind {
        SinkKind::Webhook => webhook::generic(sink, http, event).await,
        SinkKind::Slack => webhook::slack(sink, http, event).await,
        SinkKind::Teams => webhook::teams(sink, http, event).await,
        SinkKind::Jsonl => jsonl::append(sink, event),
        SinkKind::Syslog => syslog::send(sink, event).await,
        SinkKind::Email => email::send(sink, event).await,
    }
}

/// Seconds before the next try after `attempts` failures: `first` doubling, at most an hour.
pub fn backoff(first: i64, attempts: i64) -> i64 {
    let exponent = u32::try_from(attempts.clamp(0, 20)).unwrap_or(20);
    first.max(0).saturating_mul(1i64 << exponent).min(3600)
}

#[cfg(test)]
mod tests {
    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(super::backoff(30, 0), 30);
        assert_eq!(super::backoff(30, 1), 60);
        assert_eq!(super::backoff(30, 20), 3600);
        assert_eq!(super::backoff(0, 5), 0);
    }
}
