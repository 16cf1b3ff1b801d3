//! What an MX host said over SMTP: the model of one probe. The pure parsers of SMTP replies
//! (RFC 5321 §4.2) that the probe's reader feeds are `records::smtp`.

use serde::{Deserialize, Serialize};

/// One SMTP reply: its code and the text of each line (lossy UTF-8, bounded length).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    pub fn one_line(&self) -> String {
        format!("{} {}", self.code, self.lines.join(" / "))
    }
}

/// How the TCP connection went.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Connect {
    Connected {
        ms: u64,
    },
    /// RST to our SYN: nothing listens.
    Refused {
        detail: String,
    },
    TimedOut {
        ms: u64,
    },
    Unreachable {
        detail: String,
    },
    Failed {
        detail: String,
    },
}

impl Connect {
    pub fn is_connected(&self) -> bool {
        matches!(self, Connect::Connected { .. })
    }

    pub fn describe(&self) -> String {
        match self {
            Connect::Connected { ms } => format!("connected in {ms} ms"),
            Connect::Refused { .. } => "connection refused".into(),
            Connect::TimedOut { ms } => format!("no answer to the connection within {ms} ms"),
            Connect::Unreachable { detail } => format!("unreachable ({detail})"),
            Connect::Failed { detail } => format!("connection failed ({detail})"),
        }
    }
}

/// Where the SMTP dialogue stopped early, if it did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialogueError {
    /// `greeting`, `ehlo`, `starttls`, `tls`, `ehlo-after-tls`, `relay`, `quit`.
    pub stage: String,
    pub kind: DialogueErrorKind,
    pub detail: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DialogueErrorKind {
    /// The peer stopped talking (a read timed out, or the total time ran out).
    Timeout,
    /// The peer closed or reset the connection.
    Closed,
    /// The peer sent something that is not SMTP (or a line over the limit).
    Protocol,
    /// The peer answered with an error reply.
    Rejected,
}

/// The STARTTLS part of the dialogue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum StartTls {
    /// The dialogue did not get as far as the EHLO reply: unknown.
    NotReached,
    /// EHLO succeeded and did not list STARTTLS (or only HELO worked).
    NotOffered,
    /// STARTTLS was listed, but the command got an error reply.
    Refused { reply: Reply },
    /// The TLS handshake failed.
    HandshakeFailed { kind: TlsFailure, detail: String },
    /// TLS is up.
    Established,
}

/// Why a handshake failed, in the terms an auditor reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsFailure {
    /// The server speaks only TLS 1.0/1.1 (or SSL).
    OldVersion,
    /// TLS 1.2+ but no cipher suite or key exchange in common (no ECDHE + AEAD).
    NoCommonCipher,
    /// The server's certificate key or signature is one we refuse (e.g. RSA under 2048 bits).
    WeakKey,
    Timeout,
    /// Anything else: a TLS alert, a protocol error, a reset.
    Other,
}

/// One certificate of the presented chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    pub subject: String,
    pub issuer: String,
    /// DNS names of the subjectAltName extension (and the CN when there is no SAN).
    pub dns_names: Vec<String>,
    /// Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    /// `RSA`, `EC`, `Ed25519`, … as parsed.
    pub key_type: String,
    pub key_bits: u32,
    pub self_signed: bool,
    /// SHA-256 of the DER certificate, hex.
    pub sha256: String,
    /// SHA-256 of the SubjectPublicKeyInfo, hex (for DANE 3 1 1 and pinning).
    pub spki_sha256: String,
    /// SHA-512 of the DER certificate, hex (DANE matching type 2).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sha512: String,
    /// SHA-512 of the SubjectPublicKeyInfo, hex (DANE x 1 2).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub spki_sha512: String,
}

/// Why the chain did not verify to a trusted root.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrustFailure {
    UnknownIssuer,
    SelfSigned,
    BadSignature,
    Other,
}

/// Our verdict on the presented chain, made apart from the handshake.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertVerdict {
    /// The chain leads to a trusted root (web PKI roots plus `--ca-file`), dates aside.
    pub trusted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_failure: Option<TrustFailure>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_detail: Option<String>,
    /// The leaf is valid for the exchange name (RFC 6125 matching, one leftmost wildcard label).
    pub name_matches: bool,
}

/// The negotiated session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsSession {
    /// `TLSv1.3`, `TLSv1.2`.
    pub version: String,
    pub cipher: String,
    /// The EHLO reply inside TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ehlo: Option<Reply>,
}

/// The open-relay test (`--probe-relay`): MAIL FROM and RCPT TO a foreign address, then RSET.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayTest {
    pub mail_from: String,
    pub rcpt_to: String,
    pub mail_reply: Option<Reply>,
    pub rcpt_reply: Option<Reply>,
}

impl RelayTest {
    /// The server accepted a recipient in a domain it has nothing to do with.
    pub fn accepted(&self) -> bool {
        self.mail_reply.as_ref().is_some_and(Reply::is_positive)
            && self.rcpt_reply.as_ref().is_some_and(Reply::is_positive)
    }
}

/// Everything one SMTP probe of one address saw.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmtpProbe {
    pub port: u16,
    pub connect: Connect,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub greeting: Option<Reply>,
    /// From the connection to the end of the greeting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub greeting_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ehlo: Option<Reply>,
    /// EHLO was refused and HELO was used instead.
    #[serde(default)]
    pub helo_fallback: bool,
    pub starttls: StartTls,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSession>,
    /// The chain the server presented (captured even when the handshake then failed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<Certificate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<CertVerdict>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay: Option<RelayTest>,
    /// Where the dialogue stopped early.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<DialogueError>,
    pub elapsed_ms: u64,
    /// This address was already probed for many exchange names: the dialogue held
    /// for this name is reused (certificate name check redone for this exchange).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_with: Option<String>,
}

impl SmtpProbe {
    /// A 2xx greeting was read: the host takes SMTP connections.
    pub fn answered(&self) -> bool {
        self.greeting.as_ref().is_some_and(Reply::is_positive)
    }

    /// The TCP connection itself failed: nothing answered on the port.
    /// (A local failure, e.g. no route from the auditing host, is not "unreachable".)
    pub fn unreachable(&self) -> bool {
        matches!(
            self.connect,
            Connect::Refused { .. } | Connect::TimedOut { .. } | Connect::Unreachable { .. }
        )
    }

    /// Whether STARTTLS is known to be offered (`None`: the dialogue did not get that far).
    pub fn offers_starttls(&self) -> Option<bool> {
        match self.starttls {
            StartTls::NotReached => None,
            StartTls::NotOffered => Some(false),
            _ => Some(true),
        }
    }
}

/// What politeness towards one MX address did to its SMTP probe (per-address limits on
/// connections at once and per minute). Never a finding: a host we chose not to bother yet is
/// not a host that failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "politeness", rename_all = "snake_case")]
pub enum Politeness {
    /// The probe waited this long for its turn, then ran.
    Delayed { ms: u64 },
    /// The probe was not made: its turn would have come too late. `smtp` is then absent.
    Skipped { reason: String },
}
