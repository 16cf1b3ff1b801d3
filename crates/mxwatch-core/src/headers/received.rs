//! One `Received` field as one hop: mail-parser's structured reading where it
//! gives one, the raw text where it does not.

use super::input;
use super::mx::MxStatus;
use mail_parser::{DateTime, Header, HeaderValue, Host, Protocol, Received};
use serde::Serialize;
use std::net::IpAddr;

/// One hop: the host named after `by` took the message from the host named after `from`.
#[derive(Clone, Debug, Serialize)]
pub struct Hop {
    /// 1 for the first hop of the chain (the bottom `Received`).
    pub number: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<HopFrom>,
    /// The receiving host as it named itself (lower case, no trailing dot), or its address literal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// Set when `by` is an address literal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by_ip: Option<IpAddr>,
    /// The protocol keyword (`ESMTPS`, `LMTP`, … RFC 3848), as mail-parser read it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub with: Option<String>,
    pub tls: Tls,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "for", skip_serializing_if = "Option::is_none")]
    pub for_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<HopTime>,
    /// Seconds since the previous hop that has a time; negative means the clocks disagree.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay_seconds: Option<i64>,
    pub parsed: Parsed,
    /// The field as it stood, unfolded.
    pub raw: String,
    /// Whether this hop is at one of the recipient domain's MX hosts.
    pub mx: MxStatus,
    /// Position among all header fields (0 = top): tells which fields were added after this hop.
    #[serde(skip)]
    pub header_index: usize,
}

/// The sending side of a hop.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HopFrom {
    /// The name the sender gave in HELO/EHLO (or an address literal).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub helo: Option<String>,
    /// The name the receiving host found in reverse DNS for the sender's address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reverse: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
}

/// What the field says about TLS on this hop.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Tls {
    /// A TLS version or cipher is written in the field (Postfix `(using TLSv1.3 with cipher …)`,
    /// Gmail and Exchange `(version=TLS1_3 cipher=…)`).
    Stated {
        #[serde(skip_serializing_if = "Option::is_none")]
        version: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        cipher: Option<String>,
    },
    /// The protocol keyword says TLS (`ESMTPS`, `ESMTPSA`, `LMTPS` … RFC 3848) without details.
    Implied { with: String },
    /// The protocol keyword is the one without TLS (`SMTP`, `ESMTP`, `ESMTPA`, `LMTP` …).
    NotUsed { with: String },
    /// Nothing in the field says either way.
    NotSaid,
}

/// When the hop happened, as the receiving host's clock said.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HopTime {
    /// The date as written after the last `;`.
    pub text: String,
    /// RFC 3339 in UTC, when the date could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub utc: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unix: Option<i64>,
}

/// How much of the field could be read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Parsed {
    Full,
    /// Read, but without some part a complete field has.
    Partial {
        missing: Vec<&'static str>,
    },
    /// Nothing structured could be read: only `raw` is shown.
    Unparsed {
        why: String,
    },
}

pub fn hop_from_header(index: usize, header: &Header<'_>, section: &[u8]) -> Hop {
    let raw = input::raw_value(section, header);
    let mut hop = Hop {
        number: 0,
        from: None,
        by: None,
        by_ip: None,
        with: None,
        tls: Tls::NotSaid,
        id: None,
        for_address: None,
        time: None,
        delay_seconds: None,
        parsed: Parsed::Full,
        raw,
        mx: MxStatus::NotChecked,
        header_index: index,
    };
    let HeaderValue::Received(received) = &header.value else {
        hop.parsed = Parsed::Unparsed {
            why: if hop.raw.is_empty() {
                "empty field".into()
            } else {
                "mail-parser found no trace fields in it".into()
            },
        };
        hop.time = time_from_raw(&hop.raw, None);
        return hop;
    };
    fill(&mut hop, received);
    hop
}

fn fill(hop: &mut Hop, received: &Received<'_>) {
    let mut from = HopFrom::default();
    match &received.from {
        Some(Host::Name(name)) => from.helo = Some(host_name(name)),
        Some(Host::IpAddr(ip)) => from.ip = Some(*ip),
        None => {}
    }
    if from.helo.is_none()
        && let Some(Host::Name(name)) = &received.helo
    {
        from.helo = Some(host_name(name));
    }
    from.reverse = received.from_iprev.as_deref().map(host_name);
    if from.ip.is_none() {
        from.ip = received.from_ip;
    }
    if from != HopFrom::default() {
        hop.from = Some(from);
    }
    match &received.by {
        Some(Host::Name(name)) => {
            let name = host_name(name);
            // An address literal written without brackets still reads as a name.
            hop.by_ip = name.trim_matches(['[', ']']).parse().ok();
            hop.by = Some(name);
        }
        Some(Host::IpAddr(ip)) => {
            hop.by_ip = Some(*ip);
            hop.by = Some(ip.to_string());
        }
        None => {}
    }
    hop.with = received.with.map(protocol_name);
    hop.id = received.id.as_deref().map(str::to_string);
    hop.for_address = received.for_.as_deref().map(str::to_string);
    hop.tls = tls(received, &hop.raw);
    hop.time = time_from_raw(&hop.raw, received.date.as_ref());
    let mut missing = Vec::new();
    if hop.by.is_none() {
        missing.push("by");
    }
    match &hop.time {
        None => missing.push("date"),
        Some(t) if t.unix.is_none() => missing.push("a readable date"),
        Some(_) => {}
    }
    hop.parsed = if hop.by.is_none() && hop.from.is_none() {
        Parsed::Unparsed {
            why: "neither a from nor a by clause could be read".into(),
        }
    } else if missing.is_empty() {
        Parsed::Full
    } else {
        Parsed::Partial { missing }
    };
}

fn host_name(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn protocol_name(protocol: Protocol) -> String {
    match protocol {
        Protocol::Local => "local".into(),
        other => format!("{other:?}"),
    }
}

fn tls(received: &Received<'_>, raw: &str) -> Tls {
    if received.tls_version.is_some() || received.tls_cipher.is_some() {
        return Tls::Stated {
            version: received.tls_version.map(tls_version_name),
            cipher: received.tls_cipher.as_deref().map(str::to_string),
        };
    }
    // mail-parser knows the common comment forms; other MTAs write the version elsewhere.
    if let Some(version) = tls_version_in_text(raw) {
        return Tls::Stated {
            version: Some(version),
            cipher: None,
        };
    }
    match received.with {
        Some(p) if protocol_has_tls(p) => Tls::Implied {
            with: protocol_name(p),
        },
        Some(p) if protocol_is_mail(p) => Tls::NotUsed {
            with: protocol_name(p),
        },
        _ => Tls::NotSaid,
    }
}

/// RFC 3848 (and RFC 6531 for UTF8*): the keywords with an `S` after the base protocol.
fn protocol_has_tls(p: Protocol) -> bool {
    use Protocol::*;
    matches!(
        p,
        ESMTPS | ESMTPSA | LMTPS | LMTPSA | UTF8SMTPS | UTF8SMTPSA | UTF8LMTPS | UTF8LMTPSA | HTTPS
    )
}

fn protocol_is_mail(p: Protocol) -> bool {
    use Protocol::*;
    matches!(
        p,
        SMTP | ESMTP | ESMTPA | LMTP | LMTPA | UTF8SMTP | UTF8SMTPA | UTF8LMTP | UTF8LMTPA
    )
}

fn tls_version_name(v: mail_parser::TlsVersion) -> String {
    use mail_parser::TlsVersion::*;
    match v {
        SSLv2 => "SSLv2",
        SSLv3 => "SSLv3",
        TLSv1_0 => "TLSv1.0",
        TLSv1_1 => "TLSv1.1",
        TLSv1_2 => "TLSv1.2",
        TLSv1_3 => "TLSv1.3",
        DTLSv1_0 => "DTLSv1.0",
        DTLSv1_2 => "DTLSv1.2",
        DTLSv1_3 => "DTLSv1.3",
    }
    .into()
}

/// A TLS version spelled the ways MTAs spell it (`TLSv1.2`, `TLS1_2`, `TLS1.2`) anywhere in the field.
fn tls_version_in_text(raw: &str) -> Option<String> {
    let upper = raw.to_ascii_uppercase();
    let mut rest = upper.as_str();
    while let Some(pos) = rest.find("TLS") {
        let after = &rest[pos + 3..];
        let after = after.strip_prefix('V').unwrap_or(after);
        let bytes = after.as_bytes();
        if bytes.len() >= 3
            && bytes[0] == b'1'
            && (bytes[1] == b'.' || bytes[1] == b'_')
            && (b'0'..=b'3').contains(&bytes[2])
        {
            return Some(format!("TLSv1.{}", bytes[2] as char));
        }
        rest = &rest[pos + 3..];
    }
    None
}

/// The date after the last `;` as written, read by mail-parser's date parser.
fn time_from_raw(raw: &str, parsed: Option<&DateTime>) -> Option<HopTime> {
    let text = raw
        .rsplit_once(';')
        .map(|(_, date)| date.trim().to_string());
    let date = parsed.filter(|d| d.is_valid()).cloned().or_else(|| {
        text.as_deref()
            .and_then(DateTime::parse_rfc822)
            .filter(DateTime::is_valid)
    });
    if text.is_none() && date.is_none() {
        return None;
    }
    let unix = date.as_ref().map(DateTime::to_timestamp);
    Some(HopTime {
        text: text.unwrap_or_default(),
        utc: unix.map(|t| DateTime::from_timestamp(t).to_rfc3339()),
        unix,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hop(field: &str) -> Hop {
        let text = format!("Received: {field}\n");
        let parsed = super::super::parse(text.as_bytes()).unwrap();
        parsed.hops.into_iter().next().expect("one hop")
    }

    #[test]
    fn postfix_with_tls_comment() {
        let h = hop(
            "from a.example (a.example [192.0.2.1]) (using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)) by MX1.Example.COM. (Postfix) with ESMTPS id 1; Mon, 23 Nov 2026 18:15:04 +0000 (UTC)",
        );
        assert_eq!(h.by.as_deref(), Some("mx1.example.com"));
        let from = h.from.unwrap();
        assert_eq!(from.helo.as_deref(), Some("a.example"));
        assert_eq!(from.ip, Some("192.0.2.1".parse().unwrap()));
        assert_eq!(
            h.tls,
            Tls::Stated {
                version: Some("TLSv1.3".into()),
                cipher: Some("TLS_AES_256_GCM_SHA384".into())
            }
        );
        assert_eq!(h.with.as_deref(), Some("ESMTPS"));
        let time = h.time.unwrap();
        assert_eq!(time.utc.as_deref(), Some("2026-11-23T18:15:04Z"));
        assert_eq!(h.parsed, Parsed::Full);
    }

    #[test]
    fn tls_from_the_keyword_alone_or_its_absence() {
        let h = hop("from a by b.example with ESMTPSA; Mon, 23 Nov 2026 18:15:04 +0000");
        assert_eq!(
            h.tls,
            Tls::Implied {
                with: "ESMTPSA".into()
            }
        );
        let h = hop("from a by b.example with ESMTP; Mon, 23 Nov 2026 18:15:04 +0000");
        assert_eq!(
            h.tls,
            Tls::NotUsed {
                with: "ESMTP".into()
            }
        );
        let h = hop("from a by b.example; Mon, 23 Nov 2026 18:15:04 +0000");
        assert_eq!(h.tls, Tls::NotSaid);
    }

    #[test]
    fn a_version_written_elsewhere_is_still_found() {
        assert_eq!(
            tls_version_in_text("by x (TLS1_2 weird)").as_deref(),
            Some("TLSv1.2")
        );
        assert_eq!(tls_version_in_text("TLS"), None);
        assert_eq!(tls_version_in_text("tlsv1.3").as_deref(), Some("TLSv1.3"));
    }

    #[test]
    fn offsets_are_converted_to_utc() {
        let h = hop("from a by b.example with SMTP; Mon, 23 Nov 2026 10:15:03 -0800 (PST)");
        assert_eq!(h.time.unwrap().utc.as_deref(), Some("2026-11-23T18:15:03Z"));
    }

    #[test]
    fn broken_fields_are_kept_raw_and_marked() {
        let h = hop("");
        assert!(
            matches!(h.parsed, Parsed::Unparsed { .. }),
            "{:?}",
            h.parsed
        );
        let h = hop("by mx.example with ESMTP; Mon, 32 Foo 2026 99:99:99 +9999");
        assert_eq!(
            h.parsed,
            Parsed::Partial {
                missing: vec!["a readable date"]
            }
        );
        assert_eq!(h.time.unwrap().text, "Mon, 32 Foo 2026 99:99:99 +9999");
        let h = hop("from relay.example (relay.example [192.0.2.9]) by");
        assert_eq!(
            h.parsed,
            Parsed::Partial {
                missing: vec!["by", "date"]
            }
        );
    }
}
