//! Which hop is where the message entered the recipient domain's MX.
//!
//! A hop is at an MX host when its `by` name is an MX exchange, when its `by`
//! address literal is one of the exchanges' addresses, or when its `by` name
//! resolves to one of them (MX targets and the names hosts give themselves often
//! differ: `MX 10 mx.example.com` on a host that calls itself `smtp-in-03`).
//! A lookup that failed makes a hop "could not determine", never "not an MX".

use super::auth_results::{AuthResults, AuthResultsKind, Placement};
use super::notes::{self, NoteKind};
use super::recipient::RecipientDomain;
use super::{Hop, Note};
use crate::{Absence, Lookup, MxRecord};
use serde::Serialize;
use std::net::IpAddr;

/// At most this many exchanges of the domain are resolved.
pub const MAX_EXCHANGES: usize = 32;
/// At most this many host names from the trace are resolved to compare addresses.
pub const MAX_HOST_LOOKUPS: usize = 16;

/// What DNS said about the recipient domain's mail hosts (filled by the caller).
#[derive(Clone, Debug, Serialize)]
pub struct MxResolution {
    pub domain: String,
    pub mx: Lookup<Vec<MxRecord>>,
    pub exchanges: Vec<ExchangeAddresses>,
    /// Host names from the trace, looked up to compare their addresses with the exchanges'.
    pub hosts: Vec<HostAddresses>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ExchangeAddresses {
    pub exchange: String,
    pub preference: u16,
    /// The domain itself, used because it has no MX (RFC 5321 §5.1).
    pub implicit: bool,
    pub a: Lookup<Vec<IpAddr>>,
    pub aaaa: Lookup<Vec<IpAddr>>,
}

#[derive(Clone, Debug, Serialize)]
pub struct HostAddresses {
    pub name: String,
    pub a: Lookup<Vec<IpAddr>>,
    pub aaaa: Lookup<Vec<IpAddr>>,
}

/// How a hop was found to be at an MX host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "how", rename_all = "snake_case")]
pub enum MatchKind {
    /// Its `by` name is the exchange's name.
    Name,
    /// Its `by` name resolves to the exchange's address.
    Address { ip: IpAddr },
    /// Its `by` is an address literal of the exchange.
    AddressLiteral { ip: IpAddr },
    /// The exchange is the hop's sender (it wrote no `Received` of its own).
    Sender,
}

/// One hop against the MX set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum MxStatus {
    /// No DNS was asked (`--no-resolve`, or no recipient domain).
    NotChecked,
    /// The hop names no receiving host.
    NoHost,
    Exchange {
        exchange: String,
        preference: u16,
        #[serde(flatten)]
        matched: MatchKind,
    },
    NotMx,
    Indeterminate {
        why: String,
    },
}

/// Where the message entered the recipient's MX, if it did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum MxEntry {
    NotChecked {
        why: String,
    },
    /// DNS could not say (the MX lookup failed, or a hop could not be compared).
    Indeterminate {
        why: String,
    },
    /// The domain does not exist (NXDOMAIN).
    NoSuchDomain,
    /// The domain publishes the null MX (RFC 7505): it accepts no mail.
    NullMx,
    /// Through an exchange of the best (lowest) preference.
    Primary {
        hop: usize,
        exchange: String,
        preference: u16,
        #[serde(flatten)]
        matched: MatchKind,
    },
    /// Through an exchange of a worse preference than the best.
    Backup {
        hop: usize,
        exchange: String,
        preference: u16,
        best_preference: u16,
        #[serde(flatten)]
        matched: MatchKind,
    },
    /// It reached a host of the recipient's own domain that is no MX, through no MX.
    Bypassed {
        hop: usize,
        host: String,
    },
    /// No hop is at an MX of the domain, nor at another host of the domain.
    NoMxHop,
}

impl MxEntry {
    pub fn hop(&self) -> Option<usize> {
        match self {
            MxEntry::Primary { hop, .. }
            | MxEntry::Backup { hop, .. }
            | MxEntry::Bypassed { hop, .. } => Some(*hop),
            _ => None,
        }
    }
}

/// The exchanges to resolve: each distinct exchange at its best preference (the domain
/// itself when it has no MX); none for the null MX or a failed lookup.
pub fn exchanges_to_resolve(domain: &str, mx: &Lookup<Vec<MxRecord>>) -> Vec<(String, u16, bool)> {
    match mx {
        Lookup::Observed { value, .. } => {
            let mut out: Vec<(String, u16, bool)> = Vec::new();
            for record in value {
                let name = normalise(&record.exchange);
                if name.is_empty() || name == "." {
                    continue;
                }
                match out.iter_mut().find(|(n, _, _)| *n == name) {
                    Some(existing) => existing.1 = existing.1.min(record.preference),
                    None => out.push((name, record.preference, false)),
                }
            }
            out.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
            out.truncate(MAX_EXCHANGES);
            out
        }
        Lookup::Absent {
            absence: Absence::NoData,
            ..
        } => vec![(normalise(domain), 0, true)],
        _ => Vec::new(),
    }
}

/// The `by` names worth resolving: those under the recipient domain's registrable
/// domain or an exchange's, nearest the recipient first. Hosts elsewhere cannot be
/// the domain's MX under another name except by sharing an address, and asking
/// about every host a sender wrote would let the sender steer our queries.
pub fn names_to_resolve(
    hops: &[Hop],
    domain: &str,
    exchanges: &[(String, u16, bool)],
) -> Vec<String> {
    let mut scopes: Vec<String> = std::iter::once(domain)
        .chain(exchanges.iter().map(|(name, _, _)| name.as_str()))
        .filter_map(|name| crate::name::registrable_domain(name).map(|(r, _)| r))
        .collect();
    scopes.sort();
    scopes.dedup();
    let mut out: Vec<String> = Vec::new();
    for hop in hops.iter().rev() {
        let Some(by) = hop.by.as_deref() else {
            continue;
        };
        if hop.by_ip.is_some() || exchanges.iter().any(|(n, _, _)| n == by) {
            continue;
        }
        if crate::name::check_host_syntax(by).is_err() {
            continue;
        }
        if !scopes.iter().any(|scope| is_under(by, scope)) || out.iter().any(|n| n == by) {
            continue;
        }
        out.push(by.to_string());
        if out.len() == MAX_HOST_LOOKUPS {
            break;
        }
    }
    out
}

/// Marks each hop and finds the entry.
pub fn find_entry(
    hops: &mut [Hop],
    domain: Option<&RecipientDomain>,
    resolution: Option<&MxResolution>,
) -> MxEntry {
    let Some(domain) = domain else {
        return MxEntry::NotChecked {
            why: "no recipient domain: none given with --domain, and no Delivered-To, X-Original-To or To address".into(),
        };
    };
    let Some(resolution) = resolution else {
        return MxEntry::NotChecked {
            why: format!(
                "the MX of {} were not resolved (--no-resolve)",
                domain.domain
            ),
        };
    };
    match &resolution.mx {
        Lookup::Failed { failure, .. } => {
            return MxEntry::Indeterminate {
                why: format!(
                    "the MX lookup of {} failed: {}",
                    domain.domain,
                    failure.describe()
                ),
            };
        }
        Lookup::Absent {
            absence: Absence::NxDomain,
            ..
        } => return MxEntry::NoSuchDomain,
        Lookup::Observed { value, .. }
            if !value.is_empty()
                && value
                    .iter()
                    .all(|r| r.exchange == "." || r.exchange.is_empty()) =>
        {
            return MxEntry::NullMx;
        }
        _ => {}
    }
    for hop in hops.iter_mut() {
        hop.mx = hop_status(hop, resolution);
    }
    let best = resolution.exchanges.iter().map(|e| e.preference).min();
    let entry = hops
        .iter()
        .find_map(|hop| match &hop.mx {
            MxStatus::Exchange {
                exchange,
                preference,
                matched,
            } => Some((hop.number, exchange.clone(), *preference, matched.clone())),
            _ => None,
        })
        .or_else(|| sender_side_entry(hops, resolution));
    if let Some((hop, exchange, preference, matched)) = entry {
        return match best {
            Some(best) if preference > best => MxEntry::Backup {
                hop,
                exchange,
                preference,
                best_preference: best,
                matched,
            },
            _ => MxEntry::Primary {
                hop,
                exchange,
                preference,
                matched,
            },
        };
    }
    if let Some(hop) = hops
        .iter()
        .find(|h| matches!(h.mx, MxStatus::Indeterminate { .. }))
    {
        let why = match &hop.mx {
            MxStatus::Indeterminate { why } => why.clone(),
            _ => String::new(),
        };
        return MxEntry::Indeterminate {
            why: format!(
                "hop {} could not be compared with the MX: {why}",
                hop.number
            ),
        };
    }
    let own = crate::name::registrable_domain(&domain.domain).map(|(r, _)| r);
    let inside = hops.iter().find(|hop| {
        hop.mx == MxStatus::NotMx
            && hop.by_ip.is_none()
            && own
                .as_deref()
                .zip(hop.by.as_deref())
                .is_some_and(|(own, by)| is_under(by, own))
    });
    match inside {
        Some(hop) => MxEntry::Bypassed {
            hop: hop.number,
            host: hop.by.clone().unwrap_or_default(),
        },
        None => MxEntry::NoMxHop,
    }
}

fn hop_status(hop: &Hop, resolution: &MxResolution) -> MxStatus {
    let Some(by) = hop.by.as_deref() else {
        return MxStatus::NoHost;
    };
    if let Some(e) = resolution.exchanges.iter().find(|e| e.exchange == by) {
        return exchange_status(e, MatchKind::Name);
    }
    let exchange_lookup_failed = resolution
        .exchanges
        .iter()
        .find(|e| e.a.is_failed() || e.aaaa.is_failed());
    if let Some(ip) = hop.by_ip {
        if let Some(e) = exchange_with_address(resolution, ip) {
            return exchange_status(e, MatchKind::AddressLiteral { ip });
        }
        return match exchange_lookup_failed {
            Some(e) => MxStatus::Indeterminate {
                why: format!("the addresses of {} could not be resolved", e.exchange),
            },
            None => MxStatus::NotMx,
        };
    }
    let Some(host) = resolution.hosts.iter().find(|h| h.name == by) else {
        // Not looked up: outside the domain's and its MX hosts' domains (see names_to_resolve).
        return MxStatus::NotMx;
    };
    for ip in observed(&host.a).iter().chain(observed(&host.aaaa)) {
        if let Some(e) = exchange_with_address(resolution, *ip) {
            return exchange_status(e, MatchKind::Address { ip: *ip });
        }
    }
    if host.a.is_failed() || host.aaaa.is_failed() {
        return MxStatus::Indeterminate {
            why: format!("the addresses of {by} could not be resolved"),
        };
    }
    if let Some(e) = exchange_lookup_failed {
        return MxStatus::Indeterminate {
            why: format!("the addresses of {} could not be resolved", e.exchange),
        };
    }
    MxStatus::NotMx
}

/// When no hop's `by` is an MX but an MX host is the sender of a hop, the message passed
/// through that MX, which wrote no `Received` (or had it removed).
fn sender_side_entry(
    hops: &[Hop],
    resolution: &MxResolution,
) -> Option<(usize, String, u16, MatchKind)> {
    hops.iter().find_map(|hop| {
        let from = hop.from.as_ref()?;
        let by_name = [from.helo.as_deref(), from.reverse.as_deref()]
            .into_iter()
            .flatten()
            .find_map(|name| resolution.exchanges.iter().find(|e| e.exchange == name));
        let e = by_name.or_else(|| from.ip.and_then(|ip| exchange_with_address(resolution, ip)))?;
        Some((
            hop.number,
            e.exchange.clone(),
            e.preference,
            MatchKind::Sender,
        ))
    })
}

fn exchange_status(e: &ExchangeAddresses, matched: MatchKind) -> MxStatus {
    MxStatus::Exchange {
        exchange: e.exchange.clone(),
        preference: e.preference,
        matched,
    }
}

fn exchange_with_address(resolution: &MxResolution, ip: IpAddr) -> Option<&ExchangeAddresses> {
    resolution
        .exchanges
        .iter()
        .find(|e| observed(&e.a).contains(&ip) || observed(&e.aaaa).contains(&ip))
}

fn observed(lookup: &Lookup<Vec<IpAddr>>) -> &[IpAddr] {
    lookup.value().map(Vec::as_slice).unwrap_or_default()
}

fn normalise(name: &str) -> String {
    let trimmed = name.trim_end_matches('.');
    if trimmed.is_empty() && !name.is_empty() {
        return ".".into();
    }
    trimmed.to_ascii_lowercase()
}

fn is_under(name: &str, zone: &str) -> bool {
    name == zone
        || name
            .strip_suffix(zone)
            .is_some_and(|head| head.ends_with('.'))
}

/// Which Authentication-Results were written after the message entered the MX.
pub fn place_auth_results(results: &mut [AuthResults], hops: &[Hop], entry: &MxEntry) {
    let entry_hop = entry
        .hop()
        .and_then(|n| hops.iter().find(|h| h.number == n));
    let Some(entry_hop) = entry_hop else {
        return;
    };
    // The Received just below the entry's (the previous hop's), bounding where the entry
    // host's own filters may have put their field.
    let below = hops
        .iter()
        .filter(|h| h.header_index > entry_hop.header_index)
        .map(|h| h.header_index)
        .min()
        .unwrap_or(usize::MAX);
    for result in results {
        result.placement = if result.header_index < entry_hop.header_index {
            Placement::AfterEntry
        } else if result.header_index < below
            && result.authserv_id.as_deref().is_some_and(|id| {
                Some(id) == entry_hop.by.as_deref() || entry_exchange(entry) == Some(id)
            })
        {
            // Right under the entry host's Received, in its own name: its milter wrote it.
            Placement::AfterEntry
        } else {
            Placement::BeforeEntry
        };
    }
}

fn entry_exchange(entry: &MxEntry) -> Option<&str> {
    match entry {
        MxEntry::Primary { exchange, .. } | MxEntry::Backup { exchange, .. } => Some(exchange),
        _ => None,
    }
}

pub fn entry_notes(entry: &MxEntry, domain: Option<&RecipientDomain>) -> Vec<Note> {
    let d = domain
        .map(|d| d.domain.as_str())
        .unwrap_or("the recipient domain");
    let (kind, text): (&'static NoteKind, String) = match entry {
        MxEntry::NotChecked { why } => {
            (&notes::MX_NOT_CHECKED, format!("MX hop not checked: {why}"))
        }
        MxEntry::Indeterminate { why } => (
            &notes::MX_INDETERMINATE,
            format!("could not determine where the message entered the MX of {d}: {why}"),
        ),
        MxEntry::NoSuchDomain => (
            &notes::NO_SUCH_DOMAIN,
            format!("{d} does not exist (NXDOMAIN): it has no MX to enter"),
        ),
        MxEntry::NullMx => (
            &notes::NULL_MX,
            format!(
                "{d} publishes the null MX (RFC 7505): it says it accepts no mail, yet this message was delivered"
            ),
        ),
        MxEntry::Primary {
            hop,
            exchange,
            preference,
            matched,
        } => (
            &notes::MX_ENTRY,
            format!(
                "entered the MX of {d} at hop {hop}: {exchange} (MX {preference}, the best preference){}",
                matched_suffix(matched)
            ),
        ),
        MxEntry::Backup {
            hop,
            exchange,
            preference,
            best_preference,
            matched,
        } => (
            &notes::BACKUP_MX,
            format!(
                "entered the MX of {d} at hop {hop} through the backup {exchange} (MX {preference}; the best is MX {best_preference}){}: \
                 the primary was unreachable, or the sender skipped it on purpose (spammers do: backups often filter less)",
                matched_suffix(matched)
            ),
        ),
        MxEntry::Bypassed { hop, host } => (
            &notes::MX_BYPASS,
            format!(
                "delivered at hop {hop} straight to {host}, a host of {d} that is none of its MX, without passing any MX: \
                 a direct-to-backend delivery skips the MX's filtering; let that host accept mail only from the MX hosts"
            ),
        ),
        MxEntry::NoMxHop => (
            &notes::NO_MX_HOP,
            format!(
                "no hop is at an MX host of {d}: the MX may have changed since, the receiving hosts may name themselves \
                 differently (a provider's), or the header may be incomplete"
            ),
        ),
    };
    vec![Note::new(kind, text)]
}

fn matched_suffix(matched: &MatchKind) -> String {
    match matched {
        MatchKind::Name => String::new(),
        MatchKind::Address { ip } => format!(", by address {ip}"),
        MatchKind::AddressLiteral { ip } => format!(", by the address literal {ip}"),
        MatchKind::Sender => {
            ", seen as the sender of that hop (it added no Received of its own)".into()
        }
    }
}

pub fn auth_results_notes(results: &[AuthResults]) -> Vec<Note> {
    results
        .iter()
        .filter(|r| {
            r.kind == AuthResultsKind::AuthenticationResults && r.placement == Placement::BeforeEntry
        })
        .map(|r| {
            Note::new(
                &notes::AR_BEFORE_ENTRY,
                format!(
                "Authentication-Results from {} was already in the message when it reached the recipient's hosts: anyone \
                 upstream, the sender too, can write such a field (RFC 8601 §5); trust only your own hosts' results",
                r.authserv_id.as_deref().unwrap_or("(no authserv-id)")
            ),
            )
        })
        .collect()
}
