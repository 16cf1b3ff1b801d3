//! Receivers for the monitor's alerts on loopback: an HTTP endpoint (webhook, Slack, Teams)
//! and an SMTP submission server (plain, or STARTTLS with a lab-CA certificate). Each keeps
//! what it was sent, for the tests to read.
//!
//! Written here, small and by hand, rather than with an HTTP or SMTP server crate: a test
//! needs to choose the status of each reply (500 first, then 200; a 404 for good) and to keep
//! the raw body that was signed, which the field's servers hide behind their routing.

use crate::pki::{LabPki, Validity};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// One HTTP request as received.
#[derive(Clone, Debug)]
pub struct HttpRequest {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The status it was answered with.
    pub status: u16,
}

impl HttpRequest {
    /// The body as JSON (panics if it is not: the receiver is for tests).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// How an [`HttpReceiver`] answers.
#[derive(Clone, Copy, Debug)]
pub enum Replies {
    /// 500 to the first N requests, 200 after (a passing failure).
    FailFirst(usize),
    /// This status to every request (404: a failure that will not pass).
    Always(u16),
}

/// An HTTP endpoint on 127.0.0.1 that keeps every request.
pub struct HttpReceiver {
    /// `http://127.0.0.1:PORT/hook`
    pub url: String,
    pub got: Arc<Mutex<Vec<HttpRequest>>>,
}

impl HttpReceiver {
    pub fn start(replies: Replies) -> std::io::Result<HttpReceiver> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        let got = Arc::new(Mutex::new(Vec::new()));
        let seen = got.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let _ = serve_one(stream, &seen, replies);
            }
        });
        Ok(HttpReceiver { url, got })
    }

    /// The requests answered 2xx.
    pub fn delivered(&self) -> Vec<HttpRequest> {
        self.got
            .lock()
            .expect("receiver lock")
            .iter()
            .filter(|r| (200..300).contains(&r.status))
            .cloned()
            .collect()
    }

    pub fn all(&self) -> Vec<HttpRequest> {
        self.got.lock().expect("receiver lock").clone()
    }
}

fn serve_one(
    mut stream: std::net::TcpStream,
    seen: &Mutex<Vec<HttpRequest>>,
    replies: Replies,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.trim_end().split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let length: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
        .min(16 << 20);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let mut all = seen.lock().expect("receiver lock");
    let status = match replies {
        Replies::FailFirst(n) if all.len() < n => 500,
        Replies::FailFirst(_) => 200,
        Replies::Always(status) => status,
    };
    all.push(HttpRequest {
        path,
        headers,
        body,
        status,
    });
    drop(all);
    write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
}

/// An SMTP submission server on 127.0.0.1 that accepts every message and keeps it. With a
/// lab CA it offers STARTTLS (a certificate for 127.0.0.1) and refuses mail in clear text.
pub struct SubmissionReceiver {
    pub port: u16,
    pub got: Arc<Mutex<Vec<String>>>,
}

impl SubmissionReceiver {
    pub fn start(tls: Option<&LabPki>) -> std::io::Result<SubmissionReceiver> {
        let acceptor = match tls {
            Some(pki) => {
                let identity = pki
                    .leaf(&["127.0.0.1".to_string()], Validity::CURRENT)
                    .map_err(std::io::Error::other)?;
                let config = rustls::ServerConfig::builder_with_provider(Arc::new(
                    rustls::crypto::aws_lc_rs::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .map_err(std::io::Error::other)?
                .with_no_client_auth()
                .with_single_cert(identity.chain, identity.key)
                .map_err(std::io::Error::other)?;
                Some(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
            }
            None => None,
        };
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let seen = got.clone();
        std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let acceptor = acceptor.clone();
                    let seen = seen.clone();
                    tokio::spawn(async move { dialogue(stream, acceptor, seen).await });
                }
            });
        });
        Ok(SubmissionReceiver { port, got })
    }

    pub fn messages(&self) -> Vec<String> {
        self.got.lock().expect("receiver lock").clone()
    }
}

/// One SMTP session: the plain part, STARTTLS when offered, then the commands and messages.
async fn dialogue(
    mut plain: tokio::net::TcpStream,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    seen: Arc<Mutex<Vec<String>>>,
) -> Option<()> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    plain
        .write_all(b"220 submit.lab.test ESMTP\r\n")
        .await
        .ok()?;
    let Some(acceptor) = acceptor else {
        return commands(BufReader::new(plain), seen).await;
    };
    let mut reader = BufReader::new(plain);
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        match verb(&line).as_str() {
            "EHLO" => reader
                .get_mut()
                .write_all(b"250-submit.lab.test\r\n250 STARTTLS\r\n")
                .await
                .ok()?,
            "STARTTLS" => {
                reader.get_mut().write_all(b"220 go ahead\r\n").await.ok()?;
                break;
            }
            // Nothing in clear text: the sink must use TLS.
            _ => reader
                .get_mut()
                .write_all(b"530 5.7.0 must issue STARTTLS first\r\n")
                .await
                .ok()?,
        }
    }
    let tls = acceptor.accept(reader.into_inner()).await.ok()?;
    commands(BufReader::new(tls), seen).await
}

fn verb(line: &str) -> String {
    line.split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_uppercase()
}

async fn commands<S>(
    mut reader: tokio::io::BufReader<S>,
    seen: Arc<Mutex<Vec<String>>>,
) -> Option<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let mut line = String::new();
    let mut message = String::new();
    let mut in_data = false;
    loop {
        line.clear();
        if reader.read_line(&mut line).await.ok()? == 0 {
            return Some(());
        }
        if in_data {
            if line == ".\r\n" {
                in_data = false;
                seen.lock().ok()?.push(std::mem::take(&mut message));
                reader.get_mut().write_all(b"250 queued\r\n").await.ok()?;
            } else {
                message.push_str(&line);
            }
            continue;
        }
        let reply: &[u8] = match verb(&line).as_str() {
            "EHLO" => b"250-submit.lab.test\r\n250 8BITMIME\r\n",
            "DATA" => {
                in_data = true;
                b"354 go on\r\n"
            }
            "QUIT" => {
                reader.get_mut().write_all(b"221 bye\r\n").await.ok()?;
                return Some(());
            }
            _ => b"250 ok\r\n",
        };
        reader.get_mut().write_all(reply).await.ok()?;
    }
}
