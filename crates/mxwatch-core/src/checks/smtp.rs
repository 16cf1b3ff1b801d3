//! What the MX hosts say on port 25: reachable, greeting, banner, relay.

use super::{Check, CheckContext, Hit, Subject, exchange_label};
use crate::finding::Severity;
use crate::observation::smtp::{DialogueErrorKind, SmtpProbe};
use crate::observation::{ExchangeObservation, Observation};
use std::net::IpAddr;

/// A greeting slower than this loses senders with short timeouts (and is a sign of tarpitting).
pub const SLOW_GREETING_MS: u64 = 10_000;

/// The probed addresses of an exchange.
pub(crate) fn probes(exchange: &ExchangeObservation) -> impl Iterator<Item = (IpAddr, &SmtpProbe)> {
    exchange
        .addresses
        .iter()
        .filter_map(|a| a.smtp.as_ref().map(|p| (a.ip, p)))
}

/// `Some(true)` when some address of the exchange greeted us, `Some(false)` when
/// every probed address failed to connect, `None` when not probed or in between.
fn exchange_up(exchange: &ExchangeObservation) -> Option<bool> {
    // An address family that could not be resolved may hold the address that answers.
    if exchange.lookups.any_failed() {
        return None;
    }
    let all: Vec<_> = probes(exchange).collect();
    if all.is_empty() {
        return None;
    }
    if all.iter().any(|(_, p)| p.answered()) {
        return Some(true);
    }
    if all.iter().all(|(_, p)| p.unreachable()) {
        return Some(false);
    }
    None
}

fn vantage() -> &'static str {
    " (as seen from where mxwatch ran: a network that blocks outgoing port 25 looks the same)"
}

pub static SMTP_ALL_UNREACHABLE: Check = Check {
    id: "SMTP-ALL-UNREACHABLE",
    severity: Severity::High,
    title: "No exchange answers on the SMTP port: mail cannot be delivered",
    explanation: "Every address of every exchange refused the connection or did not answer. Senders queue the \
                  mail and return it after their retry limit (four to five days): nothing reaches the domain.",
    fix: "Start the mail service or open port 25 to the internet on the exchanges, or point the MX records at \
          hosts that accept mail.",
    reference: "RFC 5321 §5.1, §4.5.4.1",
    run: smtp_all_unreachable,
};

fn smtp_all_unreachable(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    let states: Vec<Option<bool>> = obs.exchanges.iter().map(exchange_up).collect();
    if states.is_empty() || !states.iter().all(|s| *s == Some(false)) {
        return vec![];
    }
    vec![Hit::new(
        obs.domain.display(),
        format!(
            "none of the {} exchange(s) accepted a connection{}",
            states.len(),
            vantage()
        ),
    )]
}

pub static SMTP_PRIMARY_DOWN: Check = Check {
    id: "SMTP-PRIMARY-DOWN",
    severity: Severity::Medium,
    title: "The preferred exchanges do not answer: mail is going to the backup",
    explanation: "The exchanges with the best (lowest) preference refuse connections while a backup answers, so \
                  all mail goes through the backup. Backups are often less watched, less filtered and not kept \
                  in sync with the recipient list, and they queue mail the primary never sees.",
    fix: "Bring the primary exchange back, or change the preferences to match where mail really goes.",
    reference: "RFC 5321 §5.1",
    run: smtp_primary_down,
};

fn smtp_primary_down(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    let Some(best) = obs
        .exchanges
        .iter()
        .map(ExchangeObservation::best_preference)
        .min()
    else {
        return vec![];
    };
    let (primary, backup): (Vec<_>, Vec<_>) = obs
        .exchanges
        .iter()
        .partition(|e| e.best_preference() == best);
    let primary_down = !primary.is_empty() && primary.iter().all(|e| exchange_up(e) == Some(false));
    let backup_up: Vec<&str> = backup
        .iter()
        .filter(|e| exchange_up(e) == Some(true))
        .map(|e| e.name.as_str())
        .collect();
    if !primary_down || backup_up.is_empty() {
        return vec![];
    }
    let primaries: Vec<&str> = primary.iter().map(|e| e.name.as_str()).collect();
    vec![Hit::new(
        obs.domain.display(),
        format!(
            "preference {best} ({}) does not answer; {} does{}",
            primaries.join(", "),
            backup_up.join(", "),
            vantage()
        ),
    )]
}

pub static SMTP_UNREACHABLE: Check = Check {
    id: "SMTP-UNREACHABLE",
    severity: Severity::Medium,
    title: "An exchange does not answer on the SMTP port",
    explanation: "No address of this exchange accepted a TCP connection on port 25 (refused, timed out or \
                  unreachable). Senders waste a connection timeout on it for every message, and if it is a \
                  forgotten host, its address may one day belong to someone else.",
    fix: "Fix the mail service on this host, or remove its MX record.",
    reference: "RFC 5321 §5.1",
    run: smtp_unreachable,
};

fn smtp_unreachable(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    obs.exchanges
        .iter()
        .filter(|e| exchange_up(e) == Some(false))
        .map(|e| {
            let each: Vec<String> = probes(e)
                .map(|(ip, p)| format!("{ip}: {}", p.connect.describe()))
                .collect();
            Hit::new(
                exchange_label(&e.name),
                format!("{}{}", each.join("; "), vantage()),
            )
        })
        .collect()
}

/// One hit per probed address whose probe `f` finds a problem with (shared by the TLS checks).
pub(crate) fn per_probe(
    obs: &Observation,
    mut f: impl FnMut(&SmtpProbe) -> Option<String>,
) -> Vec<Hit> {
    per_exchange_probe(obs, |_, probe| f(probe))
}

/// Like [`per_probe`], with the exchange the probe belongs to.
pub(crate) fn per_exchange_probe(
    obs: &Observation,
    mut f: impl FnMut(&ExchangeObservation, &SmtpProbe) -> Option<String>,
) -> Vec<Hit> {
    let mut hits = Vec::new();
    for exchange in &obs.exchanges {
        for (ip, probe) in probes(exchange) {
            if let Some(detail) = f(exchange, probe) {
                hits.push(Hit::new(
                    format!("{} ({ip})", exchange_label(&exchange.name)),
                    detail,
                ));
            }
        }
    }
    hits
}

pub static SMTP_NO_GREETING: Check = Check {
    id: "SMTP-NO-GREETING",
    severity: Severity::Medium,
    title: "The host accepts connections but never completes its greeting",
    explanation: "The TCP connection opened, but no complete 220 greeting arrived before the time limit (a hung \
                  service, a firewall that accepts and drops, or a slow-drip tarpit). Senders hang until their \
                  own timeout and then try the next exchange. TLS could not be examined on this address.",
    fix: "Check the mail service on this host; a host that does not speak SMTP should not accept port 25.",
    reference: "RFC 5321 §4.3.1, §4.5.3.2.1",
    run: smtp_no_greeting,
};

fn smtp_no_greeting(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    per_probe(obs, |p| {
        let timed_out = p.error.as_ref().is_some_and(|e| {
            e.stage == "greeting"
                && matches!(
                    e.kind,
                    DialogueErrorKind::Timeout | DialogueErrorKind::Closed
                )
        });
        (p.connect.is_connected() && p.greeting.is_none() && timed_out).then(|| {
            let e = p
                .error
                .as_ref()
                .map(|e| e.detail.clone())
                .unwrap_or_default();
            format!("connected, but no greeting: {e}")
        })
    })
}

pub static SMTP_PROTOCOL_ERROR: Check = Check {
    id: "SMTP-PROTOCOL-ERROR",
    severity: Severity::Medium,
    title: "The host does not speak valid SMTP",
    explanation: "What the host sent on port 25 is not a valid SMTP reply (garbage, another protocol, or a line \
                  far over the length limit). Senders drop the connection and try elsewhere.",
    fix: "Make sure port 25 on this address is served by a mail server, not another service or a broken proxy.",
    reference: "RFC 5321 §4.2, §4.5.3.1.5",
    run: smtp_protocol_error,
};

fn smtp_protocol_error(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    per_probe(obs, |p| {
        p.error
            .as_ref()
            .filter(|e| e.kind == DialogueErrorKind::Protocol)
            .map(|e| format!("during {}: {}", e.stage, e.detail))
    })
}

pub static SMTP_SLOW_GREETING: Check = Check {
    id: "SMTP-SLOW-GREETING",
    severity: Severity::Low,
    title: "The greeting is very slow (tarpitting?)",
    explanation: "The 220 greeting took more than 10 seconds. RFC 5321 asks senders to wait 5 minutes, but many \
                  give up much sooner; slow greetings are usually deliberate anti-spam delays that also delay \
                  legitimate mail.",
    fix: "Lower the greeting delay, or apply it only to suspicious clients.",
    reference: "RFC 5321 §4.5.3.2.1",
    run: smtp_slow_greeting,
};

fn smtp_slow_greeting(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    per_probe(obs, |p| {
        let ms = p.greeting_ms?;
        (p.greeting.is_some() && ms > SLOW_GREETING_MS)
            .then(|| format!("the greeting took {:.1} s", ms as f64 / 1000.0))
    })
}

pub static SMTP_BANNER_MISMATCH: Check = Check {
    id: "SMTP-BANNER-MISMATCH",
    severity: Severity::Low,
    title: "The greeting names a host that is neither the exchange nor its reverse DNS",
    explanation: "The host name in the 220 greeting matches neither the MX exchange name nor the PTR of the \
                  address. It often means the MX points at a shared or repurposed host, a load balancer in front \
                  of another service, or an address that changed hands. Some senders score the mismatch as spam.",
    fix: "Make the server greet with its own name (Postfix `myhostname`, Exim `primary_hostname`) and keep \
          forward and reverse DNS on that name.",
    reference: "RFC 5321 §4.3.1; RFC 1912 §2.1",
    run: smtp_banner_mismatch,
};

fn smtp_banner_mismatch(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    let mut hits = Vec::new();
    for exchange in &obs.exchanges {
        for addr in &exchange.addresses {
            let Some(probe) = &addr.smtp else { continue };
            let Some(greeting) = probe.greeting.as_ref().filter(|g| g.is_positive()) else {
                continue;
            };
            let Some(host) = greeting.greeting_host() else {
                continue;
            };
            let ptr_names: Vec<String> = addr
                .ptr
                .as_ref()
                .and_then(|p| p.value().cloned())
                .unwrap_or_default();
            let chain = exchange.lookups.cname_chain();
            // Several exchange names may lead to one host, which can greet with only one of them.
            let sibling = obs
                .exchanges
                .iter()
                .any(|other| other.name == host && other.lookups.addresses().contains(&addr.ip));
            let known = host == exchange.name
                || ptr_names.contains(&host)
                || chain.contains(&host)
                || sibling;
            if !known {
                let ptr = if ptr_names.is_empty() {
                    "no PTR".to_string()
                } else {
                    ptr_names.join(", ")
                };
                hits.push(Hit::new(
                    format!("{} ({})", exchange_label(&exchange.name), addr.ip),
                    format!("greets as {host}; exchange {}, PTR {ptr}", exchange.name),
                ));
            }
        }
    }
    hits
}

pub static SMTP_OPEN_RELAY: Check = Check {
    id: "SMTP-OPEN-RELAY",
    severity: Severity::Critical,
    title: "Open relay: the host accepts mail for any domain from anyone",
    explanation: "With --probe-relay, mxwatch gave a sender and a recipient in domains the host has nothing to \
                  do with, and it accepted the recipient (it then reset the transaction; no message was sent). \
                  Spammers find open relays within hours; the host will be blocklisted and its mail refused.",
    fix: "Restrict relaying to authenticated users and your own networks (Postfix `smtpd_relay_restrictions`, \
          Exim `relay_from_hosts`), and accept only your own domains as recipients.",
    reference: "RFC 5321 §3.6.2, §7.1; RFC 2505",
    run: smtp_open_relay,
};

fn smtp_open_relay(obs: &Subject, _: &CheckContext) -> Vec<Hit> {
    per_probe(obs, |p| {
        let relay = p.relay.as_ref()?;
        relay.accepted().then(|| {
            let reply = relay
                .rcpt_reply
                .as_ref()
                .map(|r| r.one_line())
                .unwrap_or_default();
            format!(
                "accepted MAIL FROM:<{}> RCPT TO:<{}> ({reply})",
                relay.mail_from, relay.rcpt_to
            )
        })
    })
}
