//! E-mail through an SMTP submission server (lettre, rustls).

use super::{DeliveryError, Message as Alert, Sink};
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSink {
    /// The submission server.
    pub smtp_host: String,
    /// Default: 587 (465 with `smtp_security = "tls"`).
    pub smtp_port: Option<u16>,
    /// `starttls` (default, required), `tls` (implicit, port 465) or `none` (loopback only).
    #[serde(default)]
    pub smtp_security: SmtpSecurity,
    /// Login; the password is read from the environment variable named in `smtp_password_env`.
    pub smtp_user: Option<String>,
    pub smtp_password_env: Option<String>,
    /// Extra CA (PEM) for the submission server's certificate.
    pub smtp_ca_file: Option<PathBuf>,
    pub from: String,
    pub to: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    #[default]
    Starttls,
    Tls,
    None,
}

#[async_trait::async_trait]
impl Sink for EmailSink {
    fn validate(&self) -> Result<(), String> {
        let loopback = self
            .smtp_host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
        if self.smtp_security == SmtpSecurity::None && !loopback {
            return Err(
                "smtp_security = \"none\" sends the login and the alerts in clear text; \
                 it is only allowed to a loopback address"
                    .into(),
            );
        }
        self.from
            .parse::<lettre::message::Mailbox>()
            .map_err(|e| format!("from {:?}: {e}", self.from))?;
        if self.to.is_empty() {
            return Err("needs `to`".into());
        }
        for to in &self.to {
            to.parse::<lettre::message::Mailbox>()
                .map_err(|e| format!("to {to:?}: {e}"))?;
        }
        Ok(())
    }

    /// A missing password variable or CA file, or a 5xx from the server, is permanent;
    /// a connection that fails or a 4xx may pass.
    async fn send(&self, _: &reqwest::Client, alert: &Alert) -> Result<(), DeliveryError> {
        let permanent = DeliveryError::Permanent;
        let host = self.smtp_host.as_str();
        let mut builder = Message::builder()
            .from(
                self.from
                    .parse()
                    .map_err(|e| permanent(format!("from {:?}: {e}", self.from)))?,
            )
            .subject(format!("mxwatch: {}", alert.headline()))
            .header(ContentType::TEXT_PLAIN);
        for to in &self.to {
            builder = builder.to(to
                .parse()
                .map_err(|e| permanent(format!("to {to:?}: {e}")))?);
        }
        let body = format!(
            "{}\n{}\n-- \nmxwatch\n",
            alert.text(),
            serde_json::to_string_pretty(&alert.json()).unwrap_or_default()
        );
        let message = builder.body(body).map_err(|e| permanent(e.to_string()))?;

        let tls = match self.smtp_security {
            SmtpSecurity::None => Tls::None,
            security => {
                let mut params = TlsParameters::builder(host.to_string());
                if let Some(path) = &self.smtp_ca_file {
                    let pem = std::fs::read(path)
                        .map_err(|e| permanent(format!("{}: {e}", path.display())))?;
                    params = params.add_root_certificate(
                        Certificate::from_pem(&pem).map_err(|e| permanent(e.to_string()))?,
                    );
                }
                let params = params
                    .build_rustls()
                    .map_err(|e| permanent(e.to_string()))?;
                if security == SmtpSecurity::Tls {
                    Tls::Wrapper(params)
                } else {
                    Tls::Required(params)
                }
            }
        };
        let default_port = if self.smtp_security == SmtpSecurity::Tls {
            465
        } else {
            587
        };
        let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(self.smtp_port.unwrap_or(default_port))
            .tls(tls)
            .timeout(Some(Duration::from_secs(30)));
        if let Some(user) = &self.smtp_user {
            let password = match &self.smtp_password_env {
                Some(var) => std::env::var(var)
                    .map_err(|_| permanent(format!("environment variable {var} is not set")))?,
                None => String::new(),
            };
            transport = transport.credentials(Credentials::new(user.clone(), password));
        }
        transport
            .build()
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| {
                let text = format!("SMTP to {host}: {e}");
                if e.is_permanent() {
                    DeliveryError::Permanent(text)
                } else {
                    DeliveryError::Transient(text)
                }
            })
    }
}
