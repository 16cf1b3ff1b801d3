//! Microsoft Teams workflow webhook ("When a Teams webhook request is received"): an
//! Adaptive Card message.

use super::webhook::{check_url, post};
use super::{DeliveryError, Message, Sink};
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamsSink {
    /// The workflow's webhook URL.
    pub url: String,
}

pub(crate) fn card(alert: &Message) -> serde_json::Value {
    let text = alert.text();
    let details = text.split_once('\n').map_or("", |(_, rest)| rest).trim();
    // Adaptive Card text is Markdown-ish: each line is its own block, so nothing from the
    // network can start a list, heading or link across lines.
    let mut body = vec![
        json!({ "type": "TextBlock", "text": "mxwatch", "weight": "Bolder" }),
        json!({ "type": "TextBlock", "text": alert.headline(), "wrap": true }),
    ];
    for line in details.lines().filter(|l| !l.trim().is_empty()) {
        body.push(json!({ "type": "TextBlock", "text": line, "wrap": true, "fontType": "Monospace", "spacing": "None" }));
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "content": {
                "type": "AdaptiveCard",
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "version": "1.4",
                "body": body
            }
        }]
    })
}

#[async_trait::async_trait]
impl Sink for TeamsSink {
    fn validate(&self) -> Result<(), String> {
        check_url(&self.url)
    }

    async fn send(&self, http: &reqwest::Client, alert: &Message) -> Result<(), DeliveryError> {
        let body = serde_json::to_vec(&card(alert))
            .map_err(|e| DeliveryError::Permanent(e.to_string()))?;
        post(http, &self.url, body, None).await
    }
}
