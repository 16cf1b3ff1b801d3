//! JSON lines for a SIEM: one object per alert, appended.

use super::{DeliveryError, Message, Sink};
use serde::Deserialize;
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonlSink {
    /// The file (`-` for stdout).
    pub path: PathBuf,
}

#[async_trait::async_trait]
impl Sink for JsonlSink {
    /// A file error (disk full, a directory not yet mounted) may pass: transient.
    async fn send(&self, _: &reqwest::Client, alert: &Message) -> Result<(), DeliveryError> {
        let mut line = serde_json::to_vec(&alert.json())
            .map_err(|e| DeliveryError::Permanent(e.to_string()))?;
        line.push(b'\n');
        let failed =
            |e: std::io::Error| DeliveryError::Transient(format!("{}: {e}", self.path.display()));
        if self.path.as_os_str() == "-" {
            let mut out = std::io::stdout().lock();
            return out
                .write_all(&line)
                .and_then(|()| out.flush())
                .map_err(failed);
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(failed)?;
        // One write of the whole line: concurrent appenders never interleave within a line.
        file.write_all(&line).map_err(failed)
    }
}
