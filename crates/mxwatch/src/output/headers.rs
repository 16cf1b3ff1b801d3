//! `mxwatch headers` for people: the hops as a table, the MX entry, the
//! Authentication-Results as received, and the notes. Every string from the
//! message goes through `for_terminal`: a header is the sender's to write.

use comfy_table::{ContentArrangement, Table, presets};
use mxwatch_core::Lookup;
use mxwatch_core::headers::auth_results::{AuthResultsKind, Placement};
use mxwatch_core::headers::mx::MatchKind;
use mxwatch_core::headers::notes;
use mxwatch_core::headers::timing::human_duration;
use mxwatch_core::headers::{Analysis, Hop, MxEntry, MxStatus, NoteLevel, Parsed, Tls};
use mxwatch_core::sanitize::for_terminal;
use owo_colors::OwoColorize;
use std::fmt::Write as _;
use std::net::IpAddr;

/// Longest text of one cell before it is cut.
const CELL: usize = 60;

pub fn table(a: &Analysis, input: &str, raw: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", format!("Message: {}", safe(input)).bold());
    match &a.domain {
        Some(d) => {
            let _ = writeln!(
                out,
                "Recipient domain: {} (from {})",
                safe(&d.domain),
                safe(&d.source)
            );
        }
        None => {
            let _ = writeln!(out, "Recipient domain: none found (give --domain)");
        }
    }
    if let Some(res) = &a.mx {
        let _ = writeln!(out, "MX of {}: {}", safe(&res.domain), mx_line(a));
    }
    let _ = writeln!(out);
    if a.hops.is_empty() {
        let _ = writeln!(out, "No Received fields.");
    } else {
        let _ = writeln!(
            out,
            "Received chain, first hop first ({} of {} shown):",
            a.hops.len(),
            a.received_total
        );
        let _ = writeln!(out, "{}", hop_table(&a.hops, &a.mx_entry));
    }
    let _ = writeln!(out, "{}", entry_line(&a.mx_entry));
    if !a.auth_results.is_empty() {
        let _ = writeln!(
            out,
            "\nAuthentication-Results, top first, as received (mxwatch verified none of them):"
        );
        for r in &a.auth_results {
            let kind = match r.kind {
                AuthResultsKind::AuthenticationResults => "Authentication-Results".to_string(),
                AuthResultsKind::ArcAuthenticationResults => format!(
                    "ARC-Authentication-Results i={}",
                    r.instance.map(|i| i.to_string()).unwrap_or("?".into())
                ),
            };
            let place = match (r.placement, r.kind) {
                (Placement::AfterEntry, _) => " [added on arrival or after]",
                (Placement::BeforeEntry, AuthResultsKind::ArcAuthenticationResults) => {
                    " [from an intermediary, before arrival]"
                }
                (Placement::BeforeEntry, _) => {
                    " [already in the message on arrival: not your hosts' word]"
                }
                (Placement::Unknown, _) => "",
            };
            let _ = writeln!(
                out,
                "  {kind} by {}{place}{}",
                safe(r.authserv_id.as_deref().unwrap_or("(no authserv-id)")),
                if r.none { ": none" } else { "" }
            );
            for m in &r.results {
                let props: Vec<String> = m
                    .properties
                    .iter()
                    .map(|p| format!("{}={}", p.name, p.value))
                    .collect();
                let mut parts = vec![format!("    {:<6} {:<9}", m.method, m.result)];
                parts.extend(props);
                if let Some(reason) = &m.reason {
                    parts.push(format!("reason=\"{reason}\""));
                }
                if let Some(comment) = &m.comment {
                    parts.push(format!("({comment})"));
                }
                let line = parts.join(" ");
                let _ = writeln!(out, "{}", cut(&safe(line.trim_end()), 160));
            }
            for u in &r.unparsed {
                let _ = writeln!(out, "    unparsed: {}", cut(&safe(u), 120));
            }
        }
    }
    let notes: Vec<_> = a
        .notes
        .iter()
        .filter(|n| n.code != notes::MX_ENTRY.id)
        .collect();
    if !notes.is_empty() {
        let _ = writeln!(out, "\nNotes:");
        for n in notes {
            let level = match n.level {
                NoteLevel::Warning => "WARNING".yellow().to_string(),
                NoteLevel::Info => "info   ".dimmed().to_string(),
            };
            let _ = writeln!(out, "  {level} {:<26} {}", n.code, safe(&n.text));
        }
    }
    if raw && !a.hops.is_empty() {
        let _ = writeln!(out, "\nReceived fields as written:");
        for hop in &a.hops {
            let _ = writeln!(out, "  {:>3}  {}", hop.number, safe(&hop.raw));
        }
    }
    out
}

fn hop_table(hops: &[Hop], entry: &MxEntry) -> Table {
    let mut table = Table::new();
    table
        .load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header([
            "#",
            "from",
            "by",
            "with",
            "TLS",
            "time (UTC)",
            "delay",
            "MX",
        ]);
    for hop in hops {
        let from = match (&hop.parsed, &hop.from) {
            (Parsed::Unparsed { .. }, _) if hop.raw.is_empty() => "unparsed:\n(empty field)".into(),
            (Parsed::Unparsed { .. }, _) => {
                format!("unparsed:\n{}", cut(&safe(&hop.raw), CELL))
            }
            (_, Some(f)) => {
                let mut lines = Vec::new();
                if let Some(h) = &f.helo {
                    lines.push(cut(&safe(h), CELL));
                }
                if let Some(r) = f.reverse.as_ref().filter(|r| Some(*r) != f.helo.as_ref()) {
                    lines.push(format!("rDNS {}", cut(&safe(r), CELL)));
                }
                if let Some(ip) = f.ip {
                    lines.push(format!("[{ip}]"));
                }
                lines.join("\n")
            }
            (_, None) => "-".into(),
        };
        let time = match &hop.time {
            Some(t) => match &t.utc {
                Some(utc) => utc.trim_end_matches('Z').replace('T', " "),
                None => format!("unreadable:\n{}", cut(&safe(&t.text), 40)),
            },
            None => "-".into(),
        };
        let delay = match hop.delay_seconds {
            Some(d) if d < 0 => format!("-{}\nclock skew", human_duration(d.unsigned_abs())),
            Some(d) => format!("+{}", human_duration(d.unsigned_abs())),
            None => String::new(),
        };
        table.add_row([
            hop.number.to_string(),
            from,
            hop.by
                .as_deref()
                .map(|b| cut(&safe(b), CELL))
                .unwrap_or("-".into()),
            hop.with.as_deref().map(safe).unwrap_or_default(),
            tls(&hop.tls),
            time,
            delay,
            mx_status(&hop.mx) + marker(entry, hop.number),
        ]);
    }
    table
}

/// Points at the hop the verdict is about.
fn marker(entry: &MxEntry, hop: usize) -> &'static str {
    match entry {
        MxEntry::Primary { hop: h, .. } if *h == hop => "\n◄ entry",
        MxEntry::Backup { hop: h, .. } if *h == hop => "\n◄ entry (backup)",
        MxEntry::Bypassed { hop: h, .. } if *h == hop => "\n◄ bypass",
        _ => "",
    }
}

fn tls(t: &Tls) -> String {
    match t {
        Tls::Stated { version, cipher } => [version.as_deref(), cipher.as_deref()]
            .into_iter()
            .flatten()
            .map(|s| cut(&safe(s), 40))
            .collect::<Vec<_>>()
            .join("\n"),
        Tls::Implied { with } => format!("yes ({})", safe(with)),
        Tls::NotUsed { with } => format!("no ({})", safe(with)),
        Tls::NotSaid => "not said".into(),
    }
}

fn mx_status(s: &MxStatus) -> String {
    match s {
        MxStatus::NotChecked => "not checked".into(),
        MxStatus::NoHost => "-".into(),
        MxStatus::NotMx => "not an MX".into(),
        MxStatus::Indeterminate { .. } => "could not\ndetermine".into(),
        MxStatus::Exchange {
            exchange,
            preference,
            matched,
        } => {
            let how = match matched {
                MatchKind::Name => String::new(),
                MatchKind::Address { ip } | MatchKind::AddressLiteral { ip } => {
                    format!("\nby address {ip}")
                }
                MatchKind::Sender => "\nas sender".into(),
            };
            format!("MX {preference}\n{}{how}", safe(exchange))
        }
    }
}

fn entry_line(entry: &MxEntry) -> String {
    let text = match entry {
        MxEntry::Primary {
            hop,
            exchange,
            preference,
            matched,
        } => format!(
            "MX entry: hop {hop}, {} (MX {preference}, the best preference){}",
            safe(exchange),
            how(matched)
        ),
        MxEntry::Backup {
            hop,
            exchange,
            preference,
            best_preference,
            matched,
        } => format!(
            "MX entry: hop {hop}, {} (MX {preference}: a BACKUP; the best is MX {best_preference}){}",
            safe(exchange),
            how(matched)
        ),
        MxEntry::Bypassed { hop, host } => format!(
            "MX entry: NONE. At hop {hop} the message went straight to {}, which is not an MX: the MX was bypassed",
            safe(host)
        ),
        MxEntry::NoMxHop => "MX entry: no hop is at an MX host of the domain".into(),
        MxEntry::NullMx => "MX entry: the domain publishes the null MX (it accepts no mail)".into(),
        MxEntry::NoSuchDomain => "MX entry: the domain does not exist".into(),
        MxEntry::Indeterminate { why } => {
            format!("MX entry: could not determine ({})", safe(why))
        }
        MxEntry::NotChecked { why } => format!("MX entry: not checked ({})", safe(why)),
    };
    text.bold().to_string()
}

fn how(matched: &MatchKind) -> String {
    match matched {
        MatchKind::Name => String::new(),
        MatchKind::Address { ip } => format!(", matched by its address {ip}"),
        MatchKind::AddressLiteral { ip } => format!(", matched by the address literal {ip}"),
        MatchKind::Sender => ", seen as the sender of that hop".into(),
    }
}

fn mx_line(a: &Analysis) -> String {
    let Some(res) = &a.mx else {
        return String::new();
    };
    if let Lookup::Failed { failure, .. } = &res.mx {
        return format!("could not resolve ({})", failure.describe());
    }
    if res.exchanges.is_empty() {
        return format!("({})", res.mx.outcome_label());
    }
    res.exchanges
        .iter()
        .map(|e| {
            let addrs: Vec<IpAddr> = [&e.a, &e.aaaa]
                .into_iter()
                .filter_map(|l| l.value())
                .flatten()
                .copied()
                .collect();
            let addrs = if addrs.is_empty() {
                format!("{}/{}", e.a.outcome_label(), e.aaaa.outcome_label())
            } else {
                addrs
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let implicit = if e.implicit { " (implicit MX)" } else { "" };
            format!("{} {}{implicit} [{addrs}]", e.preference, safe(&e.exchange))
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

fn safe(text: &str) -> String {
    for_terminal(text)
}

fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let head: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{head}…")
}
