//! RFC 5424 syslog over UDP or TCP (RFC 6587 octet counting).
//!
//! Written here rather than with syslog-tracing: that crate logs through the
//! process-wide openlog(3) to the local socket, while a SIEM alert must go to a
//! named collector, over the network, with the alert's own severity.

use super::{DeliveryError, Message, Sink};
use mxwatch_core::Severity;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{Duration, timeout};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogSink {
    /// The collector, `host:port`.
    pub address: String,
    /// `udp` (default) or `tcp` (RFC 6587 octet counting).
    #[serde(default)]
    pub protocol: SyslogProtocol,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyslogProtocol {
    #[default]
    Udp,
    Tcp,
}

/// facility local0 (16).
const FACILITY: u8 = 16;

fn syslog_severity(severity: Severity) -> u8 {
    match severity {
        Severity::Critical => 2,
        Severity::High => 3,
        Severity::Medium => 4,
        Severity::Low => 5,
        Severity::Info => 6,
    }
}

/// One RFC 5424 message: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG`.
pub fn format(alert: &Message, hostname: &str) -> String {
    let pri = u16::from(FACILITY) * 8 + u16::from(syslog_severity(alert.severity()));
    let timestamp = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "-".into());
    let host: String = hostname
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(255)
        .collect();
    let host = if host.is_empty() {
        "-".to_string()
    } else {
        host
    };
    let msgid = alert.alert.event.as_str();
    let sd = format!(
        "[mxwatch@32473 domain=\"{}\" changes=\"{}\" id=\"{}\"]",
        sd_escape(&alert.alert.domain),
        alert.alert.changes.len(),
        alert.alert.id
    );
    format!(
        "<{pri}>1 {timestamp} {host} mxwatch {} {msgid} {sd} {}",
        std::process::id(),
        alert.json()
    )
}

/// RFC 5424 §6.3.3: `"`, `\` and `]` are escaped in parameter values.
fn sd_escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace(']', "\\]")
}

#[async_trait::async_trait]
impl Sink for SyslogSink {
    /// Network failures may pass: transient.
    async fn send(&self, _: &reqwest::Client, alert: &Message) -> Result<(), DeliveryError> {
        let address = self.address.as_str();
        let message = format(alert, &hostname());
        let limit = Duration::from_secs(10);
        let failed = |e: String| DeliveryError::Transient(format!("syslog to {address}: {e}"));
        match self.protocol {
            SyslogProtocol::Udp => {
                let socket = UdpSocket::bind(if address.starts_with('[') {
                    "[::]:0"
                } else {
                    "0.0.0.0:0"
                })
                .await
                .map_err(|e| failed(e.to_string()))?;
                timeout(limit, socket.send_to(message.as_bytes(), address))
                    .await
                    .map_err(|_| failed("timed out".into()))?
                    .map_err(|e| failed(e.to_string()))?;
                Ok(())
            }
            SyslogProtocol::Tcp => {
                let framed = format!("{} {message}", message.len());
                let send = async {
                    let mut stream = TcpStream::connect(address).await?;
                    stream.write_all(framed.as_bytes()).await?;
                    stream.flush().await
                };
                timeout(limit, send)
                    .await
                    .map_err(|_| failed("timed out".into()))?
                    .map_err(|e| failed(e.to_string()))
            }
        }
    }

    fn validate(&self) -> Result<(), String> {
        match self.address.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(()),
            _ => Err(format!("address {:?} is not host:port", self.address)),
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "-".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc5424_shape() {
        let mut alert = crate::alert::message::tests::replacement();
        alert.alert.domain = "a\"].test".into();
        let line = format(&alert, "host one");
        // local0 (16) * 8 + error (3) for a high alert.
        assert!(line.starts_with("<131>1 "), "{line}");
        assert!(line.contains(" hostone mxwatch "), "{line}");
        assert!(
            line.contains(
                " change [mxwatch@32473 domain=\"a\\\"\\].test\" changes=\"5\" id=\"7\"]"
            ),
            "{line}"
        );
        assert!(line.ends_with('}'), "{line}");
    }
}
