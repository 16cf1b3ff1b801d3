//! The lab's SMTP hosts: one small server per lab address, healthy or broken
//! on purpose, all on one port so `--smtp-port` reaches every one of them.

use crate::pki::{Identity, LabPki, Validity};
use crate::zones::LabZones;
use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// How one lab SMTP host behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SmtpBehaviour {
    /// STARTTLS with a lab-CA certificate for the host's names.
    Healthy,
    NoStartTls,
    Expired,
    /// Expires in 5 days.
    Expiring,
    SelfSigned,
    /// A certificate for `wrong.example.net`.
    WrongName,
    /// Greets with another host's name.
    Banner(String),
    /// Accepts and never speaks.
    Silent,
    /// Waits this long before the greeting.
    Tarpit(Duration),
    /// Sends its greeting one byte every half second, never finishing.
    Drip,
    /// Sends bytes that are not SMTP.
    Garbage,
    /// A greeting with terminal escape sequences.
    EscapeBanner,
    /// A 1 MB line.
    LongLine,
    /// Answers the ClientHello with a TLS 1.0 ServerHello.
    OldTls,
    /// Answers the ClientHello with a handshake_failure alert (no cipher in common).
    WeakCipher,
    /// Accepts any recipient.
    OpenRelay,
    /// Offers STARTTLS and answers it with 454.
    TlsRefused,
}

/// What each SMTP lab address does; addresses not listed are healthy, and
/// these have nothing listening: 127.0.2.10, .12, .13.
pub fn lab_behaviours() -> BTreeMap<IpAddr, Option<SmtpBehaviour>> {
    use SmtpBehaviour::*;
    let lab = |last: u8| IpAddr::V4(Ipv4Addr::new(127, 0, 2, last));
    BTreeMap::from([
        (lab(4), Some(NoStartTls)),
        (lab(5), Some(Expired)),
        (lab(6), Some(Expiring)),
        (lab(7), Some(SelfSigned)),
        (lab(8), Some(WrongName)),
        (lab(10), None),
        (lab(12), None),
        (lab(13), None),
        (lab(14), Some(Banner("unrelated.example.net".into()))),
        (lab(15), Some(Silent)),
        (lab(16), Some(Tarpit(Duration::from_secs(15)))),
        (lab(17), Some(Drip)),
        (lab(18), Some(Garbage)),
        (lab(19), Some(EscapeBanner)),
        (lab(20), Some(LongLine)),
        (lab(21), Some(OldTls)),
        (lab(22), Some(WeakCipher)),
        (lab(23), Some(OpenRelay)),
        (lab(24), Some(TlsRefused)),
    ])
}

/// What each lab SMTP host saw of its clients: connections open now, the most ever open at
/// once, and when each was accepted. Tests hold a prober's politeness to these counts.
#[derive(Default)]
pub struct ConnectionLog {
    by_address: std::sync::Mutex<BTreeMap<IpAddr, AddressLog>>,
}

#[derive(Clone, Debug, Default)]
pub struct AddressLog {
    pub open: usize,
    pub most_open: usize,
    pub accepted: Vec<std::time::Instant>,
}

impl AddressLog {
    /// The most connections accepted within any `window` (a sliding window over the accept times).
    pub fn most_within(&self, window: Duration) -> usize {
        let mut times = self.accepted.clone();
        times.sort();
        let mut most = 0;
        let mut first = 0;
        for last in 0..times.len() {
            while times[last].duration_since(times[first]) >= window {
                first += 1;
            }
            most = most.max(last - first + 1);
        }
        most
    }
}

impl ConnectionLog {
    /// Every address that accepted a connection, with its counts.
    pub fn snapshot(&self) -> BTreeMap<IpAddr, AddressLog> {
        self.by_address.lock().unwrap().clone()
    }

    fn opened(self: &Arc<Self>, ip: IpAddr) -> OpenConnection {
        let mut all = self.by_address.lock().unwrap();
        let log = all.entry(ip).or_default();
        log.open += 1;
        log.most_open = log.most_open.max(log.open);
        log.accepted.push(std::time::Instant::now());
        OpenConnection {
            ip,
            log: self.clone(),
        }
    }
}

/// Counts a connection as open until dropped.
struct OpenConnection {
    ip: IpAddr,
    log: Arc<ConnectionLog>,
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        if let Some(log) = self.log.by_address.lock().unwrap().get_mut(&self.ip) {
            log.open -= 1;
        }
    }
}

/// The running SMTP hosts. Dropping it stops them.
pub struct LabSmtp {
    pub port: u16,
    /// Connections counted per address, as the hosts saw them.
    pub connections: Arc<ConnectionLog>,
    /// The SubjectPublicKeyInfo (DER) of the certificate each TLS host presents (for DANE records).
    pub spki: BTreeMap<IpAddr, Vec<u8>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for LabSmtp {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

struct Host {
    name: String,
    behaviour: SmtpBehaviour,
    tls: Option<TlsAcceptor>,
}

impl LabSmtp {
    /// Starts a host on every loopback address of the zones (but those meant to be dead).
    pub async fn start(zones: &LabZones, pki: &LabPki) -> io::Result<LabSmtp> {
        let plan = lab_behaviours();
        let mut hosts = Vec::new();
        let mut spki = BTreeMap::new();
        for (ip, names) in zones.address_names() {
            // Mail hosts live in 127.0.0.0/16; 127.53.0.0/24 is the nameservers'.
            let in_mail_range = matches!(ip, IpAddr::V4(v4) if v4.octets()[..2] == [127, 0]);
            if !in_mail_range {
                continue;
            }
            let behaviour = match plan.get(&ip) {
                Some(None) => continue,
                Some(Some(b)) => b.clone(),
                None => SmtpBehaviour::Healthy,
            };
            let (tls, leaf_spki) = acceptor(&behaviour, &names, pki).map_err(io::Error::other)?;
            if let Some(leaf_spki) = leaf_spki {
                spki.insert(ip, leaf_spki);
            }
            hosts.push((
                ip,
                Arc::new(Host {
                    name: names[0].clone(),
                    behaviour,
                    tls,
                }),
            ));
        }
        let (port, listeners) = bind_all(hosts.iter().map(|(ip, _)| *ip).collect()).await?;
        let connections = Arc::new(ConnectionLog::default());
        let tasks = listeners
            .into_iter()
            .zip(hosts)
            .map(|(listener, (ip, host))| {
                tokio::spawn(serve(listener, host, ip, connections.clone()))
            })
            .collect();
        Ok(LabSmtp {
            port,
            connections,
            spki,
            tasks,
        })
    }
}

fn acceptor(
    behaviour: &SmtpBehaviour,
    names: &[String],
    pki: &LabPki,
) -> Result<(Option<TlsAcceptor>, Option<Vec<u8>>), String> {
    use SmtpBehaviour::*;
    let identity: Identity = match behaviour {
        NoStartTls | Silent | Drip | Garbage | LongLine | OldTls | WeakCipher | TlsRefused => {
            return Ok((None, None));
        }
        Expired => pki.leaf(
            names,
            Validity {
                from_days: -90,
                to_days: -30,
            },
        ),
        Expiring => pki.leaf(
            names,
            Validity {
                from_days: -80,
                to_days: 5,
            },
        ),
        SelfSigned => LabPki::self_signed(names),
        WrongName => pki.leaf(&["wrong.example.net".to_string()], Validity::CURRENT),
        _ => pki.leaf(names, Validity::CURRENT),
    }
    .map_err(|e| e.to_string())?;
    let spki = identity.spki_der.clone();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_no_client_auth()
    .with_single_cert(identity.chain, identity.key)
    .map_err(|e| e.to_string())?;
    Ok((Some(TlsAcceptor::from(Arc::new(config))), Some(spki)))
}

/// One listener per address, all on the same port.
pub(crate) async fn bind_all(ips: Vec<IpAddr>) -> io::Result<(u16, Vec<TcpListener>)> {
    let mut last = None;
    for _ in 0..50 {
        let probe = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let port = probe.local_addr()?.port();
        drop(probe);
        let mut listeners = Vec::new();
        let mut failed = None;
        for ip in &ips {
            match TcpListener::bind((*ip, port)).await {
                Ok(l) => listeners.push(l),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        match failed {
            None => return Ok((port, listeners)),
            Some(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no common free port")))
}

async fn serve(listener: TcpListener, host: Arc<Host>, ip: IpAddr, log: Arc<ConnectionLog>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let host = host.clone();
        let open = log.opened(ip);
        tokio::spawn(async move {
            let _ = session(stream, &host).await;
            drop(open);
        });
    }
}

async fn session(mut stream: TcpStream, host: &Host) -> io::Result<()> {
    use SmtpBehaviour::*;
    match &host.behaviour {
        Silent => {
            // Hold the connection open, saying nothing, until the client gives up.
            let mut sink = [0u8; 256];
            while stream.read(&mut sink).await? > 0 {}
            return Ok(());
        }
        Drip => {
            for byte in b"220 mx.drip.example ESMTP ".iter().cycle() {
                stream.write_all(&[*byte]).await?;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            return Ok(());
        }
        Garbage => {
            stream
                .write_all(b"\x00\xff\xfeHELLO this is not SMTP\r\n")
                .await?;
            return Ok(());
        }
        LongLine => {
            let mut line = b"220 ".to_vec();
            line.resize(1024 * 1024, b'A');
            line.extend_from_slice(b"\r\n");
            stream.write_all(&line).await?;
            return Ok(());
        }
        Tarpit(delay) => tokio::time::sleep(*delay).await,
        _ => {}
    }
    let greeting = match &host.behaviour {
        Banner(other) => format!("220 {other} ESMTP mxwatch-lab"),
        EscapeBanner => format!("220 {}\x1b[2J\x1b]0;pwned\x07 ESMTP \x1b[31mred", host.name),
        _ => format!("220 {} ESMTP mxwatch-lab", host.name),
    };
    stream
        .write_all(format!("{greeting}\r\n").as_bytes())
        .await?;
    let offers_tls =
        host.tls.is_some() || matches!(host.behaviour, OldTls | WeakCipher | TlsRefused);
    match dialogue(stream, host, offers_tls).await? {
        None => Ok(()),
        Some(mut plain) => match (&host.behaviour, &host.tls) {
            (OldTls, _) => {
                read_some(&mut plain).await;
                plain.write_all(&tls10_server_hello()).await
            }
            (WeakCipher, _) => {
                read_some(&mut plain).await;
                // Alert, TLS 1.2 record, fatal (2), handshake_failure (40).
                plain
                    .write_all(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28])
                    .await
            }
            (_, Some(acceptor)) => {
                let tls = acceptor.accept(plain).await?;
                dialogue(tls, host, false).await.map(|_| ())
            }
            (_, None) => Ok(()),
        },
    }
}

async fn read_some(stream: &mut TcpStream) {
    let mut hello = [0u8; 2048];
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut hello)).await;
}

/// A TLS 1.0 ServerHello (TLS_RSA_WITH_AES_128_CBC_SHA): what a server that
/// speaks nothing newer answers to a modern ClientHello.
fn tls10_server_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x01];
    body.extend_from_slice(&[0x42; 32]);
    body.extend_from_slice(&[0x00, 0x00, 0x2f, 0x00]);
    let mut handshake = vec![0x02, 0x00, 0x00, body.len() as u8];
    handshake.extend_from_slice(&body);
    let mut record = vec![0x16, 0x03, 0x01, 0x00, handshake.len() as u8];
    record.extend_from_slice(&handshake);
    record
}

/// The command loop. Returns the stream when the client asked for STARTTLS and got 220.
async fn dialogue<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    host: &Host,
    offer_tls: bool,
) -> io::Result<Option<S>> {
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = (&mut reader)
            .take(4096)
            .read_until(b'\n', &mut line)
            .await?;
        if n == 0 {
            return Ok(None);
        }
        let text = String::from_utf8_lossy(&line).trim_end().to_string();
        let verb = text
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let reply = match verb.as_str() {
            "EHLO" => {
                let mut r = format!(
                    "250-{} greets you\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n",
                    host.name
                );
                if offer_tls {
                    r.push_str("250-STARTTLS\r\n");
                }
                r.push_str("250 8BITMIME");
                r
            }
            "HELO" => format!("250 {}", host.name),
            "STARTTLS" if offer_tls && host.behaviour == SmtpBehaviour::TlsRefused => {
                "454 4.7.0 TLS not available due to local problem".to_string()
            }
            "STARTTLS" if offer_tls => {
                reader
                    .get_mut()
                    .write_all(b"220 2.0.0 Ready to start TLS\r\n")
                    .await?;
                return Ok(Some(reader.into_inner()));
            }
            "MAIL" => "250 2.1.0 Ok".to_string(),
            "RCPT" if host.behaviour == SmtpBehaviour::OpenRelay => "250 2.1.5 Ok".to_string(),
            "RCPT" => "554 5.7.1 Relay access denied".to_string(),
            "RSET" | "NOOP" => "250 2.0.0 Ok".to_string(),
            "DATA" => "554 5.5.1 Error: no valid recipients".to_string(),
            "QUIT" => {
                reader.get_mut().write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(None);
            }
            _ => "502 5.5.2 Error: command not recognized".to_string(),
        };
        let stream = reader.get_mut();
        stream.write_all(reply.as_bytes()).await?;
        stream.write_all(b"\r\n").await?;
        stream.flush().await?;
    }
}
