//! The human table. Every string that came from the network goes through
//! `sanitize::for_terminal` before it is printed.

use super::{Sink, severity_label};
use comfy_table::{ContentArrangement, Table, presets};
use mxwatch_core::sanitize::for_terminal;
use mxwatch_core::{ExchangeObservation, Lookup, Report, Status};
use owo_colors::OwoColorize;
use std::io::{self, Write};

#[derive(Default)]
pub struct TableSink {
    reports: usize,
    with_findings: usize,
    indeterminate: usize,
}

impl Sink for TableSink {
    fn report(&mut self, report: &Report) -> io::Result<()> {
        self.reports += 1;
        match report.status {
            Status::Findings => self.with_findings += 1,
            Status::Indeterminate => self.indeterminate += 1,
            Status::Ok => {}
        }
        let mut out = anstream::stdout().lock();
        write!(out, "{}", render(report))?;
        out.flush()
    }

    fn finish(&mut self) -> io::Result<()> {
        if self.reports > 1 {
            let mut out = anstream::stdout().lock();
            writeln!(
                out,
                "{} domains: {} ok, {} with findings, {} could not be fully determined",
                self.reports,
                self.reports - self.with_findings - self.indeterminate,
                self.with_findings,
                self.indeterminate
            )?;
        }
        Ok(())
    }
}

fn status_label(status: Status) -> String {
    match status {
        Status::Ok => "ok".green().bold().to_string(),
        Status::Findings => "findings".red().bold().to_string(),
        Status::Indeterminate => "could not determine".yellow().bold().to_string(),
    }
}

/// One report as text.
pub fn render(report: &Report) -> String {
    let obs = &report.observation;
    let mut s = String::new();
    let title = if report.domain != report.domain_unicode {
        format!("{} ({})", report.domain_unicode, report.domain)
    } else {
        report.domain.clone()
    };
    s.push_str(&format!(
        "{}  {}\n",
        for_terminal(&title).bold(),
        status_label(report.status)
    ));
    for note in &report.notes {
        s.push_str(&format!("  note: {}\n", for_terminal(note)));
    }
    for limit in &obs.limits {
        s.push_str(&format!("  limit: {}\n", for_terminal(limit)));
    }
    s.push_str(&format!("  MX: {}\n", mx_summary(&obs.mx)));
    if let Some(ns) = obs.ns.value() {
        s.push_str(&format!("  NS: {}\n", for_terminal(&ns.join(", "))));
    }
    for registration in obs.rdap.iter().flat_map(|r| r.domains.iter()) {
        s.push_str(&format!("  RDAP: {}\n", registration_summary(registration)));
    }
    if !obs.exchanges.is_empty() {
        s.push_str(&format!("  {}\n", family_summary(&obs.exchanges)));
        let shown = obs.exchanges.len().min(MAX_TABLE_EXCHANGES);
        s.push_str(&indent(
            &exchange_table(&obs.exchanges[..shown]).to_string(),
        ));
        if shown < obs.exchanges.len() {
            s.push_str(&format!(
                "  … and {} more exchanges, all audited (--format json lists every one)\n",
                obs.exchanges.len() - shown
            ));
        }
        s.push('\n');
    }
    if report.findings.is_empty() {
        s.push_str("  no findings\n");
    }
    for f in &report.findings {
        s.push_str(&format!(
            "  {} {}  {}\n",
            severity_label(f.severity),
            f.id.bold(),
            for_terminal(&f.subject)
        ));
        s.push_str(&format!("           {}\n", f.title));
        s.push_str(&format!("           seen: {}\n", for_terminal(&f.detail)));
        s.push_str(&format!("           fix:  {}\n", f.fix));
        s.push_str(&format!("           ref:  {}\n", f.reference.dimmed()));
    }
    s.push('\n');
    s
}

fn mx_summary(mx: &Lookup<Vec<mxwatch_core::MxRecord>>) -> String {
    match mx {
        Lookup::Observed { value, ttl, .. } => {
            let nulls = value.iter().filter(|r| r.is_null()).count();
            let mut text = format!("{} record(s), TTL {ttl} s", value.len());
            if nulls > 0 {
                text.push_str(", null MX (\"0 .\")");
            }
            text
        }
        other => for_terminal(&other.outcome_label()),
    }
}

/// Exchanges shown in the table; the findings cover all of them.
const MAX_TABLE_EXCHANGES: usize = 20;

/// How many exchanges each address family reaches.
/// One registration in a line: whose, until when, locked or not; or why it is not known.
fn registration_summary(d: &mxwatch_core::observation::rdap::DomainRegistration) -> String {
    use mxwatch_core::observation::rdap::RdapOutcome;
    let whose = if d.exchanges.is_empty() {
        d.domain.clone()
    } else {
        format!("{} (MX {})", d.domain, d.exchanges.join(", "))
    };
    let what = match &d.outcome {
        RdapOutcome::Registered { record } => {
            // The date part of the RFC 3339 expiry, as the registry wrote it.
            let expires = record
                .expires
                .as_deref()
                .map(|e| format!("expires {}", e.get(..10).unwrap_or(e)))
                .unwrap_or_else(|| "no expiry date".into());
            let locks = record.lock_statuses();
            let locked = if locks.is_empty() {
                "no registrar lock".to_string()
            } else {
                format!("locked ({})", locks.join(", "))
            };
            format!("{expires} · {locked}")
        }
        RdapOutcome::NotFound => "not registered (RDAP 404)".into(),
        RdapOutcome::NoService { .. } => "no RDAP service for its TLD".into(),
        RdapOutcome::Failed { failure, .. } => {
            format!("could not determine ({})", failure.describe())
        }
    };
    for_terminal(&format!("{whose}: {what}"))
}

fn family_summary(exchanges: &[ExchangeObservation]) -> String {
    let total = exchanges.len();
    let v4 = exchanges
        .iter()
        .filter(|e| e.lookups.a.value().is_some())
        .count();
    let v6 = exchanges
        .iter()
        .filter(|e| e.lookups.aaaa.value().is_some())
        .count();
    format!("IPv4: {v4} of {total} exchanges have addresses · IPv6: {v6} of {total}")
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

fn exchange_table(exchanges: &[ExchangeObservation]) -> Table {
    let mut table = Table::new();
    table
        .load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header([
            "pref",
            "exchange",
            "family",
            "address",
            "reverse DNS",
            "SMTP / TLS",
        ]);
    for exchange in exchanges {
        let prefs: Vec<String> = exchange
            .preferences
            .iter()
            .map(ToString::to_string)
            .collect();
        let mut name = for_terminal(&mxwatch_core::name::to_unicode(&exchange.name));
        let chain = exchange.lookups.cname_chain();
        if !chain.is_empty() {
            name.push_str(&format!("\n→ {}", for_terminal(&chain.join(" → "))));
        }
        let mut rows = Vec::new();
        for (family, lookup) in [
            ("IPv4", &exchange.lookups.a),
            ("IPv6", &exchange.lookups.aaaa),
        ] {
            match lookup.value() {
                Some(ips) => {
                    for ip in ips {
                        rows.push([
                            family.to_string(),
                            ip.to_string(),
                            reverse(exchange, *ip),
                            smtp(exchange, *ip),
                        ]);
                    }
                }
                // "No AAAA" beside working IPv4 is said once in the family summary, not per row.
                None if lookup.is_absent() && !exchange.lookups.addresses().is_empty() => {}
                None => rows.push([
                    family.to_string(),
                    for_terminal(&lookup.outcome_label()),
                    String::new(),
                    String::new(),
                ]),
            }
        }
        for (i, [family, address, rdns, smtp]) in rows.into_iter().enumerate() {
            let (p, n) = if i == 0 {
                (prefs.join(","), name.clone())
            } else {
                (String::new(), String::new())
            };
            table.add_row([p, n, family, address, rdns, smtp]);
        }
    }
    table
}

fn reverse(exchange: &ExchangeObservation, ip: std::net::IpAddr) -> String {
    let Some(addr) = exchange.addresses.iter().find(|a| a.ip == ip) else {
        return String::new();
    };
    let Some(ptr) = &addr.ptr else {
        return "not looked up (non-routable)".into();
    };
    match ptr.value() {
        Some(names) => {
            let mark = match addr.forward_confirmed() {
                Some(true) => " (confirmed)",
                Some(false) => " (does not resolve back)",
                None => " (could not confirm)",
            };
            format!("{}{mark}", for_terminal(&names.join(", ")))
        }
        None => for_terminal(&ptr.outcome_label()),
    }
}

/// One address's SMTP dialogue in a few words: greeting, STARTTLS, TLS and certificate.
fn smtp(exchange: &ExchangeObservation, ip: std::net::IpAddr) -> String {
    use mxwatch_core::observation::smtp::StartTls;
    let Some(probe) = exchange
        .addresses
        .iter()
        .find(|a| a.ip == ip)
        .and_then(|a| a.smtp.as_ref())
    else {
        return String::new();
    };
    if !probe.connect.is_connected() {
        return probe.connect.describe();
    }
    let Some(greeting) = &probe.greeting else {
        return match &probe.error {
            Some(e) => format!("no greeting ({})", for_terminal(&e.detail)),
            None => "no greeting".into(),
        };
    };
    let first_line = greeting.lines.first().map(String::as_str).unwrap_or("");
    let mut parts = vec![format!(
        "{} {}",
        greeting.code,
        for_terminal(first_line)
            .chars()
            .take(40)
            .collect::<String>()
    )];
    if let Some(ms) = probe.greeting_ms.filter(|ms| *ms > 2000) {
        parts.push(format!("greeting after {:.1} s", ms as f64 / 1000.0));
    }
    parts.push(match &probe.starttls {
        StartTls::NotReached => match &probe.error {
            Some(e) => format!("stopped at {}: {}", e.stage, for_terminal(&e.detail)),
            None => "STARTTLS not reached".into(),
        },
        StartTls::NotOffered => "no STARTTLS".into(),
        StartTls::Refused { reply } => {
            format!("STARTTLS refused: {}", for_terminal(&reply.one_line()))
        }
        StartTls::HandshakeFailed { kind, .. } => format!("TLS failed ({kind:?})"),
        StartTls::Established => match &probe.tls {
            Some(tls) => format!("{} {}", tls.version, tls.cipher),
            None => "TLS".into(),
        },
    });
    if let (Some(verdict), Some(leaf)) = (&probe.verdict, probe.certificates.first()) {
        let mut problems = Vec::new();
        if !verdict.trusted {
            problems.push("untrusted");
        }
        if !verdict.name_matches {
            problems.push("wrong name");
        }
        let state = if problems.is_empty() {
            "ok".to_string()
        } else {
            problems.join(", ")
        };
        parts.push(format!(
            "cert {state}, {} {} bits",
            for_terminal(&leaf.key_type),
            leaf.key_bits
        ));
    }
    if probe.relay.as_ref().is_some_and(|r| r.accepted()) {
        parts.push("OPEN RELAY".into());
    }
    parts.join("\n")
}
