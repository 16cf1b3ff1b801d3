//! What a change does: the consequences of going from one observation of a domain to another.
//!
//! One pure comparison serves two questions. `check --zone` asks "what would this zone change
//! do?" (before = what is live, after = the live answers with the proposed zone laid over them);
//! `watch` and `diff` ask "what did this change do?" (before = the reference, after = the new
//! look). The rules span records and time (a cached MTA-STS policy, a cached MX RRset, a TLSA
//! record that matched the old key) so they cannot be single-observation checks: they have their
//! own registry, [`RULES`], documented beside the checks (`docs/checks.md`, `mxwatch explain`).
//!
//! Could not determine is never a consequence: a rule reads only parts observed on both sides.

use super::dane::dane_validates;
use super::mta_sts::{parse_fetched, sts_records};
use super::smtp::probes;
use super::spf::own_record;
use crate::finding::{Finding, FindingId, Severity};
use crate::headers::timing::human_duration;
use crate::name::registrable_domain;
use crate::observation::{ExchangeObservation, MxRecord, Observation};
use crate::records::mta_sts::{Mode, StsPolicy, mx_matches, parse_sts_records};
use crate::records::spf::Mechanism;
use crate::records::spf::eval::{Verdict, check_host};
use std::collections::{BTreeMap, BTreeSet};

/// An MX TTL above this makes undoing a change slow: caches keep the new, wrong answer this long.
pub const ROLLBACK_TTL_LIMIT: u32 = 4 * 3600;

/// A rule of the change catalogue: its documentation (the judging is in [`consequences`]).
pub struct Rule {
    /// Stable ID; users script on it. Never reuse or rename one.
    pub id: &'static str,
    pub severity: Severity,
    pub title: &'static str,
    pub explanation: &'static str,
    pub fix: &'static str,
    pub reference: &'static str,
}

impl Rule {
    fn finding(&'static self, subject: impl Into<String>, detail: impl Into<String>) -> Finding {
        Finding {
            id: FindingId::from_static(self.id),
            severity: self.severity,
            subject: subject.into(),
            title: self.title.to_string(),
            detail: detail.into(),
            fix: self.fix.to_string(),
            reference: self.reference.to_string(),
        }
    }
}

pub static CHANGE_MX_ADDED: Rule = Rule {
    id: "CHANGE-MX-ADDED",
    severity: Severity::Info,
    title: "An exchange joins the MX set",
    explanation: "The change adds an exchange: senders start delivering to it as soon as their cached MX RRset \
                  expires. The other change rules say what else it must come with (MTA-STS patterns, TLSA, SPF).",
    fix: "Nothing, if intended; make sure the host accepts mail for the domain before the change is published.",
    reference: "RFC 5321 §5.1",
};

pub static CHANGE_MX_REMOVED: Rule = Rule {
    id: "CHANGE-MX-REMOVED",
    severity: Severity::Info,
    title: "An exchange leaves the MX set",
    explanation: "The change removes an exchange. Caches keep handing it out until their copy expires, so it must \
                  keep accepting mail until then (see CHANGE-MX-DRAIN for when that is).",
    fix: "Keep the host accepting mail for the domain until the drain time.",
    reference: "RFC 5321 §5.1; RFC 2308",
};

pub static CHANGE_MX_PREFERENCE: Rule = Rule {
    id: "CHANGE-MX-PREFERENCE",
    severity: Severity::Info,
    title: "An exchange's MX preference changes",
    explanation: "The order in which senders try the exchanges changes: the host that becomes the first choice \
                  takes the bulk of the mail.",
    fix: "Nothing, if intended.",
    reference: "RFC 5321 §5.1",
};

pub static CHANGE_MTASTS_MX_UNCOVERED: Rule = Rule {
    id: "CHANGE-MTASTS-MX-UNCOVERED",
    severity: Severity::High,
    title: "A new exchange is not matched by the MTA-STS policy senders have cached",
    explanation: "Senders that support MTA-STS cache the policy for `max_age` seconds and, in `enforce` mode, \
                  refuse to deliver to an exchange that none of its `mx:` patterns match. A new exchange outside the \
                  published patterns is refused by those senders until their cached copy expires, whatever the new \
                  policy says, unless the `_mta-sts` TXT id changes too (then they fetch the new policy). In \
                  `testing` mode they deliver but report failures.",
    fix: "Publish the policy with the new exchange's pattern and a new `_mta-sts` TXT id before (at least one \
          policy fetch before) the MX change; or wait until the date given before sending mail to the new host.",
    reference: "RFC 8461 §4.1, §5.1, §3.3",
};

pub static CHANGE_MTASTS_ID_STALE: Rule = Rule {
    id: "CHANGE-MTASTS-ID-STALE",
    severity: Severity::Medium,
    title: "The MTA-STS policy or the MX set changed but the _mta-sts TXT id did not",
    explanation: "Senders fetch the policy again only when the `id` of the `_mta-sts` TXT record changes (or their \
                  copy expires). A changed policy, or an MX set the cached policy no longer covers, under the same \
                  id leaves senders on the old policy for up to `max_age`.",
    fix: "Change the id of the `_mta-sts` TXT record (e.g. `v=STSv1; id=20261214T0930`) with every policy change.",
    reference: "RFC 8461 §3.1, §5.1",
};

pub static CHANGE_MTASTS_WEAKENED: Rule = Rule {
    id: "CHANGE-MTASTS-WEAKENED",
    severity: Severity::Medium,
    title: "The MTA-STS policy goes from enforce to testing or none",
    explanation: "Under `testing` or `none`, senders deliver over unauthenticated or clear-text connections again: \
                  the protection against downgrade and interception is off. Sometimes this is the planned first \
                  step of a migration; otherwise it is a regression.",
    fix: "Go back to `mode: enforce` once the new exchanges are in the policy and present valid certificates.",
    reference: "RFC 8461 §5",
};

pub static CHANGE_MTASTS_MAXAGE_CUT: Rule = Rule {
    id: "CHANGE-MTASTS-MAXAGE-CUT",
    severity: Severity::Low,
    title: "The MTA-STS policy's max_age is cut",
    explanation: "Senders keep the policy they cached under the old, longer max_age until it expires; the cut \
                  takes effect only after that. A short max_age also shortens the protection between fetches.",
    fix: "Nothing, if intended as the prelude to a migration (cut it a full old max_age ahead); otherwise restore it \
          (a week or more is recommended).",
    reference: "RFC 8461 §3.2, §5.1",
};

pub static CHANGE_DANE_MX_WITHOUT_TLSA: Rule = Rule {
    id: "CHANGE-DANE-MX-WITHOUT-TLSA",
    severity: Severity::Medium,
    title: "An exchange has no TLSA records after the change while the others have DANE",
    explanation: "DANE-aware senders authenticate exchanges that publish DNSSEC-signed TLSA records. A new \
                  exchange without them (or one whose records the change drops) is reached without \
                  authentication, so an attacker who can steer traffic to it defeats DANE for the domain.",
    fix: "Publish `_25._tcp.<exchange>` TLSA records (3 1 1 of the certificate key) for the exchange, in a signed \
          zone, before it receives mail.",
    reference: "RFC 7672 §2.2, §3.1",
};

pub static CHANGE_DANE_STOPS_MATCHING: Rule = Rule {
    id: "CHANGE-DANE-STOPS-MATCHING",
    severity: Severity::High,
    title: "TLSA records that matched the exchange's certificate no longer do",
    explanation: "Before the change the exchange's certificate matched its TLSA records; after it, it does not: the \
                  host's key changed without a new TLSA record, or the records changed without the key. DANE \
                  senders refuse to deliver to a host whose certificate matches none of its TLSA records.",
    fix: "Publish the new key's TLSA record (3 1 1) beside the old one at least two TTLs before the key changes, \
          then remove the old one; or put back the key the records describe.",
    reference: "RFC 7672 §3.1; RFC 7671 §8.1",
};

pub static CHANGE_SPF_MX_UNCOVERED: Rule = Rule {
    id: "CHANGE-SPF-MX-UNCOVERED",
    severity: Severity::Low,
    title: "SPF no longer covers an exchange after the change",
    explanation: "An exchange that passes the domain's SPF before the change (or a new one) does not pass it \
                  after: its auto-replies, forwards and relayed mail in the domain's name fail SPF and may be \
                  rejected under DMARC.",
    fix: "Add the exchange to SPF (`mx`, its `ip4:`/`ip6:` networks or its provider's include).",
    reference: "RFC 7208 §2.4, §5.4",
};

pub static CHANGE_SPF_MX_PROVIDER: Rule = Rule {
    id: "CHANGE-SPF-MX-PROVIDER",
    severity: Severity::Medium,
    title: "SPF's `mx` mechanism now authorises another provider's hosts",
    explanation: "The `mx` mechanism authorises whatever hosts the MX set names. When the MX set moves to another \
                  provider, every host of that provider's exchanges may now send as the domain, and the old \
                  provider's may not, without anyone editing the SPF record.",
    fix: "Check that the new provider's exchanges should send as the domain; otherwise replace `mx` with the \
          networks or the include of the hosts that really send.",
    reference: "RFC 7208 §5.4",
};

pub static CHANGE_MX_REMOVED_UNREGISTERED: Rule = Rule {
    id: "CHANGE-MX-REMOVED-UNREGISTERED",
    severity: Severity::Critical,
    title: "A removed exchange is in a domain anyone can register",
    explanation: "The removed exchange's registrable domain is not registered. Until caches drop the old MX \
                  RRset, senders still deliver there, so whoever registers that domain receives the mail.",
    fix: "Register the domain (or make sure nobody can) until the drain time has passed.",
    reference: "RFC 5321 §5.1",
};

pub static CHANGE_NULLMX_MIXED: Rule = Rule {
    id: "CHANGE-NULLMX-MIXED",
    severity: Severity::High,
    title: "The change puts a null MX beside other exchanges",
    explanation: "A null MX (`0 .`) says the domain accepts no mail; beside other MX records it is invalid, and \
                  senders treat the set inconsistently (some bounce everything, some deliver).",
    fix: "Publish either the null MX alone or only real exchanges.",
    reference: "RFC 7505 §3",
};

pub static CHANGE_ROLLBACK_SLOW: Rule = Rule {
    id: "CHANGE-ROLLBACK-SLOW",
    severity: Severity::Low,
    title: "The changed MX set has a long TTL: a rollback would be slow",
    explanation: "If the new MX set turns out wrong, caches keep serving it for its TTL after it is put back. \
                  During a migration a TTL of an hour or less keeps a mistake short.",
    fix: "Lower the MX TTL (e.g. 300 to 3600 seconds) for the migration; raise it again once the change has held.",
    reference: "RFC 1035 §3.2.1; RFC 2308",
};

pub static CHANGE_MX_DRAIN: Rule = Rule {
    id: "CHANGE-MX-DRAIN",
    severity: Severity::Info,
    title: "When a removed exchange stops receiving mail from caches",
    explanation: "After an exchange leaves the MX set, resolvers keep serving the old MX RRset until its TTL \
                  runs out (the negative TTL of the SOA when the set is gone altogether), and MTA-STS senders keep \
                  the cached policy naming the host until its max_age runs out. The drain time is the change time \
                  plus the longest of these; the host must keep accepting mail until then.",
    fix: "Decommission the exchange only after the time given.",
    reference: "RFC 2308 §5; RFC 1035 §3.2.1; RFC 8461 §3.2",
};

/// Every rule, in the order reports list consequences of equal severity.
pub static RULES: &[&Rule] = &[
    &CHANGE_MX_ADDED,
    &CHANGE_MX_REMOVED,
    &CHANGE_MX_PREFERENCE,
    &CHANGE_MTASTS_MX_UNCOVERED,
    &CHANGE_MTASTS_ID_STALE,
    &CHANGE_MTASTS_WEAKENED,
    &CHANGE_MTASTS_MAXAGE_CUT,
    &CHANGE_DANE_MX_WITHOUT_TLSA,
    &CHANGE_DANE_STOPS_MATCHING,
    &CHANGE_SPF_MX_UNCOVERED,
    &CHANGE_SPF_MX_PROVIDER,
    &CHANGE_MX_REMOVED_UNREGISTERED,
    &CHANGE_NULLMX_MIXED,
    &CHANGE_ROLLBACK_SLOW,
    &CHANGE_MX_DRAIN,
];

/// The rules that only restate what `monitor::diff` already reports as a typed change
/// (`mx-added`, `mx-removed`, `mx-preference-changed`): `watch` and `diff` leave them out.
pub const RESTATES_DIFF: &[&str] = &[
    CHANGE_MX_ADDED.id,
    CHANGE_MX_REMOVED.id,
    CHANGE_MX_PREFERENCE.id,
];

/// The consequences worth recording beside a diff's typed changes (see [`RESTATES_DIFF`]).
pub fn beyond_diff(findings: Vec<Finding>) -> Vec<Finding> {
    findings
        .into_iter()
        .filter(|f| !RESTATES_DIFF.contains(&f.id.as_str()))
        .collect()
}

/// Looks a rule up by ID, ignoring case.
pub fn find(id: &str) -> Option<&'static Rule> {
    RULES
        .iter()
        .copied()
        .find(|r| r.id.eq_ignore_ascii_case(id))
}

/// The rules as Markdown, for `docs/checks.md` (after the checks).
pub fn catalogue_markdown() -> String {
    let mut out = String::from(
        "\n# Change consequences\n\n\
         What a change does (`check --zone`, `watch`, `diff`): rules over two observations, before and after.\n\n\
         | ID | Severity | Title |\n|---|---|---|\n",
    );
    out.push_str(&super::catalogue_entries(RULES.iter().map(|r| {
        super::CatalogueEntry {
            id: r.id,
            grade: r.severity.as_str(),
            title: r.title,
            explanation: r.explanation,
            fix: r.fix,
            reference: r.reference,
        }
    })));
    out
}

/// An MX set without its null MX: exchange → preferences.
type MxSet = BTreeMap<String, Vec<u16>>;

/// The MX set as exchange → preferences; `None` when it could not be determined (an absent
/// set is empty: observed, and nothing there).
fn mx_set(obs: &Observation) -> Option<MxSet> {
    if obs.mx.is_failed() {
        return None;
    }
    let mut set = MxSet::new();
    for MxRecord {
        preference,
        exchange,
    } in obs.mx.value().map(Vec::as_slice).unwrap_or_default()
    {
        if exchange != "." {
            set.entry(exchange.clone()).or_default().push(*preference);
        }
    }
    for prefs in set.values_mut() {
        prefs.sort_unstable();
    }
    Some(set)
}

fn has_null(obs: &Observation) -> bool {
    obs.mx
        .value()
        .is_some_and(|r| r.iter().any(MxRecord::is_null))
}

fn prefs(list: &[u16]) -> String {
    list.iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The published MX TTL (authoritative when asked, else what the resolver gave).
fn mx_ttl(obs: &Observation) -> Option<u32> {
    obs.published_mx_ttl().or_else(|| obs.mx.ttl())
}

/// The consequences of going from `before` to `after`, judged at `now_unix` (the time the change
/// was seen, or "if published now" for a proposed zone), most severe first.
pub fn consequences(before: &Observation, after: &Observation, now_unix: i64) -> Vec<Finding> {
    let mut out = Vec::new();
    let domain = after.domain.ascii.as_str();
    let policy = |obs| parse_fetched(obs).and_then(Result::ok);
    let (old_policy, new_policy) = (policy(before), policy(after));
    let mx = mx_set(before).zip(mx_set(after));
    if let Some((old, new)) = &mx {
        let added: Vec<&String> = new.keys().filter(|n| !old.contains_key(*n)).collect();
        let removed: Vec<&String> = old.keys().filter(|n| !new.contains_key(*n)).collect();
        for name in &added {
            out.push(CHANGE_MX_ADDED.finding(
                name.as_str(),
                format!("MX {} {name} added", prefs(&new[*name])),
            ));
        }
        for name in &removed {
            out.push(CHANGE_MX_REMOVED.finding(
                name.as_str(),
                format!("MX {} {name} removed", prefs(&old[*name])),
            ));
        }
        for (name, new_prefs) in new {
            if let Some(old_prefs) = old.get(name)
                && old_prefs != new_prefs
            {
                out.push(CHANGE_MX_PREFERENCE.finding(
                    name.as_str(),
                    format!("preference {} → {}", prefs(old_prefs), prefs(new_prefs)),
                ));
            }
        }
        // Newly mixed: the set after has the null MX beside exchanges, the set before did not.
        let mixed = |obs: &Observation, set: &MxSet| has_null(obs) && !set.is_empty();
        if mixed(after, new) && !mixed(before, old) {
            out.push(CHANGE_NULLMX_MIXED.finding(
                domain,
                format!(
                    "the null MX is published beside {}",
                    new.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        let changed = !added.is_empty() || !removed.is_empty();
        mta_sts_coverage(old_policy.as_ref(), &added, now_unix, &mut out);
        if changed {
            dane_without_tlsa(before, after, &added, &mut out);
            spf_provider(after, old, new, &mut out);
            if let Some(ttl) = mx_ttl(after).filter(|t| *t > ROLLBACK_TTL_LIMIT) {
                out.push(CHANGE_ROLLBACK_SLOW.finding(
                    domain,
                    format!(
                        "the new MX set has a TTL of {ttl} s: undoing the change takes up to {} to reach every cache",
                        human_duration(u64::from(ttl))
                    ),
                ));
            }
            for name in &removed {
                removed_exchange(before, after, old_policy.as_ref(), name, now_unix, &mut out);
            }
        }
    }
    mta_sts_changes(
        before,
        after,
        old_policy.as_ref(),
        new_policy.as_ref(),
        &mx,
        &mut out,
    );
    dane_stops_matching(before, after, &mut out);
    spf_uncovered(before, after, &mut out);
    let rank = |f: &Finding| RULES.iter().position(|r| r.id == f.id.as_str());
    out.sort_by(|a, b| b.severity.cmp(&a.severity).then(rank(a).cmp(&rank(b))));
    out
}

/// New exchanges that the policy senders have cached does not cover.
fn mta_sts_coverage(
    old_policy: Option<&StsPolicy>,
    added: &[&String],
    now_unix: i64,
    out: &mut Vec<Finding>,
) {
    let Some(old_policy) = old_policy.filter(|p| p.mode != Mode::None) else {
        return;
    };
    let until = now_unix.saturating_add(i64::try_from(old_policy.max_age).unwrap_or(i64::MAX));
    for name in added {
        if old_policy.mx.iter().any(|p| mx_matches(p, name)) {
            continue;
        }
        let consequence = match old_policy.mode {
            Mode::Enforce => "senders that cached it refuse mail to it",
            _ => "senders that cached it (mode testing) report failures for it",
        };
        out.push(CHANGE_MTASTS_MX_UNCOVERED.finding(
            name.as_str(),
            format!(
                "{name} is matched by none of the published policy's mx patterns ({}; mode {}, max_age {} s): \
                 {consequence} until {} at the latest",
                crate::sanitize::for_terminal(&old_policy.mx.join(", ")),
                old_policy.mode.as_str(),
                old_policy.max_age,
                crate::utc::minute_ceil(until),
            ),
        ));
    }
}

/// The policy itself, and its id, across the change.
fn mta_sts_changes(
    before: &Observation,
    after: &Observation,
    old_policy: Option<&StsPolicy>,
    new_policy: Option<&StsPolicy>,
    mx: &Option<(MxSet, MxSet)>,
    out: &mut Vec<Finding>,
) {
    let subject = format!("_mta-sts.{}", after.domain.ascii);
    if let (Some(old), Some(new)) = (old_policy, new_policy) {
        if old.mode == Mode::Enforce && new.mode != Mode::Enforce {
            out.push(CHANGE_MTASTS_WEAKENED.finding(
                format!("mta-sts.{}", after.domain.ascii),
                format!("mode enforce → {}", new.mode.as_str()),
            ));
        }
        if new.max_age < old.max_age {
            out.push(CHANGE_MTASTS_MAXAGE_CUT.finding(
                format!("mta-sts.{}", after.domain.ascii),
                format!(
                    "max_age {} s → {} s: senders keep the old policy up to {} more",
                    old.max_age,
                    new.max_age,
                    human_duration(old.max_age)
                ),
            ));
        }
    }
    let ids = sts_records(before)
        .and_then(|r| parse_sts_records(r).ok())
        .zip(sts_records(after).and_then(|r| parse_sts_records(r).ok()));
    let Some((old_id, new_id)) = ids else {
        return;
    };
    if old_id.id != new_id.id {
        return;
    }
    let policy_changed = matches!((old_policy, new_policy), (Some(o), Some(n)) if o != n);
    let uncovered: Vec<&String> = match (mx, old_policy) {
        (Some((old, new)), Some(policy)) if policy.mode != Mode::None => new
            .keys()
            .filter(|n| !old.contains_key(*n))
            .filter(|n| !policy.mx.iter().any(|p| mx_matches(p, n)))
            .collect(),
        _ => vec![],
    };
    if policy_changed || !uncovered.is_empty() {
        let what = if policy_changed {
            "the policy changed".to_string()
        } else {
            format!(
                "the MX set now has {} outside the published patterns",
                uncovered
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        out.push(CHANGE_MTASTS_ID_STALE.finding(
            subject,
            format!(
                "{what} but the id is still {:?}: senders keep their cached policy",
                crate::sanitize::for_terminal(&new_id.id)
            ),
        ));
    }
}

/// Exchanges without TLSA after the change (new, or stripped of their records) while others have DANE.
fn dane_without_tlsa(
    before: &Observation,
    after: &Observation,
    added: &[&String],
    out: &mut Vec<Finding>,
) {
    let Some(dnssec) = &after.dnssec else {
        return;
    };
    let had_tlsa = |name: &str| {
        before
            .dnssec
            .as_ref()
            .and_then(|d| d.exchange(name))
            .is_some_and(|e| e.has_tlsa())
    };
    let without: Vec<&str> = after
        .exchanges
        .iter()
        .map(|e| e.name.as_str())
        .filter(|name| dnssec.exchange(name).is_some_and(|e| e.tlsa.is_absent()))
        .filter(|name| added.iter().any(|a| a == name) || had_tlsa(name))
        .collect();
    let with: Vec<&str> = after
        .exchanges
        .iter()
        .map(|e| e.name.as_str())
        .filter(|name| dnssec.exchange(name).is_some_and(|e| e.has_tlsa()))
        .collect();
    if with.is_empty() {
        return;
    }
    for name in without {
        let how = if had_tlsa(name) {
            "its TLSA records are dropped"
        } else {
            "the new exchange has no TLSA records"
        };
        out.push(CHANGE_DANE_MX_WITHOUT_TLSA.finding(
            name,
            format!(
                "{how} (_25._tcp.{name}) while {} publish(es) them",
                with.join(", ")
            ),
        ));
    }
}

/// Exchanges whose certificate DANE authenticated before and does not after.
fn dane_stops_matching(before: &Observation, after: &Observation, out: &mut Vec<Finding>) {
    for exchange in &after.exchanges {
        let Some(old) = before.exchanges.iter().find(|e| e.name == exchange.name) else {
            continue;
        };
        for (ip, probe) in probes(exchange) {
            let Some(old_probe) = probes(old).find(|(i, _)| *i == ip).map(|(_, p)| p) else {
                continue;
            };
            // Judged only when a certificate was seen on both sides (no handshake: could not
            // determine, reported elsewhere) and the records are usable after the change.
            if probe.certificates.is_empty() || old_probe.certificates.is_empty() {
                continue;
            }
            let usable_after = after
                .dnssec
                .as_ref()
                .and_then(|d| d.exchange(&exchange.name))
                .is_some_and(|d| !d.usable_tlsa().is_empty());
            if !usable_after
                || !dane_validates(before, &old.name, old_probe)
                || dane_validates(after, &exchange.name, probe)
            {
                continue;
            }
            let key_changed =
                old_probe.certificates[0].spki_sha256 != probe.certificates[0].spki_sha256;
            let why = if key_changed {
                format!(
                    "the host's key changed (SPKI SHA-256 {} → {}) and no TLSA record describes the new one",
                    short(&old_probe.certificates[0].spki_sha256),
                    short(&probe.certificates[0].spki_sha256)
                )
            } else {
                "the TLSA records changed and none describes the host's key".to_string()
            };
            out.push(CHANGE_DANE_STOPS_MATCHING.finding(format!("{} ({ip})", exchange.name), why));
        }
    }
}

fn short(hex: &str) -> String {
    hex.chars().take(12).collect::<String>() + "…"
}

/// The SPF verdict for every probed-or-resolved address of the exchange, when SPF was walked.
fn spf_verdicts(
    obs: &Observation,
    exchange: &ExchangeObservation,
) -> Option<Vec<(std::net::IpAddr, Verdict)>> {
    own_record(obs)?;
    let answers = &obs.mail_auth.as_ref()?.spf_answers;
    Some(
        exchange
            .addresses
            .iter()
            .map(|a| (a.ip, check_host(a.ip, &obs.domain.ascii, answers)))
            .collect(),
    )
}

/// Exchanges that pass SPF before (or are new) and do not after.
fn spf_uncovered(before: &Observation, after: &Observation, out: &mut Vec<Finding>) {
    let not_passing =
        |v: &Verdict| matches!(v, Verdict::Fail | Verdict::SoftFail | Verdict::Neutral);
    for exchange in &after.exchanges {
        let Some(verdicts) = spf_verdicts(after, exchange) else {
            return;
        };
        let old = before.exchanges.iter().find(|e| e.name == exchange.name);
        let old_verdicts = old.and_then(|o| spf_verdicts(before, o));
        if old.is_some() && old_verdicts.is_none() {
            // Not walked before: nothing to compare with.
            continue;
        }
        for (ip, verdict) in verdicts.iter().filter(|(_, v)| not_passing(v)) {
            let passed_before = match &old_verdicts {
                None => true, // a new exchange: it was not there to fail
                Some(list) => list
                    .iter()
                    .find(|(i, _)| i == ip)
                    .is_none_or(|(_, v)| *v == Verdict::Pass),
            };
            if passed_before {
                let was = if old.is_some() {
                    "passed before"
                } else {
                    "a new exchange"
                };
                out.push(CHANGE_SPF_MX_UNCOVERED.finding(
                    format!("{} ({ip})", exchange.name),
                    format!(
                        "SPF of {} for {ip} gives {} after the change ({was})",
                        after.domain.ascii,
                        verdict.label()
                    ),
                ));
            }
        }
    }
}

/// The registrable domains of an MX set (its providers).
fn providers(set: &MxSet) -> BTreeSet<String> {
    set.keys()
        .map(|n| {
            registrable_domain(n)
                .map(|(r, _)| r)
                .unwrap_or_else(|| n.clone())
        })
        .collect()
}

/// `mx` in SPF authorising another provider because the MX set moved.
fn spf_provider(after: &Observation, old: &MxSet, new: &MxSet, out: &mut Vec<Finding>) {
    let Some(record) = own_record(after) else {
        return;
    };
    let domain = after.domain.ascii.as_str();
    let own_mx = record.directives.iter().find(|d| match &d.mechanism {
        Mechanism::Mx { domain: None, .. } => true,
        Mechanism::Mx {
            domain: Some(spec), ..
        } => spec.0.trim_end_matches('.').eq_ignore_ascii_case(domain),
        _ => false,
    });
    let Some(term) = own_mx else {
        return;
    };
    let (was, now) = (providers(old), providers(new));
    let gained: Vec<&String> = now.difference(&was).collect();
    if gained.is_empty() {
        return;
    }
    let lost: Vec<&String> = was.difference(&now).collect();
    out.push(CHANGE_SPF_MX_PROVIDER.finding(
        domain,
        format!(
            "`{}` in the SPF of {domain} now authorises the exchanges of {}{}",
            crate::sanitize::for_terminal(&term.text),
            join(&gained),
            if lost.is_empty() {
                String::new()
            } else {
                format!(" and no longer those of {}", join(&lost))
            }
        ),
    ));
}

fn join(list: &[&String]) -> String {
    list.iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The drain time of a removed exchange, and whether its domain can be registered.
fn removed_exchange(
    before: &Observation,
    after: &Observation,
    old_policy: Option<&StsPolicy>,
    name: &str,
    now_unix: i64,
    out: &mut Vec<Finding>,
) {
    let drain = drain(before, after, old_policy, name, now_unix);
    if let Some(registration) = before
        .exchanges
        .iter()
        .find(|e| e.name == name)
        .and_then(|e| e.registration.as_ref())
        .filter(|r| r.delegation.is_nxdomain())
    {
        out.push(CHANGE_MX_REMOVED_UNREGISTERED.finding(
            name,
            format!(
                "{} is not registered: caches deliver to {name} until {}, to whoever registers it",
                registration.registrable_domain,
                crate::utc::minute_ceil(drain.at)
            ),
        ));
    }
    out.push(CHANGE_MX_DRAIN.finding(
        name,
        format!(
            "safe to decommission {name} after {} ({})",
            crate::utc::minute_ceil(drain.at),
            drain.reasons.join("; ")
        ),
    ));
}

/// When caches stop sending mail to a removed exchange, and why.
pub struct Drain {
    /// Unix seconds.
    pub at: i64,
    /// Each bound that went into it (`old MX TTL 86400 s` …).
    pub reasons: Vec<String>,
}

/// The drain time of `removed`: the change time plus the longest of the old MX TTL, the
/// negative TTL (SOA minimum, RFC 2308) when the MX set is gone, and the cached MTA-STS
/// policy's max_age when it names the removed host.
pub fn drain(
    before: &Observation,
    after: &Observation,
    old_policy: Option<&StsPolicy>,
    removed: &str,
    now_unix: i64,
) -> Drain {
    let mut bounds: Vec<(u64, String)> = Vec::new();
    if let Some(ttl) = mx_ttl(before) {
        bounds.push((u64::from(ttl), format!("old MX TTL {ttl} s")));
    }
    if after.mx.is_absent() {
        let negative = after
            .mx
            .absence()
            .and(match &after.mx {
                crate::Lookup::Absent { negative_ttl, .. } => *negative_ttl,
                _ => None,
            })
            .or_else(|| before.soa.value().map(|s| s.minimum));
        if let Some(negative) = negative {
            bounds.push((u64::from(negative), format!("negative TTL {negative} s")));
        }
    }
    if let Some(policy) = old_policy.filter(|p| p.mode != Mode::None)
        && policy.mx.iter().any(|p| mx_matches(p, removed))
    {
        bounds.push((
            policy.max_age,
            format!(
                "MTA-STS max_age {} s of the policy naming it",
                policy.max_age
            ),
        ));
    }
    let longest = bounds.iter().map(|(s, _)| *s).max().unwrap_or(0);
    Drain {
        at: now_unix.saturating_add(i64::try_from(longest).unwrap_or(i64::MAX)),
        reasons: if bounds.is_empty() {
            vec!["no TTL was observed: the change time itself".into()]
        } else {
            bounds.into_iter().map(|(_, r)| r).collect()
        },
    }
}

#[cfg(test)]
mod tests;
