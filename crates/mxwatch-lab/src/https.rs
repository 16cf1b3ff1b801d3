//! The lab's MTA-STS policy hosts: HTTPS on every lab address in 127.44.0.0/16 (the
//! `mta-sts.<domain>` records of the `sts-*.test` zones), all on one port so `--https-port`
//! reaches every one of them, each healthy or broken on purpose.
//!
//! A hand-written HTTP/1.1 responder on tokio-rustls rather than an HTTP server library: a
//! test peer must be able to misbehave (say nothing after the TCP handshake, stream a body
//! past any limit, answer with the wrong media type or a redirect), which a well-behaved
//! server library is built to prevent. It reads one request head and answers once.

use crate::pki::{Identity, LabPki, Validity};
use crate::zones::LabZones;
use std::collections::BTreeMap;
use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Which certificate a policy host presents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpsCert {
    /// From the lab CA, for the host's name.
    Valid,
    /// From the lab CA, for `wrong.example.net`.
    WrongName,
    /// From the lab CA, expired a month ago.
    Expired,
}

/// What a policy host answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HttpsBehaviour {
    /// 200 with this media type and body.
    Serve {
        content_type: &'static str,
        body: &'static str,
    },
    /// This status with an empty body.
    Status(u16),
    /// 301 to this location.
    Redirect(&'static str),
    /// 200 text/plain, a 1 MiB body with no Content-Length (read until the connection closes).
    Oversized,
    /// Accepts the TCP connection and never answers the ClientHello.
    Silent,
}

/// A good enforce policy for the healthy `smtp-ok.test` exchanges.
pub const POLICY_ENFORCE: &str =
    "version: STSv1\r\nmode: enforce\r\nmx: *.smtp-ok.test\r\nmax_age: 604800\r\n";

/// The policy hosts of the lab, by name: (certificate, behaviour). Names not listed answer 404.
pub fn https_behaviours() -> BTreeMap<&'static str, (HttpsCert, HttpsBehaviour)> {
    use HttpsBehaviour::*;
    use HttpsCert::*;
    let plain = |body| Serve {
        content_type: "text/plain; charset=utf-8",
        body,
    };
    BTreeMap::from([
        ("mta-sts.sts-ok.test", (Valid, plain(POLICY_ENFORCE))),
        // The TXT record is bad; the policy is fine (only MTASTS-TXT-SYNTAX).
        ("mta-sts.sts-txt.test", (Valid, plain(POLICY_ENFORCE))),
        ("mta-sts.sts-twotxt.test", (Valid, plain(POLICY_ENFORCE))),
        (
            "mta-sts.sts-testing.test",
            (
                Valid,
                plain("version: STSv1\nmode: testing\nmx: *.smtp-ok.test\nmax_age: 86400\n"),
            ),
        ),
        (
            "mta-sts.sts-none.test",
            (Valid, plain("version: STSv1\nmode: none\nmax_age: 86400\n")),
        ),
        (
            "mta-sts.sts-syntax.test",
            (
                Valid,
                plain(
                    "version: STSv1\nmode: enforced\nmx: mx1.*.smtp-ok.test\nmax_age: 99999999999\n",
                ),
            ),
        ),
        (
            "mta-sts.sts-mismatch.test",
            (
                Valid,
                plain("version: STSv1\nmode: enforce\nmx: mx1.smtp-ok.test\nmax_age: 604800\n"),
            ),
        ),
        (
            "mta-sts.sts-badcert.test",
            (
                Valid,
                plain(
                    "version: STSv1\nmode: enforce\nmx: *.smtp-wrongname.test\nmx: *.smtp-ok.test\nmax_age: 604800\n",
                ),
            ),
        ),
        ("mta-sts.sts-404.test", (Valid, Status(404))),
        (
            "mta-sts.sts-redirect.test",
            (
                Valid,
                Redirect("https://mta-sts.sts-ok.test/.well-known/mta-sts.txt"),
            ),
        ),
        (
            "mta-sts.sts-ctype.test",
            (
                Valid,
                Serve {
                    content_type: "text/html",
                    body: POLICY_ENFORCE,
                },
            ),
        ),
        ("mta-sts.sts-big.test", (Valid, Oversized)),
        ("mta-sts.sts-slow.test", (Valid, Silent)),
        (
            "mta-sts.sts-wrongname.test",
            (WrongName, plain(POLICY_ENFORCE)),
        ),
        ("mta-sts.sts-expired.test", (Expired, plain(POLICY_ENFORCE))),
    ])
}

/// The running policy hosts. Dropping it stops them.
pub struct LabHttps {
    pub port: u16,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for LabHttps {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

struct Host {
    behaviour: HttpsBehaviour,
    config: Arc<rustls::ServerConfig>,
}

/// Every policy host, by lower-case name; chosen by the SNI of each connection.
struct Hosts {
    by_name: BTreeMap<String, Arc<Host>>,
    /// For a ClientHello without SNI or with an unknown name: a 404 with a valid certificate.
    fallback: Arc<Host>,
}

/// Whether an address belongs to the policy hosts' range.
pub fn is_https_address(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V4(v4) if v4.octets()[..2] == [127, 44])
}

impl LabHttps {
    /// Starts HTTPS on every 127.44.x.x address of the zones.
    pub async fn start(zones: &LabZones, pki: &LabPki) -> io::Result<LabHttps> {
        let plan = https_behaviours();
        let addresses = zones.address_names();
        let mut by_name = BTreeMap::new();
        let mut ips = Vec::new();
        for (ip, names) in addresses.iter().filter(|(ip, _)| is_https_address(**ip)) {
            ips.push(*ip);
            for name in names {
                let (cert, behaviour) = plan
                    .get(name.as_str())
                    .cloned()
                    .unwrap_or((HttpsCert::Valid, HttpsBehaviour::Status(404)));
                let config = server_config(name, cert, pki).map_err(io::Error::other)?;
                by_name.insert(name.clone(), Arc::new(Host { behaviour, config }));
            }
        }
        let fallback = Arc::new(Host {
            behaviour: HttpsBehaviour::Status(404),
            config: server_config("mta-sts.lab.test", HttpsCert::Valid, pki)
                .map_err(io::Error::other)?,
        });
        let hosts = Arc::new(Hosts { by_name, fallback });
        let (port, listeners) = crate::smtp::bind_all(ips).await?;
        let tasks = listeners
            .into_iter()
            .map(|listener| tokio::spawn(serve(listener, hosts.clone())))
            .collect();
        Ok(LabHttps { port, tasks })
    }
}

pub(crate) fn server_config(
    name: &str,
    cert: HttpsCert,
    pki: &LabPki,
) -> Result<Arc<rustls::ServerConfig>, String> {
    let names = [name.to_string()];
    let identity: Identity = match cert {
        HttpsCert::Valid => pki.leaf(&names, Validity::CURRENT),
        HttpsCert::WrongName => pki.leaf(&["wrong.example.net".to_string()], Validity::CURRENT),
        HttpsCert::Expired => pki.leaf(
            &names,
            Validity {
                from_days: -90,
                to_days: -30,
            },
        ),
    }
    .map_err(|e| e.to_string())?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_no_client_auth()
    .with_single_cert(identity.chain, identity.key)
    .map_err(|e| e.to_string())?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

async fn serve(listener: TcpListener, hosts: Arc<Hosts>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let hosts = hosts.clone();
        tokio::spawn(async move {
            let _ = session(stream, &hosts).await;
        });
    }
}

async fn session(stream: TcpStream, hosts: &Hosts) -> io::Result<()> {
    let start =
        tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream).await?;
    let sni = start
        .client_hello()
        .server_name()
        .map(|s| s.to_ascii_lowercase());
    let host = sni
        .as_deref()
        .and_then(|name| hosts.by_name.get(name))
        .unwrap_or(&hosts.fallback)
        .clone();
    if host.behaviour == HttpsBehaviour::Silent {
        // Hold the connection (it lives inside `start`) answering nothing, well past any
        // client's time limit; the client gives up first.
        tokio::time::sleep(Duration::from_secs(120)).await;
        drop(start);
        return Ok(());
    }
    let mut tls = start.into_stream(host.config.clone()).await?;
    read_request_head(&mut tls).await?;
    let response = match &host.behaviour {
        HttpsBehaviour::Serve { content_type, body } => respond(200, content_type, body, &[]),
        HttpsBehaviour::Status(code) => respond(*code, "text/plain", "", &[]),
        HttpsBehaviour::Redirect(location) => {
            respond(301, "text/plain", "", &[("Location", location)])
        }
        HttpsBehaviour::Oversized => {
            tls.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n",
            )
            .await?;
            let line = b"mx: padding.example.net\r\n";
            let block: Vec<u8> = line.iter().copied().cycle().take(64 * line.len()).collect();
            for _ in 0..(1024 * 1024 / block.len()) {
                tls.write_all(&block).await?;
            }
            return tls.shutdown().await;
        }
        // Handled before the handshake; never reached with a handshake done.
        HttpsBehaviour::Silent => return Ok(()),
    };
    tls.write_all(response.as_bytes()).await?;
    tls.shutdown().await
}

/// Reads one request head (up to the blank line), bounded in size (8 KiB) and time (10 s).
pub(crate) async fn read_request_head<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut S,
) -> io::Result<Vec<u8>> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    let read_head = async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        io::Result::Ok(())
    };
    tokio::time::timeout(Duration::from_secs(10), read_head)
        .await
        .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
    Ok(head)
}

pub(crate) fn respond(code: u16, content_type: &str, body: &str, extra: &[(&str, &str)]) -> String {
    let reason = match code {
        200 => "OK",
        301 => "Moved Permanently",
        404 => "Not Found",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let mut out = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in extra {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(body);
    out
}
