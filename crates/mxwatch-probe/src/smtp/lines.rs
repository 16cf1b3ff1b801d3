//! Reads SMTP replies with limits on line length, line count and time.

use mxwatch_core::observation::smtp::{DialogueErrorKind, Reply};
use mxwatch_core::records::smtp::parse_reply_line;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{Instant, timeout_at};

/// RFC 5321 §4.5.3.1.5 allows 512 octets per reply line; we accept far more
/// before calling it a flood, and never buffer beyond it.
pub const MAX_LINE: usize = 4096;
/// Lines in one multi-line reply.
pub const MAX_LINES: usize = 256;
/// Text kept per line in the observation.
const KEPT_CHARS: usize = 512;

#[derive(Debug)]
pub struct ReadError {
    pub kind: DialogueErrorKind,
    pub detail: String,
}

pub struct Conn<S> {
    pub stream: S,
    buf: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    pub fn new(stream: S) -> Self {
        Conn {
            stream,
            buf: Vec::with_capacity(1024),
        }
    }

    /// Bytes received but not yet read as a reply (must be empty before STARTTLS).
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    pub fn into_inner(self) -> S {
        self.stream
    }

    pub async fn send(&mut self, line: &str, deadline: Instant) -> Result<(), ReadError> {
        let write = async {
            self.stream.write_all(line.as_bytes()).await?;
            self.stream.write_all(b"\r\n").await?;
            self.stream.flush().await
        };
        match timeout_at(deadline, write).await {
            Err(_) => Err(ReadError {
                kind: DialogueErrorKind::Timeout,
                detail: "sending timed out".into(),
            }),
            Ok(Err(e)) => Err(ReadError {
                kind: DialogueErrorKind::Closed,
                detail: format!("sending failed: {e}"),
            }),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// One complete (possibly multi-line) reply before `deadline`.
    pub async fn reply(&mut self, deadline: Instant) -> Result<Reply, ReadError> {
        let mut lines = Vec::new();
        let mut code = None;
        loop {
            let raw = self.line(deadline).await?;
            let parsed = parse_reply_line(&raw).map_err(|detail| ReadError {
                kind: DialogueErrorKind::Protocol,
                detail,
            })?;
            if code.is_some_and(|c| c != parsed.code) {
                return Err(ReadError {
                    kind: DialogueErrorKind::Protocol,
                    detail: format!(
                        "reply code changed from {} to {} within one reply",
                        code.unwrap_or(0),
                        parsed.code
                    ),
                });
            }
            code = Some(parsed.code);
            lines.push(parsed.text.chars().take(KEPT_CHARS).collect());
            if !parsed.more {
                return Ok(Reply {
                    code: parsed.code,
                    lines,
                });
            }
            if lines.len() >= MAX_LINES {
                return Err(ReadError {
                    kind: DialogueErrorKind::Protocol,
                    detail: format!("a reply of more than {MAX_LINES} lines"),
                });
            }
        }
    }

    async fn line(&mut self, deadline: Instant) -> Result<Vec<u8>, ReadError> {
        loop {
            if let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=pos).collect();
                line.pop();
                return Ok(line);
            }
            if self.buf.len() >= MAX_LINE {
                return Err(ReadError {
                    kind: DialogueErrorKind::Protocol,
                    detail: format!("a line longer than {MAX_LINE} bytes"),
                });
            }
            let mut chunk = [0u8; 1024];
            let room = (MAX_LINE - self.buf.len()).min(chunk.len());
            match timeout_at(deadline, self.stream.read(&mut chunk[..room])).await {
                Err(_) => {
                    let partial = if self.buf.is_empty() {
                        String::new()
                    } else {
                        format!(" (got {} bytes of an unfinished line)", self.buf.len())
                    };
                    return Err(ReadError {
                        kind: DialogueErrorKind::Timeout,
                        detail: format!("no complete reply in time{partial}"),
                    });
                }
                Ok(Ok(0)) => {
                    return Err(ReadError {
                        kind: DialogueErrorKind::Closed,
                        detail: "the server closed the connection".into(),
                    });
                }
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
                Ok(Err(e)) => {
                    return Err(ReadError {
                        kind: DialogueErrorKind::Closed,
                        detail: format!("reading failed: {e}"),
                    });
                }
            }
        }
    }
}

/// The earlier of `deadline` and now + `limit`.
pub fn within(deadline: Instant, limit: Duration) -> Instant {
    deadline.min(Instant::now() + limit)
}
