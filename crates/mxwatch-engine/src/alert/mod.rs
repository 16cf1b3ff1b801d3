//! Alert sinks: webhook (generic JSON), Slack, Teams, JSON lines, syslog, e-mail.
//!
//! One alert per domain per confirmed cycle ([`message::Message`]): what changed in plain
//! words, the MX set before → after, then every typed change. Delivery is at-least-once: an
//! alert stays queued in the store until each of its sinks accepts it. A failure says whether
//! it may pass ([`DeliveryError::Transient`]: retried with backoff) or will not
//! ([`DeliveryError::Permanent`]: retries stop, the reason is kept and shown).
//!
//! Adding a sink: one file with its configuration struct (which derives `Deserialize` with
//! `deny_unknown_fields`, so keys of other sinks are errors) implementing [`Sink`], and one
//! line in the `sinks!` list below.

mod email;
mod jsonl;
pub mod message;
mod slack;
mod syslog;
mod teams;
mod webhook;

pub use email::{EmailSink, SmtpSecurity};
pub use jsonl::JsonlSink;
pub use message::Message;
pub use slack::SlackSink;
pub use syslog::{SyslogProtocol, SyslogSink};
pub use teams::TeamsSink;
pub use webhook::{SIGNATURE_HEADER, WebhookSink, sign};

use mxwatch_core::Severity;
use serde::Deserialize;

/// One `[[alert]]`: the keys every sink has, and the sink's own.
#[derive(Debug, Clone)]
pub struct AlertConfig {
    /// A name for the logs and the queue. Default: the kind.
    pub name: Option<String>,
    /// Alerts whose most severe change is below this are not sent to this sink. Default: `low`.
    pub min_severity: Severity,
    pub sink: SinkConfig,
}

impl AlertConfig {
    pub fn new(sink: SinkConfig) -> AlertConfig {
        AlertConfig {
            name: None,
            min_severity: Severity::Low,
            sink,
        }
    }

    pub fn sink_name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| self.sink.kind().to_string())
    }
}

impl<'de> Deserialize<'de> for AlertConfig {
    /// `name` and `min_severity` are taken out first; the rest (with `kind`) must be exactly one
    /// sink's keys. (serde's `flatten` would accept unknown keys silently.)
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut table = toml::Table::deserialize(d)?;
        let name = table
            .remove("name")
            .map(|v| v.try_into::<String>())
            .transpose()
            .map_err(|e| D::Error::custom(format!("name: {}", e.message())))?;
        let min_severity = table
            .remove("min_severity")
            .map(|v| v.try_into::<Severity>())
            .transpose()
            .map_err(|e| D::Error::custom(format!("min_severity: {}", e.message())))?
            .unwrap_or(Severity::Low);
        let sink = toml::Value::Table(table)
            .try_into::<SinkConfig>()
            .map_err(|e| D::Error::custom(e.message().to_string()))?;
        Ok(AlertConfig {
            name,
            min_severity,
            sink,
        })
    }
}

/// The sinks: `Variant(Config) = "kind"`, one line each. The macro writes the tagged enum
/// (`kind = "…"` chooses the variant; each config struct denies the others' keys), its
/// `kind()` and its dispatch to [`Sink`], so a new sink is one file and one line here.
macro_rules! sinks {
    ($($(#[doc = $doc:literal])* $variant:ident($config:ty) = $kind:literal,)+) => {
        /// Each sink's own configuration, chosen by `kind`.
        #[derive(Debug, Clone, Deserialize)]
        #[serde(tag = "kind")]
        pub enum SinkConfig {
            $($(#[doc = $doc])* #[serde(rename = $kind)] $variant($config),)+
        }

        impl SinkConfig {
            /// The `kind` key's value.
            pub fn kind(&self) -> &'static str {
                match self {
                    $(SinkConfig::$variant(_) => $kind,)+
                }
            }

            fn sink(&self) -> &dyn Sink {
                match self {
                    $(SinkConfig::$variant(s) => s,)+
                }
            }
        }
    };
}

sinks! {
    /// Generic JSON POST, signed with `secret` (X-Mxwatch-Signature: sha256=HMAC).
    Webhook(WebhookSink) = "webhook",
    /// Slack incoming webhook (`{"text": …}`).
    Slack(SlackSink) = "slack",
    /// Microsoft Teams workflow webhook (an Adaptive Card message).
    Teams(TeamsSink) = "teams",
    /// JSON lines appended to `path` (`-` for stdout), for a SIEM to tail.
    Jsonl(JsonlSink) = "jsonl",
    /// RFC 5424 syslog to `address` (host:port) over `protocol` udp or tcp.
    Syslog(SyslogSink) = "syslog",
    /// E-mail through an SMTP submission server.
    Email(EmailSink) = "email",
}

impl SinkConfig {
    /// What can be checked at load beyond the keys' types.
    pub fn validate(&self, name: &str) -> Result<(), String> {
        self.sink()
            .validate()
            .map_err(|e| format!("alert {name:?} ({}): {e}", self.kind()))
    }

    /// Sends one alert.
    pub async fn deliver(
        &self,
        http: &reqwest::Client,
        alert: &Message,
    ) -> Result<(), DeliveryError> {
        self.sink().send(http, alert).await
    }
}

/// What every sink does.
#[async_trait::async_trait]
pub trait Sink: Send + Sync {
    /// Checks at load what the types cannot (an address's form, clear text off loopback).
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
    /// Sends one alert. `http` is the monitor's shared client (no redirects, a timeout).
    async fn send(&self, http: &reqwest::Client, alert: &Message) -> Result<(), DeliveryError>;
}

/// Why a delivery failed, and whether trying again can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// It may pass (a timeout, a refused connection, HTTP 429 or 5xx): retry with backoff.
    #[error("{0}")]
    Transient(String),
    /// It will not pass as configured (HTTP 4xx, a bad address, a missing password variable):
    /// stop retrying, keep the reason, show it.
    #[error("{0}")]
    Permanent(String),
}

impl DeliveryError {
    pub fn is_permanent(&self) -> bool {
        matches!(self, DeliveryError::Permanent(_))
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
