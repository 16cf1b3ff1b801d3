//! Webhooks: generic JSON (HMAC-signed), Slack, Teams.

use super::AlertEvent;
use crate::config::AlertConfig;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

/// The signature header of generic webhooks: `sha256=` and the hex HMAC-SHA256 of the raw body.
pub const SIGNATURE_HEADER: &str = "X-Mxwatch-Signature";

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

async fn post(
    sink: &AlertConfig,
    http: &reqwest::Client,
    body: Vec<u8>,
    signature: Option<String>,
) -> Result<(), String> {
    let url = sink.url.as_deref().ok_or("no url")?;
    let mut request = http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body);
    if let Some(signature) = signature {
        request = request.header(SIGNATURE_HEADER, signature);
    }
    let response = request
        .send()
        .await
        .map_err(|e| format!("POST {url}: {e}"))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("POST {url}: HTTP {status}"))
    }
}

pub async fn generic(
    sink: &AlertConfig,
    http: &reqwest::Client,
    event: &AlertEvent,
) -> Result<(), String> {
    let body = serde_json::to_vec(&event.json()).map_err(|e| e.to_string())?;
    let signature = sink.secret.as_deref().map(|s| sign(s, &body));
    post(sink, http, body, signature).await
}

/// Slack's control characters in message text (`<!channel>`, links) come from `<`, `>` and `&`:
/// text that came from the network must not be able to ping a channel or forge a link.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub async fn slack(
    sink: &AlertConfig,
    http: &reqwest::Client,
    event: &AlertEvent,
) -> Result<(), String> {
    let body = serde_json::to_vec(
        &json!({ "text": format!("mxwatch: {}", slack_escape(&event.summary())) }),
    )
    .map_err(|e| e.to_string())?;
    post(sink, http, body, None).await
}

/// A Teams workflow ("When a Teams webhook request is received") takes an Adaptive Card message.
pub async fn teams(
    sink: &AlertConfig,
    http: &reqwest::Client,
    event: &AlertEvent,
) -> Result<(), String> {
    let card = json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "content": {
                "type": "AdaptiveCard",
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "version": "1.4",
                "body": [
                    { "type": "TextBlock", "text": "mxwatch", "weight": "Bolder" },
                    { "type": "TextBlock", "text": event.summary(), "wrap": true }
                ]
            }
        }]
    });
    let body = serde_json::to_vec(&card).map_err(|e| e.to_string())?;
    post(sink, http, body, None).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn slack_text_cannot_ping_or_link() {
        assert_eq!(
            super::slack_escape("<!channel> a&b <http://x|y>"),
            "&lt;!channel&gt; a&amp;b &lt;http://x|y&gt;"
        );
    }

    #[test]
    fn signature_is_the_rfc_4231_hmac() {
        // RFC 4231 test case 2.
        assert_eq!(
            super::sign("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
