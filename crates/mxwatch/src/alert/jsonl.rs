//! JSON lines for a SIEM: one object per alert, appended.

use super::AlertEvent;
use crate::config::AlertConfig;
use std::io::Write;

pub fn append(sink: &AlertConfig, event: &AlertEvent) -> Result<(), String> {
    let mut line = serde_json::to_vec(&event.json()).map_err(|e| e.to_string())?;
    line.push(b'\n');
    let path = sink.path.as_ref().ok_or("no path")?;
    if path.as_os_str() == "-" {
        let mut out = std::io::stdout().lock();
        return out
            .write_all(&line)
            .and_then(|()| out.flush())
            .map_err(|e| e.to_string());
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    // One write of the whole line: concurrent appenders never interleave within a line.
    file.write_all(&line)
        .map_err(|e| format!("{}: {e}", path.display()))
}
