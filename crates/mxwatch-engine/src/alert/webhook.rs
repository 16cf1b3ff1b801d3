//! Generic JSON webhook, HMAC-signed; the HTTP POST the chat sinks share.

use super::{DeliveryError, Message, Sink};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

/// The signature header of generic webhooks: `sha256=` and the hex HMAC-SHA256 of the raw body.
pub const SIGNATURE_HEADER: &str = "X-Mxwatch-Signature";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSink {
    /// The URL the JSON event is POSTed to.
    pub url: String,
    /// HMAC-SHA256 key for the signature header. Default: unsigned.
    pub secret: Option<String>,
}

pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    format!(
        "sha256={}",
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

/// An http(s) URL, checked at load.
pub(super) fn check_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("url {url:?}: {e}"))?;
    match parsed.scheme() {
        "https" | "http" => Ok(()),
        other => Err(format!(
            "url {url:?}: scheme {other:?} is not http or https"
        )),
    }
}

/// POSTs a JSON body. 2xx is delivered; 408, 425, 429 and 5xx may pass (transient); any other
/// status will not pass as configured (a wrong URL, a refused signature): permanent.
pub(super) async fn post(
    http: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
    signature: Option<String>,
) -> Result<(), DeliveryError> {
    let mut request = http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body);
    if let Some(signature) = signature {
        request = request.header(SIGNATURE_HEADER, signature);
    }
    let response = request.send().await.map_err(|e| {
        if e.is_builder() {
            DeliveryError::Permanent(format!("POST {url}: {e}"))
        } else {
            DeliveryError::Transient(format!("POST {url}: {e}"))
        }
    })?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let message = format!("POST {url}: HTTP {status}");
    let passing = status.is_server_error() || matches!(status.as_u16(), 408 | 425 | 429);
    Err(if passing {
        DeliveryError::Transient(message)
    } else {
        DeliveryError::Permanent(message)
    })
}

#[async_trait::async_trait]
impl Sink for WebhookSink {
    fn validate(&self) -> Result<(), String> {
        check_url(&self.url)
    }

    async fn send(&self, http: &reqwest::Client, alert: &Message) -> Result<(), DeliveryError> {
        let body = serde_json::to_vec(&alert.json())
            .map_err(|e| DeliveryError::Permanent(e.to_string()))?;
        let signature = self.secret.as_deref().map(|s| sign(s, &body));
        post(http, &self.url, body, signature).await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn signature_is_the_rfc_4231_hmac() {
        // RFC 4231 test case 2.
        assert_eq!(
            super::sign("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn urls_are_checked_at_load() {
        assert!(super::check_url("https://hooks.example/x").is_ok());
        assert!(super::check_url("ftp://hooks.example/x").is_err());
        assert!(super::check_url("hooks.example/x").is_err());
    }
}
