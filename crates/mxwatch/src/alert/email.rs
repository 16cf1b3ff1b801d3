//! E-mail through an SMTP submission server (lettre, rustls).

use super::AlertEvent;
use crate::config::AlertConfig;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

pub async fn send(sink: &AlertConfig, event: &AlertEvent) -> Result<(), String> {
    let host = sink.smtp_host.as_deref().ok_or("no smtp_host")?;
    let from = sink.from.as_deref().ok_or("no from")?;
    let mut builder = Message::builder()
        .from(from.parse().map_err(|e| format!("from {from:?}: {e}"))?)
        .subject(format!("mxwatch: {}", event.summary()))
        .header(ContentType::TEXT_PLAIN);
    for to in &sink.to {
        builder = builder.to(to.parse().map_err(|e| format!("to {to:?}: {e}"))?);
    }
    let body = format!(
        "{}\n\n{}\n\n-- \nmxwatch\n",
        event.summary(),
        serde_json::to_string_pretty(&event.json()).unwrap_or_default()
    );
    let message = builder.body(body).map_err(|e| e.to_string())?;

    let security = sink.smtp_security.as_deref().unwrap_or("starttls");
    let tls = match security {
        "none" => Tls::None,
        "starttls" | "tls" => {
            let mut params = TlsParameters::builder(host.to_string());
            if let Some(path) = &sink.smtp_ca_file {
                let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
                params = params
                    .add_root_certificate(Certificate::from_pem(&pem).map_err(|e| e.to_string())?);
            }
            let params = params.build_rustls().map_err(|e| e.to_string())?;
            if security == "tls" {
                Tls::Wrapper(params)
            } else {
                Tls::Required(params)
            }
        }
        other => {
            return Err(format!(
                "smtp_security {other:?}: use starttls, tls or none"
            ));
        }
    };
    let default_port = if security == "tls" { 465 } else { 587 };
    let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(sink.smtp_port.unwrap_or(default_port))
        .tls(tls)
        .timeout(Some(Duration::from_secs(30)));
    if let Some(user) = &sink.smtp_user {
        let password = match &sink.smtp_password_env {
            Some(var) => {
                std::env::var(var).map_err(|_| format!("environment variable {var} is not set"))?
            }
            None => String::new(),
        };
        transport = transport.credentials(Credentials::new(user.clone(), password));
    }
    transport
        .build()
        .send(message)
        .await
        .map(|_| ())
        .map_err(|e| format!("SMTP to {host}: {e}"))
}
