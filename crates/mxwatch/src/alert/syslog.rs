//! RFC 5424 syslog over UDP or TCP (RFC 6587 octet counting).
//!
//! Written here rather than with syslog-tracing: that crate logs through the
//! process-wide openlog(3) to the local socket, while a SIEM alert must go to a
//! named collector, over the network, with the alert's own severity.

use super::AlertEvent;
use crate::config::AlertConfig;
use mxwatch_core::Severity;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{Duration, timeout};

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
pub fn format(event: &AlertEvent, hostname: &str) -> String {
    let pri = u16::from(FACILITY) * 8 + u16::from(syslog_severity(event.change.severity));
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
    let msgid = if event.event == "resolved" {
        "resolved"
    } else {
        "change"
    };
    let sd = format!(
        "[mxwatch@32473 domain=\"{}\" kind=\"{}\" id=\"{}\"]",
        sd_escape(&event.change.domain),
        sd_escape(&event.change.kind),
        event.change.id
    );
    format!(
        "<{pri}>1 {timestamp} {host} mxwatch {} {msgid} {sd} {}",
        std::process::id(),
        event.json()
    )
}

/// RFC 5424 §6.3.3: `"`, `\` and `]` are escaped in parameter values.
fn sd_escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace(']', "\\]")
}

pub async fn send(sink: &AlertConfig, event: &AlertEvent) -> Result<(), String> {
    let address = sink.address.as_deref().ok_or("no address")?;
    let host = hostname();
    let message = format(event, &host);
    let limit = Duration::from_secs(10);
    match sink.protocol.as_deref().unwrap_or("udp") {
        "udp" => {
            let socket = UdpSocket::bind(if address.starts_with('[') {
                "[::]:0"
            } else {
                "0.0.0.0:0"
            })
            .await
            .map_err(|e| e.to_string())?;
            timeout(limit, socket.send_to(message.as_bytes(), address))
                .await
                .map_err(|_| format!("syslog to {address}: timed out"))?
                .map_err(|e| format!("syslog to {address}: {e}"))?;
            Ok(())
        }
        "tcp" => {
            let framed = format!("{} {message}", message.len());
            let send = async {
                let mut stream = TcpStream::connect(address).await?;
                stream.write_all(framed.as_bytes()).await?;
                stream.flush().await
            };
            timeout(limit, send)
                .await
                .map_err(|_| format!("syslog to {address}: timed out"))?
                .map_err(|e| format!("syslog to {address}: {e}"))
        }
        other => Err(format!("syslog protocol {other:?}: use udp or tcp")),
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
    use mxwatch_store::StoredChange;

    #[test]
    fn rfc5424_shape() {
        let event = AlertEvent {
            event: "change".into(),
            change: StoredChange {
                id: 7,
                domain: "a.test".into(),
                kind: "mx-added".into(),
                subject: "mx\"9].a.test".into(),
                severity: Severity::High,
                old: None,
                new: Some("10".into()),
                first_seen: 0,
                confirmed_at: 0,
                expected: None,
                approved_by: None,
                resolved_at: None,
            },
        };
        let line = format(&event, "host one");
        assert!(line.starts_with("<131>1 "), "{line}");
        assert!(line.contains(" hostone mxwatch "), "{line}");
        assert!(
            line.contains("[mxwatch@32473 domain=\"a.test\" kind=\"mx-added\" id=\"7\"]"),
            "{line}"
        );
        assert!(line.ends_with('}'), "{line}");
    }
}
