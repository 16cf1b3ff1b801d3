//! Slack incoming webhook: `{"text": …}`.

use super::webhook::{check_url, post};
use super::{DeliveryError, Message, Sink};
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackSink {
    /// The incoming-webhook URL.
    pub url: String,
}

/// Slack's control characters in message text (`<!channel>`, links) come from `<`, `>` and `&`:
/// text that came from the network must not be able to ping a channel or forge a link.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The whole alert in one message: the headline in bold, the details as a code block.
pub(crate) fn body(alert: &Message) -> serde_json::Value {
    let text = alert.text();
    let details = text.split_once('\n').map_or("", |(_, rest)| rest).trim();
    let mut message = format!("*mxwatch: {}*", slack_escape(&alert.headline()));
    if !details.is_empty() {
        // A code block cannot be closed from inside: backticks are made harmless.
        message.push_str(&format!(
            "\n```{}```",
            slack_escape(&details.replace("```", "'''"))
        ));
    }
    json!({ "text": message })
}

#[async_trait::async_trait]
impl Sink for SlackSink {
    fn validate(&self) -> Result<(), String> {
        check_url(&self.url)
    }

    async fn send(&self, http: &reqwest::Client, alert: &Message) -> Result<(), DeliveryError> {
        let body = serde_json::to_vec(&body(alert))
            .map_err(|e| DeliveryError::Permanent(e.to_string()))?;
        post(http, &self.url, body, None).await
    }
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
    fn one_message_holds_the_whole_change_set() {
        let body = super::body(&crate::alert::message::tests::replacement());
        let text = body["text"].as_str().unwrap();
        assert!(
            text.starts_with("*mxwatch: [high] a.test: MX 10 mx1.a.test"),
            "{text}"
        );
        assert!(text.contains("mx-removed mx2.a.test: was 20"), "{text}");
        assert!(text.contains("MX-UNEXPECTED"), "{text}");
    }
}
