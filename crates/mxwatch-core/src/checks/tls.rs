//! STARTTLS and certificates of every MX address.

use super::smtp::{per_exchange_probe, per_probe, probes};
use super::{Check, CheckContext, Hit, Subject, exchange_label};
use crate::finding::Severity;
use crate::observation::Observation;
use crate::observation::smtp::{Certificate, SmtpProbe, StartTls, TlsFailure, TrustFailure};
use crate::utc::date;

fn leaf(probe: &SmtpProbe) -> Option<&Certificate> {
    probe.certificates.first()
}

pub static TLS_NO_STARTTLS: Check = Check {
    id: "TLS-NO-STARTTLS",
    severity: Severity::Medium,
    title: "The host does not offer STARTTLS: mail to it travels in clear text",
    explanation: "The EHLO reply does not list STARTTLS, so every message to this host crosses the network \
                  unencrypted and can be read or changed on the way.",
    fix: "Enable STARTTLS with a certificate for the exchange name (Postfix `smtpd_tls_security_level = may`).",
    reference: "RFC 3207; RFC 8314 §5",
    run: tls_no_starttls,
};

fn tls_no_starttls(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    per_probe(obs, |p| {
        (p.starttls == StartTls::NotOffered).then(|| {
            if p.helo_fallback {
                "EHLO was refused and HELO has no extensions: no STARTTLS".to_string()
            } else {
                "STARTTLS is not among the EHLO extensions".to_string()
            }
        })
    })
}

pub static TLS_STARTTLS_FAILS: Check = Check {
    id: "TLS-STARTTLS-FAILS",
    severity: Severity::High,
    title: "STARTTLS is offered but does not work",
    explanation: "The host lists STARTTLS but refuses the command or the TLS handshake fails. Most senders then \
                  fall back to clear text, some defer the mail; with MTA-STS or DANE the mail is not delivered.",
    fix: "Check the TLS configuration of the mail server (certificate and key files, protocols, ciphers).",
    reference: "RFC 3207 §4",
    run: tls_starttls_fails,
};

fn tls_starttls_fails(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    per_probe(obs, |p| match &p.starttls {
        StartTls::Refused { reply } => {
            Some(format!("STARTTLS was answered with {}", reply.one_line()))
        }
        StartTls::HandshakeFailed {
            kind: TlsFailure::Other | TlsFailure::Timeout,
            detail,
        } => Some(format!("the TLS handshake failed: {detail}")),
        _ => None,
    })
}

pub static TLS_OLD_VERSION: Check = Check {
    id: "TLS-OLD-VERSION",
    severity: Severity::Medium,
    title: "The host speaks only TLS 1.0/1.1",
    explanation: "The server could not negotiate TLS 1.2 or 1.3. TLS 1.0 and 1.1 are deprecated (RFC 8996); \
                  modern senders refuse them and either deliver in clear text or not at all.",
    fix: "Enable TLS 1.2 and 1.3 on the mail server (Postfix `smtpd_tls_protocols = >=TLSv1.2`).",
    reference: "RFC 8996; RFC 7525 §3.1.1",
    run: tls_old_version,
};

fn tls_old_version(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    per_probe(obs, |p| match &p.starttls {
        StartTls::HandshakeFailed {
            kind: TlsFailure::OldVersion,
            detail,
        } => Some(format!("no TLS 1.2 or 1.3: {detail}")),
        _ => None,
    })
}

pub static TLS_WEAK_CIPHER: Check = Check {
    id: "TLS-WEAK-CIPHER",
    severity: Severity::Medium,
    title: "No modern cipher suite in common (ECDHE with AEAD)",
    explanation: "The server speaks TLS 1.2 but offers none of the forward-secret AEAD cipher suites (ECDHE with \
                  AES-GCM or ChaCha20-Poly1305); it relies on CBC, RC4 or static-RSA key exchange, which modern \
                  senders refuse.",
    fix: "Enable ECDHE key exchange with AES-GCM or ChaCha20-Poly1305 suites on the mail server.",
    reference: "RFC 7525 §4.2; RFC 9325 §4.2",
    run: tls_weak_cipher,
};

fn tls_weak_cipher(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    per_probe(obs, |p| match &p.starttls {
        StartTls::HandshakeFailed {
            kind: TlsFailure::NoCommonCipher,
            detail,
        } => Some(format!(
            "the server refused a modern handshake (no ECDHE/AEAD suite in common, or it cannot use its certificate): {detail}"
        )),
        _ => None,
    })
}

pub static TLS_CERT_EXPIRED: Check = Check {
    id: "TLS-CERT-EXPIRED",
    severity: Severity::High,
    title: "The certificate has expired (or is not valid yet)",
    explanation: "The certificate presented on STARTTLS is outside its validity dates. Senders that verify \
                  (MTA-STS, DANE-TA, many providers) refuse to deliver; the others stop trusting the channel.",
    fix: "Renew the certificate and reload the mail server; automate renewal (ACME) and monitor expiry.",
    reference: "RFC 5280 §4.1.2.5; RFC 8461 §4.2",
    run: tls_cert_expired,
};

/// Said beside a WebPKI problem on a host DANE authenticates (RFC 7672 §3.1: DANE decides there).
const DANE_NOTE: &str = "; DANE validates this host, so DANE-aware senders still deliver \
                         (MTA-STS and other verifying senders do not)";

fn with_dane_note(obs: &Observation, exchange: &str, p: &SmtpProbe, detail: String) -> String {
    if super::dane::dane_validates(obs, exchange, p) {
        format!("{detail}{DANE_NOTE}")
    } else {
        detail
    }
}

fn tls_cert_expired(obs: &Subject, ctx: &CheckContext) -> Vec<Hit> {
    per_exchange_probe(obs, |exchange, p| {
        let mut problems = Vec::new();
        for (i, cert) in p.certificates.iter().enumerate() {
            let which = if i == 0 {
                "the certificate".to_string()
            } else {
                format!("CA certificate {}", cert.subject)
            };
            if cert.not_after < ctx.now_unix {
                problems.push(format!(
                    "{which} expired on {} ({})",
                    date(cert.not_after),
                    cert.subject
                ));
            } else if cert.not_before > ctx.now_unix {
                problems.push(format!(
                    "{which} is not valid before {} ({})",
                    date(cert.not_before),
                    cert.subject
                ));
            }
        }
        (!problems.is_empty()).then(|| with_dane_note(obs, &exchange.name, p, problems.join("; ")))
    })
}

pub static TLS_CERT_EXPIRING: Check = Check {
    id: "TLS-CERT-EXPIRING",
    severity: Severity::Medium,
    title: "The certificate expires soon",
    explanation: "The certificate presented on STARTTLS expires within the warning window (14 days unless \
                  --cert-expiry-days says otherwise). If renewal fails, senders that verify stop delivering.",
    fix: "Renew the certificate now and check that automatic renewal reloads the mail server.",
    reference: "RFC 5280 §4.1.2.5",
    run: tls_cert_expiring,
};

fn tls_cert_expiring(obs: &Subject, ctx: &CheckContext) -> Vec<Hit> {
    let window = i64::from(ctx.expiry_warning_days) * 86_400;
    per_probe(obs, |p| {
        let cert = leaf(p)?;
        let left = cert.not_after - ctx.now_unix;
        (left >= 0 && left < window && cert.not_before <= ctx.now_unix).then(|| {
            format!(
                "expires on {} ({} days left)",
                date(cert.not_after),
                left / 86_400
            )
        })
    })
}

pub static TLS_CERT_UNTRUSTED: Check = Check {
    id: "TLS-CERT-UNTRUSTED",
    severity: Severity::Medium,
    title: "The certificate does not chain to a trusted root",
    explanation: "STARTTLS works, but the certificate is self-signed or issued by an authority senders do not \
                  trust. Opportunistic senders still encrypt, but nothing proves they reach the right host, and \
                  MTA-STS senders refuse to deliver. (Under DANE, a matching TLSA record makes this moot.)",
    fix: "Use a certificate from a public CA (e.g. via ACME) and serve the full chain.",
    reference: "RFC 5280 §6; RFC 8461 §4.2",
    run: tls_cert_untrusted,
};

fn tls_cert_untrusted(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    per_exchange_probe(obs, |exchange, p| {
        let verdict = p.verdict.as_ref()?;
        (!verdict.trusted).then(|| {
            let why = match verdict.trust_failure {
                Some(TrustFailure::SelfSigned) => "self-signed".to_string(),
                Some(TrustFailure::UnknownIssuer) => "issued by an unknown authority".to_string(),
                Some(TrustFailure::BadSignature) => "bad signature in the chain".to_string(),
                _ => format!(
                    "does not verify: {}",
                    verdict.trust_detail.as_deref().unwrap_or("unknown reason")
                ),
            };
            let issuer = leaf(p).map(|c| c.issuer.clone()).unwrap_or_default();
            with_dane_note(obs, &exchange.name, p, format!("{why} (issuer {issuer})"))
        })
    })
}

pub static TLS_CERT_NAME_MISMATCH: Check = Check {
    id: "TLS-CERT-NAME-MISMATCH",
    severity: Severity::Medium,
    title: "The certificate is not valid for the exchange name",
    explanation: "None of the certificate's names matches the MX exchange name senders connect to. MTA-STS and \
                  DANE-TA senders refuse to deliver; others cannot tell the host from an impostor.",
    fix: "Get a certificate whose subjectAltName includes the exchange name (or point the MX at a name the \
          certificate covers).",
    reference: "RFC 6125 §6; RFC 7817 §3",
    run: tls_cert_name_mismatch,
};

fn tls_cert_name_mismatch(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    let mut hits = Vec::new();
    for exchange in &obs.exchanges {
        // Senders check the MX name (RFC 7817 §3, RFC 8461 §4.1); an alias target is worth naming.
        let target = exchange.lookups.cname_chain().last();
        for (ip, p) in probes(exchange) {
            let (Some(verdict), Some(cert)) = (p.verdict.as_ref(), leaf(p)) else {
                continue;
            };
            // A dialogue held for another name sent another SNI: the certificate may differ.
            if p.shared_with.is_some() {
                continue;
            }
            if verdict.name_matches {
                continue;
            }
            let mut detail = format!(
                "{} is not among {}",
                exchange.name,
                cert.dns_names.join(", ")
            );
            if let Some(target) =
                target.filter(|t| crate::name::cert_name_matches(&cert.dns_names, t))
            {
                detail.push_str(&format!(" (the certificate covers the alias target {target}, which senders do not check)"));
            }
            hits.push(Hit::new(
                format!("{} ({ip})", exchange_label(&exchange.name)),
                with_dane_note(obs, &exchange.name, p, detail),
            ));
        }
    }
    hits
}

pub static TLS_CERT_WEAK_KEY: Check = Check {
    id: "TLS-CERT-WEAK-KEY",
    severity: Severity::Medium,
    title: "The certificate key is too weak",
    explanation: "The certificate has an RSA key under 2048 bits (or an elliptic curve under 256). Such keys \
                  are refused by modern TLS stacks and by public CAs; the handshake may fail outright.",
    fix: "Issue a new certificate with an RSA 2048+ or ECDSA P-256 key.",
    reference: "NIST SP 800-131A Rev. 2; CA/Browser Forum Baseline Requirements §6.1.5",
    run: tls_cert_weak_key,
};

fn tls_cert_weak_key(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    per_probe(obs, |p| {
        let cert = leaf(p)?;
        let weak = match cert.key_type.as_str() {
            "RSA" | "DSA" => cert.key_bits < 2048,
            "EC" => cert.key_bits < 256,
            _ => false,
        };
        weak.then(|| format!("{} key of {} bits", cert.key_type, cert.key_bits))
    })
}

pub static TLS_INCONSISTENT: Check = Check {
    id: "TLS-INCONSISTENT",
    severity: Severity::Medium,
    title: "Exchanges differ in TLS: the weakest one sets the domain's security",
    explanation: "Some exchanges of the domain offer STARTTLS and others do not. An attacker who can block the \
                  TLS-capable hosts pushes senders to the one without TLS, where mail travels in clear text: a \
                  backup MX is the weakest link.",
    fix: "Enable STARTTLS on every exchange, backups included.",
    reference: "RFC 3207; RFC 8461 §1",
    run: tls_inconsistent,
};

fn tls_inconsistent(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    let mut with = Vec::new();
    let mut without = Vec::new();
    for exchange in &obs.exchanges {
        for (ip, probe) in probes(exchange) {
            match probe.offers_starttls() {
                Some(true) => with.push(format!("{} ({ip})", exchange.name)),
                Some(false) => without.push(format!("{} ({ip})", exchange.name)),
                None => {}
            }
        }
    }
    if with.is_empty() || without.is_empty() {
        return vec![];
    }
    vec![Hit::new(
        obs.domain.display(),
        format!(
            "STARTTLS on {}; none on {}",
            with.join(", "),
            without.join(", ")
        ),
    )]
}

#[cfg(test)]
mod tests {
    use super::super::CheckContext;
    use super::super::testkit::*;
    use crate::observation::smtp::*;

    const NOW: i64 = 1_795_392_000;

    fn cert(name: &str, not_after: i64) -> Certificate {
        Certificate {
            subject: format!("CN={name}"),
            issuer: "CN=Lab CA".into(),
            dns_names: vec![name.into()],
            not_before: NOW - 86_400 * 30,
            not_after,
            key_type: "EC".into(),
            key_bits: 256,
            self_signed: false,
            sha256: String::new(),
            spki_sha256: String::new(),
            sha512: String::new(),
            spki_sha512: String::new(),
        }
    }

    fn good(name: &str) -> SmtpProbe {
        SmtpProbe {
            port: 25,
            connect: Connect::Connected { ms: 1 },
            greeting: Some(Reply {
                code: 220,
                lines: vec![format!("{name} ESMTP")],
            }),
            greeting_ms: Some(5),
            ehlo: None,
            helo_fallback: false,
            starttls: StartTls::Established,
            tls: Some(TlsSession {
                version: "TLSv1.3".into(),
                cipher: "TLS13_AES_256_GCM_SHA384".into(),
                ehlo: None,
            }),
            certificates: vec![cert(name, NOW + 86_400 * 90)],
            verdict: Some(CertVerdict {
                trusted: true,
                trust_failure: None,
                trust_detail: None,
                name_matches: true,
            }),
            relay: None,
            error: None,
            elapsed_ms: 10,
            shared_with: None,
        }
    }

    fn probed(edit: impl Fn(&mut SmtpProbe, usize)) -> crate::Observation {
        let mut obs = healthy();
        for (i, e) in obs.exchanges.iter_mut().enumerate() {
            for a in &mut e.addresses {
                let mut p = good(&e.name);
                edit(&mut p, i);
                a.smtp = Some(p);
            }
        }
        obs
    }

    /// The distinct IDs (exchange 0 of `healthy()` has two addresses, so per-address checks hit twice).
    fn ids_now(obs: &crate::Observation) -> Vec<String> {
        let mut found = ids_in(obs, &CheckContext::default());
        found.dedup();
        found
    }

    #[test]
    fn healthy_tls_is_silent() {
        assert!(
            ids_now(&probed(|_, _| {})).is_empty(),
            "{:?}",
            ids_now(&probed(|_, _| {}))
        );
    }

    #[test]
    fn certificate_problems() {
        let expired = probed(|p, i| {
            if i == 0 {
                p.certificates[0].not_after = NOW - 86_400
            }
        });
        assert_eq!(ids_now(&expired), ["TLS-CERT-EXPIRED"]);
        let expiring = probed(|p, i| {
            if i == 0 {
                p.certificates[0].not_after = NOW + 86_400 * 5
            }
        });
        assert_eq!(ids_now(&expiring), ["TLS-CERT-EXPIRING"]);
        let untrusted = probed(|p, i| {
            if i == 0 {
                p.verdict.as_mut().unwrap().trusted = false;
                p.verdict.as_mut().unwrap().trust_failure = Some(TrustFailure::SelfSigned);
            }
        });
        assert_eq!(ids_now(&untrusted), ["TLS-CERT-UNTRUSTED"]);
        let wrong = probed(|p, i| {
            if i == 0 {
                p.verdict.as_mut().unwrap().name_matches = false
            }
        });
        assert_eq!(ids_now(&wrong), ["TLS-CERT-NAME-MISMATCH"]);
        let weak = probed(|p, i| {
            if i == 0 {
                p.certificates[0].key_type = "RSA".into();
                p.certificates[0].key_bits = 1024;
            }
        });
        assert_eq!(ids_now(&weak), ["TLS-CERT-WEAK-KEY"]);
    }

    #[test]
    fn starttls_problems_and_the_weakest_link() {
        let none = probed(|p, i| {
            if i == 1 {
                p.starttls = StartTls::NotOffered;
                p.tls = None;
                p.certificates.clear();
                p.verdict = None;
            }
        });
        let found = ids_now(&none);
        assert!(
            found.contains(&"TLS-NO-STARTTLS".to_string())
                && found.contains(&"TLS-INCONSISTENT".to_string()),
            "{found:?}"
        );
        let old = probed(|p, i| {
            if i == 0 {
                p.starttls = StartTls::HandshakeFailed {
                    kind: TlsFailure::OldVersion,
                    detail: "TLS 1.0".into(),
                };
            }
        });
        assert_eq!(ids_now(&old), ["TLS-OLD-VERSION"]);
        let refused = probed(|p, i| {
            if i == 0 {
                p.starttls = StartTls::Refused {
                    reply: Reply {
                        code: 454,
                        lines: vec!["TLS not available".into()],
                    },
                };
            }
        });
        assert_eq!(ids_now(&refused), ["TLS-STARTTLS-FAILS"]);
    }

    #[test]
    fn reachability() {
        let down = |p: &mut SmtpProbe| {
            *p = SmtpProbe {
                connect: Connect::Refused {
                    detail: "RST".into(),
                },
                greeting: None,
                greeting_ms: None,
                starttls: StartTls::NotReached,
                tls: None,
                certificates: vec![],
                verdict: None,
                ..p.clone()
            }
        };
        let primary = probed(|p, i| {
            if i == 0 {
                down(p)
            }
        });
        let found = ids_now(&primary);
        assert!(
            found.contains(&"SMTP-PRIMARY-DOWN".to_string()),
            "{found:?}"
        );
        assert!(found.contains(&"SMTP-UNREACHABLE".to_string()), "{found:?}");
        assert!(
            !found.contains(&"TLS-NO-STARTTLS".to_string()),
            "unreachable is not 'no TLS': {found:?}"
        );
        let all = probed(|p, _| down(p));
        let found = ids_now(&all);
        assert!(
            found.contains(&"SMTP-ALL-UNREACHABLE".to_string()),
            "{found:?}"
        );
        assert!(!found.iter().any(|i| i.starts_with("TLS-")), "{found:?}");
    }

    #[test]
    fn banner_and_relay() {
        let banner = probed(|p, i| {
            if i == 0 {
                p.greeting = Some(Reply {
                    code: 220,
                    lines: vec!["other.example.net ESMTP".into()],
                });
            }
        });
        assert_eq!(ids_now(&banner), ["SMTP-BANNER-MISMATCH"]);
        let relay = probed(|p, i| {
            if i == 0 {
                let ok = Reply {
                    code: 250,
                    lines: vec!["ok".into()],
                };
                p.relay = Some(RelayTest {
                    mail_from: "a@example.invalid".into(),
                    rcpt_to: "b@example.invalid".into(),
                    mail_reply: Some(ok.clone()),
                    rcpt_reply: Some(ok),
                });
            }
        });
        assert_eq!(ids_now(&relay), ["SMTP-OPEN-RELAY"]);
        let slow = probed(|p, i| {
            if i == 0 {
                p.greeting_ms = Some(15_000)
            }
        });
        assert_eq!(ids_now(&slow), ["SMTP-SLOW-GREETING"]);
    }

    #[test]
    fn civil_dates() {
        assert_eq!(super::date(0), "1970-01-01");
        assert_eq!(super::date(NOW), "2026-11-23");
    }
}
