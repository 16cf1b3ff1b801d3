//! One SMTP dialogue with one address.

use super::SmtpOptions;
use super::certs::parse_certificate;
use super::lines::{Conn, ReadError, within};
use super::verify::{CapturingVerifier, TrustRoots, provider};
use mxwatch_core::observation::smtp::{
    Connect, DialogueError, DialogueErrorKind, RelayTest, Reply, SmtpProbe, StartTls, TlsFailure,
    TlsSession,
};
use rustls::pki_types::ServerName;
use rustls::{AlertDescription, ClientConfig, PeerIncompatible};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};
use tokio_rustls::TlsConnector;

/// The foreign addresses of the relay test: reserved names (RFC 2606) that no one can receive mail for.
pub const RELAY_FROM: &str = "mxwatch-relay-probe@example.com";
pub const RELAY_TO: &str = "mxwatch-relay-probe@example.org";

/// Probes `ip` on the SMTP port as exchange `exchange`. Always returns what was seen.
pub async fn probe(
    ip: IpAddr,
    exchange: &str,
    options: &SmtpOptions,
    roots: &TrustRoots,
) -> SmtpProbe {
    let started = Instant::now();
    let deadline = started + options.total_timeout;
    let mut out = SmtpProbe {
        port: options.port,
        connect: Connect::Failed {
            detail: "not tried".into(),
        },
        greeting: None,
        greeting_ms: None,
        ehlo: None,
        helo_fallback: false,
        starttls: StartTls::NotReached,
        tls: None,
        certificates: vec![],
        verdict: None,
        relay: None,
        error: None,
        elapsed_ms: 0,
        shared_with: None,
    };
    let addr = SocketAddr::new(ip, options.port);
    let connect_deadline = within(deadline, options.connect_timeout);
    let stream = match timeout_at(connect_deadline, TcpStream::connect(addr)).await {
        Err(_) => {
            out.connect = Connect::TimedOut {
                ms: ms_since(started),
            };
            return finish(out, started);
        }
        Ok(Err(e)) => {
            out.connect = classify_connect_error(&e);
            return finish(out, started);
        }
        Ok(Ok(stream)) => stream,
    };
    out.connect = Connect::Connected {
        ms: ms_since(started),
    };
    let helo = options
        .helo
        .clone()
        .unwrap_or_else(|| match stream.local_addr() {
            Ok(SocketAddr::V4(a)) => format!("[{}]", a.ip()),
            Ok(SocketAddr::V6(a)) => format!("[IPv6:{}]", a.ip()),
            Err(_) => "[127.0.0.1]".into(),
        });
    let mut conn = Conn::new(stream);

    // Greeting: up to the whole deadline, so a tarpit is measured rather than cut short.
    match conn.reply(deadline).await {
        Ok(reply) => {
            out.greeting_ms = Some(ms_since(started));
            let positive = reply.is_positive();
            out.greeting = Some(reply);
            if !positive {
                out.error = Some(rejected("greeting", out.greeting.as_ref()));
                quit(&mut conn, deadline).await;
                return finish(out, started);
            }
        }
        Err(e) => {
            out.error = Some(stage_error("greeting", e));
            return finish(out, started);
        }
    }

    // EHLO, HELO when EHLO is refused.
    let ehlo = match command(&mut conn, &format!("EHLO {helo}"), deadline, options).await {
        Ok(reply) => reply,
        Err(e) => {
            out.error = Some(stage_error("ehlo", e));
            return finish(out, started);
        }
    };
    let offers_starttls =
        ehlo.is_positive() && ehlo.ehlo_keywords().iter().any(|k| k == "STARTTLS");
    if !ehlo.is_positive() {
        out.ehlo = Some(ehlo);
        match command(&mut conn, &format!("HELO {helo}"), deadline, options).await {
            Ok(reply) if reply.is_positive() => {
                out.helo_fallback = true;
                out.starttls = StartTls::NotOffered;
            }
            Ok(reply) => {
                out.error = Some(rejected("helo", Some(&reply)));
                quit(&mut conn, deadline).await;
                return finish(out, started);
            }
            Err(e) => {
                out.error = Some(stage_error("helo", e));
                return finish(out, started);
            }
        }
        relay_and_quit(&mut conn, &mut out, deadline, options).await;
        return finish(out, started);
    }
    out.ehlo = Some(ehlo);
    if !offers_starttls {
        out.starttls = StartTls::NotOffered;
        relay_and_quit(&mut conn, &mut out, deadline, options).await;
        return finish(out, started);
    }

    // STARTTLS.
    match command(&mut conn, "STARTTLS", deadline, options).await {
        Ok(reply) if reply.code == 220 => {}
        Ok(reply) => {
            out.starttls = StartTls::Refused { reply };
            relay_and_quit(&mut conn, &mut out, deadline, options).await;
            return finish(out, started);
        }
        Err(e) => {
            out.starttls = StartTls::HandshakeFailed {
                kind: TlsFailure::Other,
                detail: format!("no answer to STARTTLS: {}", e.detail),
            };
            out.error = Some(stage_error("starttls", e));
            return finish(out, started);
        }
    }
    if conn.pending() > 0 {
        // Bytes sent before the handshake would be read as if protected by it (CVE-2011-0411 style).
        out.starttls = StartTls::HandshakeFailed {
            kind: TlsFailure::Other,
            detail: "the server sent data after its 220 to STARTTLS, before the handshake".into(),
        };
        out.error = Some(DialogueError {
            stage: "starttls".into(),
            kind: DialogueErrorKind::Protocol,
            detail: "plaintext after STARTTLS".into(),
        });
        return finish(out, started);
    }
    let verifier = CapturingVerifier::new();
    let config = match ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map(|b| {
            b.dangerous()
                .with_custom_certificate_verifier(verifier.clone())
                .with_no_client_auth()
        }) {
        Ok(config) => config,
        Err(e) => {
            out.starttls = StartTls::HandshakeFailed {
                kind: TlsFailure::Other,
                detail: format!("TLS client configuration: {e}"),
            };
            return finish(out, started);
        }
    };
    // SNI is the exchange name (RFC 7672 §8.1); a name rustls cannot send goes without SNI.
    let server_name =
        ServerName::try_from(exchange.to_string()).unwrap_or(ServerName::IpAddress(ip.into()));
    let connector = TlsConnector::from(Arc::new(config));
    let handshake = timeout_at(
        within(deadline, options.reply_timeout),
        connector.connect(server_name, conn.into_inner()),
    )
    .await;
    let chain = verifier.chain();
    out.certificates = chain
        .iter()
        .filter_map(|der| parse_certificate(der))
        .collect();
    if let Some(leaf) = out.certificates.first() {
        out.verdict = Some(roots.verdict(&chain, exchange, leaf));
    }
    let tls_stream = match handshake {
        Err(_) => {
            out.starttls = StartTls::HandshakeFailed {
                kind: TlsFailure::Timeout,
                detail: "the TLS handshake timed out".into(),
            };
            return finish(out, started);
        }
        Ok(Err(e)) => {
            let (kind, detail) = classify_tls_error(&e, &out);
            out.starttls = StartTls::HandshakeFailed { kind, detail };
            return finish(out, started);
        }
        Ok(Ok(stream)) => stream,
    };
    let (_, session) = tls_stream.get_ref();
    let version = session
        .protocol_version()
        .and_then(|v| v.as_str())
        .unwrap_or("unknown")
        .replace("TLSv1_", "TLSv1.");
    let cipher = session
        .negotiated_cipher_suite()
        .and_then(|s| s.suite().as_str())
        .unwrap_or("unknown")
        .to_string();
    out.starttls = StartTls::Established;
    let mut tls_conn = Conn::new(tls_stream);
    let ehlo_after = command(&mut tls_conn, &format!("EHLO {helo}"), deadline, options).await;
    out.tls = Some(TlsSession {
        version,
        cipher,
        ehlo: ehlo_after.as_ref().ok().cloned(),
    });
    match ehlo_after {
        Ok(reply) if reply.is_positive() => {
            relay_and_quit(&mut tls_conn, &mut out, deadline, options).await
        }
        Ok(reply) => {
            out.error = Some(rejected("ehlo-after-tls", Some(&reply)));
            quit(&mut tls_conn, deadline).await;
        }
        Err(e) => out.error = Some(stage_error("ehlo-after-tls", e)),
    }
    finish(out, started)
}

async fn command<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Conn<S>,
    line: &str,
    deadline: Instant,
    options: &SmtpOptions,
) -> Result<Reply, ReadError> {
    let limit = within(deadline, options.reply_timeout);
    conn.send(line, limit).await?;
    conn.reply(limit).await
}

/// The relay test when asked for, then QUIT.
async fn relay_and_quit<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Conn<S>,
    out: &mut SmtpProbe,
    deadline: Instant,
    options: &SmtpOptions,
) {
    if options.probe_relay {
        let mut test = RelayTest {
            mail_from: RELAY_FROM.into(),
            rcpt_to: RELAY_TO.into(),
            mail_reply: None,
            rcpt_reply: None,
        };
        match command(
            conn,
            &format!("MAIL FROM:<{RELAY_FROM}>"),
            deadline,
            options,
        )
        .await
        {
            Ok(reply) => {
                let go_on = reply.is_positive();
                test.mail_reply = Some(reply);
                if go_on {
                    match command(conn, &format!("RCPT TO:<{RELAY_TO}>"), deadline, options).await {
                        Ok(reply) => test.rcpt_reply = Some(reply),
                        Err(e) => out.error = Some(stage_error("relay", e)),
                    }
                }
                // Never DATA: reset the transaction whatever was accepted.
                let _ = command(conn, "RSET", deadline, options).await;
            }
            Err(e) => out.error = Some(stage_error("relay", e)),
        }
        out.relay = Some(test);
    }
    quit(conn, deadline).await;
}

async fn quit<S: AsyncRead + AsyncWrite + Unpin>(conn: &mut Conn<S>, deadline: Instant) {
    let limit = within(deadline, std::time::Duration::from_secs(2));
    if conn.send("QUIT", limit).await.is_ok() {
        let _ = conn.reply(limit).await;
    }
}

fn finish(mut out: SmtpProbe, started: Instant) -> SmtpProbe {
    out.elapsed_ms = ms_since(started);
    out
}

fn ms_since(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn stage_error(stage: &str, e: ReadError) -> DialogueError {
    DialogueError {
        stage: stage.into(),
        kind: e.kind,
        detail: e.detail,
    }
}

fn rejected(stage: &str, reply: Option<&Reply>) -> DialogueError {
    DialogueError {
        stage: stage.into(),
        kind: DialogueErrorKind::Rejected,
        detail: reply.map(Reply::one_line).unwrap_or_default(),
    }
}

fn classify_connect_error(e: &std::io::Error) -> Connect {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::ConnectionRefused => Connect::Refused {
            detail: e.to_string(),
        },
        ErrorKind::HostUnreachable => Connect::Unreachable {
            detail: e.to_string(),
        },
        // No route from here (e.g. no IPv6 on the auditing host): says nothing about the MX.
        ErrorKind::NetworkUnreachable => Connect::Failed {
            detail: format!("{e} (no route from this host)"),
        },
        ErrorKind::TimedOut => Connect::TimedOut { ms: 0 },
        _ => Connect::Failed {
            detail: e.to_string(),
        },
    }
}

/// Names why a handshake failed, in audit terms.
fn classify_tls_error(e: &std::io::Error, seen: &SmtpProbe) -> (TlsFailure, String) {
    let Some(tls) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    else {
        return (TlsFailure::Other, e.to_string());
    };
    let detail = tls.to_string();
    let weak_leaf = seen
        .certificates
        .first()
        .is_some_and(|c| matches!(c.key_type.as_str(), "RSA" | "DSA") && c.key_bits < 2048);
    let kind = match tls {
        rustls::Error::PeerIncompatible(
            PeerIncompatible::ServerDoesNotSupportTls12Or13
            | PeerIncompatible::ServerTlsVersionIsDisabledByOurConfig,
        )
        | rustls::Error::AlertReceived(AlertDescription::ProtocolVersion) => TlsFailure::OldVersion,
        rustls::Error::PeerIncompatible(
            PeerIncompatible::NoCipherSuitesInCommon | PeerIncompatible::NoKxGroupsInCommon,
        )
        | rustls::Error::AlertReceived(
            AlertDescription::HandshakeFailure | AlertDescription::InsufficientSecurity,
        ) => TlsFailure::NoCommonCipher,
        rustls::Error::InvalidCertificate(_) | rustls::Error::PeerMisbehaved(_) if weak_leaf => {
            TlsFailure::WeakKey
        }
        _ => TlsFailure::Other,
    };
    (kind, detail)
}
