//! What changed between two observations of one domain: typed change events.
//!
//! "Could not determine is never missing": when either side of a comparison
//! failed (timeout, SERVFAIL …), no change is reported for that part. A change
//! is only what was *observed* on both sides to differ (or observed present on
//! one side and observed absent on the other).

use crate::finding::{Finding, FindingId, Severity};
use crate::observation::lookup::Lookup;
use crate::observation::smtp::{SmtpProbe, StartTls};
use crate::observation::{ExchangeObservation, Observation};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    MxAdded,
    MxRemoved,
    MxPreferenceChanged,
    MxTtlChanged,
    /// The domain now has no MX at all (observed NXDOMAIN/NODATA), or has one again.
    MxSetGone,
    MxSetBack,
    AddressAdded,
    AddressRemoved,
    CnameChanged,
    NsChanged,
    SoaSerialChanged,
    CertificateChanged,
    StarttlsLost,
    StarttlsGained,
    TlsVersionChanged,
    FindingAppeared,
    FindingCleared,
    SpfChanged,
    DmarcChanged,
    /// The DMARC policy got weaker (`reject` → `quarantine` → `none`, or a lower `pct`).
    DmarcWeakened,
    MtaStsChanged,
    TlsRptChanged,
    /// A DKIM key record at a selector asked on both looks changed (rotation, revocation, removal).
    DkimKeyChanged,
    /// The DNSSEC status of the MX RRset changed (secure, insecure, bogus).
    DnssecChanged,
    /// The TLSA records of an exchange changed (a DANE key rollover must be coordinated).
    TlsaChanged,
    /// What a change does (`checks::transition`): a `CHANGE-…` rule's finding about the change,
    /// its subject `ID subject`, its detail in `new` (the drain time of a removed exchange …).
    Consequence,
    /// A registration (the domain's own or an MX provider's) came within one of the alert
    /// thresholds of its expiry ([`EXPIRY_ALERT_DAYS`]) between the two looks.
    RegistrationExpiring,
    /// A registration's expiry date moved (renewed, or shortened).
    RegistrationExpiryChanged,
    /// A registration's lock status values changed (a lock removed is how a hijack starts).
    RegistrationLockChanged,
}

/// The days before a registration's expiry at which `watch` alerts, once each.
pub const EXPIRY_ALERT_DAYS: [u32; 3] = [60, 30, 7];

impl ChangeKind {
    /// Every kind, in declaration order.
    pub const ALL: [ChangeKind; 29] = [
        ChangeKind::MxAdded,
        ChangeKind::MxRemoved,
        ChangeKind::MxPreferenceChanged,
        ChangeKind::MxTtlChanged,
        ChangeKind::MxSetGone,
        ChangeKind::MxSetBack,
        ChangeKind::AddressAdded,
        ChangeKind::AddressRemoved,
        ChangeKind::CnameChanged,
        ChangeKind::NsChanged,
        ChangeKind::SoaSerialChanged,
        ChangeKind::CertificateChanged,
        ChangeKind::StarttlsLost,
        ChangeKind::StarttlsGained,
        ChangeKind::TlsVersionChanged,
        ChangeKind::FindingAppeared,
        ChangeKind::FindingCleared,
        ChangeKind::SpfChanged,
        ChangeKind::DmarcChanged,
        ChangeKind::DmarcWeakened,
        ChangeKind::MtaStsChanged,
        ChangeKind::TlsRptChanged,
        ChangeKind::DkimKeyChanged,
        ChangeKind::DnssecChanged,
        ChangeKind::TlsaChanged,
        ChangeKind::Consequence,
        ChangeKind::RegistrationExpiring,
        ChangeKind::RegistrationExpiryChanged,
        ChangeKind::RegistrationLockChanged,
    ];

    /// The kebab-case name, as serialised and stored (`mx-added` …).
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::MxAdded => "mx-added",
            ChangeKind::MxRemoved => "mx-removed",
            ChangeKind::MxPreferenceChanged => "mx-preference-changed",
            ChangeKind::MxTtlChanged => "mx-ttl-changed",
            ChangeKind::MxSetGone => "mx-set-gone",
            ChangeKind::MxSetBack => "mx-set-back",
            ChangeKind::AddressAdded => "address-added",
            ChangeKind::AddressRemoved => "address-removed",
            ChangeKind::CnameChanged => "cname-changed",
            ChangeKind::NsChanged => "ns-changed",
            ChangeKind::SoaSerialChanged => "soa-serial-changed",
            ChangeKind::CertificateChanged => "certificate-changed",
            ChangeKind::StarttlsLost => "starttls-lost",
            ChangeKind::StarttlsGained => "starttls-gained",
            ChangeKind::TlsVersionChanged => "tls-version-changed",
            ChangeKind::FindingAppeared => "finding-appeared",
            ChangeKind::FindingCleared => "finding-cleared",
            ChangeKind::SpfChanged => "spf-changed",
            ChangeKind::DmarcChanged => "dmarc-changed",
            ChangeKind::DmarcWeakened => "dmarc-weakened",
            ChangeKind::MtaStsChanged => "mta-sts-changed",
            ChangeKind::TlsRptChanged => "tls-rpt-changed",
            ChangeKind::DkimKeyChanged => "dkim-key-changed",
            ChangeKind::DnssecChanged => "dnssec-changed",
            ChangeKind::TlsaChanged => "tlsa-changed",
            ChangeKind::Consequence => "consequence",
            ChangeKind::RegistrationExpiring => "registration-expiring",
            ChangeKind::RegistrationExpiryChanged => "registration-expiry-changed",
            ChangeKind::RegistrationLockChanged => "registration-lock-changed",
        }
    }
}

impl std::fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ChangeKind {
    type Err = String;

    /// Parses the kebab-case name of [`ChangeKind::as_str`] (exactly: a stored kind is never
    /// re-cased); anything else is an error.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ChangeKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| format!("unknown change kind {s:?}"))
    }
}

/// One change between two observations.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub kind: ChangeKind,
    pub severity: Severity,
    /// What changed: the domain, an exchange, an address, a finding ID and subject.
    pub subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
}

impl Change {
    fn new(
        kind: ChangeKind,
        severity: Severity,
        subject: impl Into<String>,
        old: Option<String>,
        new: Option<String>,
    ) -> Change {
        Change {
            kind,
            severity,
            subject: subject.into(),
            old,
            new,
        }
    }

    /// A consequence of a change (a finding of `checks::transition`) as a change record.
    pub fn consequence(finding: &Finding) -> Change {
        Change::new(
            ChangeKind::Consequence,
            finding.severity,
            format!("{} {}", finding.id, finding.subject),
            None,
            Some(finding.detail.clone()),
        )
    }

    /// A stable key for "the same change": kind and subject.
    pub fn key(&self) -> String {
        format!("{}|{}", self.kind.as_str(), self.subject)
    }

    /// One line for a person.
    pub fn summary(&self) -> String {
        match (&self.old, &self.new) {
            (Some(o), Some(n)) => format!("{} {}: {o} → {n}", self.kind.as_str(), self.subject),
            (None, Some(n)) => format!("{} {}: {n}", self.kind.as_str(), self.subject),
            (Some(o), None) => format!("{} {}: was {o}", self.kind.as_str(), self.subject),
            (None, None) => format!("{} {}", self.kind.as_str(), self.subject),
        }
    }
}

/// Both sides observed (or observed absent): `Some((old, new))`; either side failed: `None`.
fn both<'a, T>(old: &'a Lookup<T>, new: &'a Lookup<T>) -> Option<(Option<&'a T>, Option<&'a T>)> {
    if old.is_failed() || new.is_failed() {
        return None;
    }
    Some((old.value(), new.value()))
}

/// The changes from `old` to `new` (findings compared as given).
pub fn diff(
    old: &Observation,
    new: &Observation,
    old_findings: &[Finding],
    new_findings: &[Finding],
) -> Vec<Change> {
    let mut out = Vec::new();
    let domain = new.domain.ascii.as_str();
    mx_changes(domain, old, new, &mut out);
    if let Some((o, n)) = both(&old.ns, &new.ns) {
        let (o, n) = (
            o.cloned().unwrap_or_default(),
            n.cloned().unwrap_or_default(),
        );
        if o != n {
            out.push(Change::new(
                ChangeKind::NsChanged,
                Severity::Medium,
                domain,
                Some(o.join(", ")),
                Some(n.join(", ")),
            ));
        }
    }
    if let (Some(o), Some(n)) = (old.soa.value(), new.soa.value())
        && o.serial != n.serial
    {
        out.push(Change::new(
            ChangeKind::SoaSerialChanged,
            Severity::Info,
            domain,
            Some(o.serial.to_string()),
            Some(n.serial.to_string()),
        ));
    }
    let old_ex: BTreeMap<&str, &ExchangeObservation> =
        old.exchanges.iter().map(|e| (e.name.as_str(), e)).collect();
    for exchange in &new.exchanges {
        if let Some(before) = old_ex.get(exchange.name.as_str()) {
            exchange_changes(before, exchange, &mut out);
        }
    }
    if let (Some(o), Some(n)) = (&old.policy, &new.policy) {
        policy_changes(domain, o, n, &mut out);
    }
    if let (Some(o), Some(n)) = (&old.mail_auth, &new.mail_auth) {
        dkim_changes(domain, o, n, &mut out);
    }
    if let (Some(o), Some(n)) = (&old.dnssec, &new.dnssec) {
        dnssec_changes(domain, o, n, &mut out);
    }
    if let (Some(o), Some(n)) = (&old.rdap, &new.rdap) {
        registration_changes(old, new, o, n, &mut out);
    }
    let incomplete = old.has_failures() || new.has_failures();
    finding_changes(old_findings, new_findings, incomplete, &mut out);
    out
}

/// When an observation was made, in Unix seconds.
fn observed_unix(obs: &Observation) -> Option<i64> {
    time::OffsetDateTime::parse(
        &obs.observed_at,
        &time::format_description::well_known::Rfc3339,
    )
    .ok()
    .map(|t| t.unix_timestamp())
}

/// Registrations answered on both looks: lock status values that changed, an expiry date that
/// moved, and an expiry that came within an alert threshold between the looks. A registration
/// RDAP could not answer on either look is not compared.
fn registration_changes(
    old_obs: &Observation,
    new_obs: &Observation,
    old: &crate::observation::rdap::RdapObservation,
    new: &crate::observation::rdap::RdapObservation,
    out: &mut Vec<Change>,
) {
    use crate::utc::date;
    let list = |statuses: &[String]| {
        if statuses.is_empty() {
            "(no lock)".to_string()
        } else {
            statuses.join(", ")
        }
    };
    for registration in &new.domains {
        let Some(after) = registration.record() else {
            continue;
        };
        let Some(before) = old.get(&registration.domain).and_then(|d| d.record()) else {
            continue;
        };
        let subject = registration.domain.as_str();
        let (locks_before, locks_after) = (before.lock_statuses(), after.lock_statuses());
        if locks_before != locks_after {
            let lost = locks_before.iter().any(|s| !locks_after.contains(s));
            out.push(Change::new(
                ChangeKind::RegistrationLockChanged,
                if lost { Severity::High } else { Severity::Info },
                subject,
                Some(list(&locks_before)),
                Some(list(&locks_after)),
            ));
        }
        let (Some(expired_before), Some(expires)) = (before.expires_unix, after.expires_unix)
        else {
            continue;
        };
        if expired_before != expires {
            out.push(Change::new(
                ChangeKind::RegistrationExpiryChanged,
                if expires > expired_before {
                    Severity::Info
                } else {
                    Severity::Medium
                },
                subject,
                Some(date(expired_before)),
                Some(date(expires)),
            ));
            continue;
        }
        let (Some(then), Some(now)) = (observed_unix(old_obs), observed_unix(new_obs)) else {
            continue;
        };
        // The nearest threshold crossed between the looks (one change, however long the gap).
        let crossed = EXPIRY_ALERT_DAYS.iter().rev().find(|days| {
            let window = i64::from(**days) * 86_400;
            expires - then >= window && expires - now < window
        });
        if let Some(days) = crossed {
            let severity = match days {
                0..=7 => Severity::High,
                8..=30 => Severity::Medium,
                _ => Severity::Low,
            };
            out.push(Change::new(
                ChangeKind::RegistrationExpiring,
                severity,
                subject,
                Some(format!("{days} days or more before expiry")),
                Some(format!(
                    "under {days} days before expiry: expires on {}",
                    date(expires)
                )),
            ));
        }
    }
}

fn policy_changes(
    domain: &str,
    old: &crate::observation::PolicyRecords,
    new: &crate::observation::PolicyRecords,
    out: &mut Vec<Change>,
) {
    let text = |v: Option<&Vec<String>>| {
        v.map(|records| records.join(" | "))
            .unwrap_or_else(|| "(none)".into())
    };
    for (kind, severity, subject, o, n) in [
        (
            ChangeKind::SpfChanged,
            Severity::Medium,
            domain.to_string(),
            &old.spf,
            &new.spf,
        ),
        (
            ChangeKind::MtaStsChanged,
            Severity::Medium,
            format!("_mta-sts.{domain}"),
            &old.mta_sts,
            &new.mta_sts,
        ),
        (
            ChangeKind::TlsRptChanged,
            Severity::Low,
            format!("_smtp._tls.{domain}"),
            &old.tls_rpt,
            &new.tls_rpt,
        ),
    ] {
        if let Some((ov, nv)) = both(o, n)
            && ov != nv
        {
            out.push(Change::new(
                kind,
                severity,
                subject,
                Some(text(ov)),
                Some(text(nv)),
            ));
        }
    }
    if let Some((ov, nv)) = both(&old.dmarc, &new.dmarc)
        && ov != nv
    {
        let strength = |v: Option<&Vec<String>>| {
            v.and_then(|r| r.first())
                .map_or((0, 0), |r| dmarc_strength(r))
        };
        let weaker = strength(nv) < strength(ov);
        let (kind, severity) = if weaker {
            (ChangeKind::DmarcWeakened, Severity::High)
        } else {
            (ChangeKind::DmarcChanged, Severity::Low)
        };
        out.push(Change::new(
            kind,
            severity,
            format!("_dmarc.{domain}"),
            Some(text(ov)),
            Some(text(nv)),
        ));
    }
}

fn dkim_changes(
    domain: &str,
    old: &crate::observation::mailauth::MailAuthObservation,
    new: &crate::observation::mailauth::MailAuthObservation,
    out: &mut Vec<Change>,
) {
    let text = |v: Option<&Vec<String>>| {
        v.map(|records| records.join(" | "))
            .unwrap_or_else(|| "(none)".into())
    };
    for new_selector in &new.dkim {
        let Some(old_selector) = old
            .dkim
            .iter()
            .find(|s| s.selector == new_selector.selector)
        else {
            continue;
        };
        if let Some((ov, nv)) = both(&old_selector.record, &new_selector.record)
            && ov != nv
        {
            out.push(Change::new(
                ChangeKind::DkimKeyChanged,
                Severity::Medium,
                format!("{}._domainkey.{domain}", new_selector.selector),
                Some(text(ov)),
                Some(text(nv)),
            ));
        }
    }
}

fn dnssec_changes(
    domain: &str,
    old: &crate::observation::dnssec::DnssecObservation,
    new: &crate::observation::dnssec::DnssecObservation,
    out: &mut Vec<Change>,
) {
    use crate::observation::dnssec::Proof;
    // Secure / insecure / bogus only: a proof that could not be determined is never a change.
    let status = |p: Option<&Proof>| match p {
        Some(Proof::Secure { .. }) => Some("secure"),
        Some(Proof::Insecure { .. }) => Some("insecure"),
        Some(Proof::Bogus { .. }) => Some("bogus"),
        _ => None,
    };
    if let (Some(o), Some(n)) = (status(old.mx()), status(new.mx()))
        && o != n
    {
        let severity = match (o, n) {
            (_, "bogus") => Severity::High,
            ("secure", _) => Severity::Medium,
            _ => Severity::Low,
        };
        out.push(Change::new(
            ChangeKind::DnssecChanged,
            severity,
            format!("MX {domain}"),
            Some(o.to_string()),
            Some(n.to_string()),
        ));
    }
    let text = |v: Option<&Vec<crate::records::tlsa::TlsaRecord>>| {
        v.map(|records| {
            records
                .iter()
                .map(|r| format!("{} {} {} {}", r.usage, r.selector, r.matching, r.data))
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .unwrap_or_else(|| "(none)".into())
    };
    for exchange in &new.exchanges {
        let Some(before) = old.exchange(&exchange.name) else {
            continue;
        };
        if let Some((ov, nv)) = both(&before.tlsa, &exchange.tlsa)
            && ov != nv
        {
            out.push(Change::new(
                ChangeKind::TlsaChanged,
                Severity::Medium,
                format!("_25._tcp.{}", exchange.name),
                Some(text(ov)),
                Some(text(nv)),
            ));
        }
    }
}

/// (policy rank, pct) of a DMARC record: none/absent 0, quarantine 1, reject 2. Tolerant of
/// spacing and case; a full DMARC parser (mail-auth) comes with the policy checks.
fn dmarc_strength(record: &str) -> (u8, u8) {
    let mut policy = 0;
    let mut pct = 100;
    for tag in record.split(';') {
        let Some((key, value)) = tag.split_once('=') else {
            continue;
        };
        match (
            key.trim().to_ascii_lowercase().as_str(),
            value.trim().to_ascii_lowercase(),
        ) {
            ("p", v) if v == "reject" => policy = 2,
            ("p", v) if v == "quarantine" => policy = 1,
            ("pct", v) => pct = v.parse::<u8>().unwrap_or(100).min(100),
            _ => {}
        }
    }
    (policy, if policy == 0 { 0 } else { pct })
}

fn mx_changes(domain: &str, old: &Observation, new: &Observation, out: &mut Vec<Change>) {
    let Some((o, n)) = both(&old.mx, &new.mx) else {
        return;
    };
    match (o, n) {
        (Some(_), None) => out.push(Change::new(
            ChangeKind::MxSetGone,
            Severity::Critical,
            domain,
            Some(mx_text(o)),
            Some(new.mx.outcome_label()),
        )),
        (None, Some(_)) => out.push(Change::new(
            ChangeKind::MxSetBack,
            Severity::Medium,
            domain,
            Some(old.mx.outcome_label()),
            Some(mx_text(n)),
        )),
        (Some(o), Some(n)) => {
            let prefs =
                |set: &Vec<crate::observation::MxRecord>| -> BTreeMap<String, BTreeSet<u16>> {
                    let mut map: BTreeMap<String, BTreeSet<u16>> = BTreeMap::new();
                    for r in set {
                        map.entry(r.exchange.clone())
                            .or_default()
                            .insert(r.preference);
                    }
                    map
                };
            let (po, pn) = (prefs(o), prefs(n));
            for (name, p) in &pn {
                match po.get(name) {
                    None => out.push(Change::new(
                        ChangeKind::MxAdded,
                        Severity::High,
                        name,
                        None,
                        Some(pref_text(p)),
                    )),
                    Some(q) if q != p => out.push(Change::new(
                        ChangeKind::MxPreferenceChanged,
                        Severity::Medium,
                        name,
                        Some(pref_text(q)),
                        Some(pref_text(p)),
                    )),
                    _ => {}
                }
            }
            for (name, p) in &po {
                if !pn.contains_key(name) {
                    out.push(Change::new(
                        ChangeKind::MxRemoved,
                        Severity::High,
                        name,
                        Some(pref_text(p)),
                        None,
                    ));
                }
            }
            // Only published TTLs are compared: a resolver's cached copy counts down.
            if let (Some(to), Some(tn)) = (old.published_mx_ttl(), new.published_mx_ttl())
                && to != tn
            {
                out.push(Change::new(
                    ChangeKind::MxTtlChanged,
                    Severity::Info,
                    domain,
                    Some(to.to_string()),
                    Some(tn.to_string()),
                ));
            }
        }
        (None, None) => {}
    }
}

fn mx_text(set: Option<&Vec<crate::observation::MxRecord>>) -> String {
    set.map(|s| {
        s.iter()
            .map(|r| format!("{} {}", r.preference, r.exchange))
            .collect::<Vec<_>>()
            .join(", ")
    })
    .unwrap_or_default()
}

fn pref_text(p: &BTreeSet<u16>) -> String {
    p.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn exchange_changes(old: &ExchangeObservation, new: &ExchangeObservation, out: &mut Vec<Change>) {
    for (o, n) in [
        (&old.lookups.a, &new.lookups.a),
        (&old.lookups.aaaa, &new.lookups.aaaa),
    ] {
        let Some((ov, nv)) = both(o, n) else { continue };
        let ov: BTreeSet<_> = ov.into_iter().flatten().collect();
        let nv: BTreeSet<_> = nv.into_iter().flatten().collect();
        for ip in nv.difference(&ov) {
            out.push(Change::new(
                ChangeKind::AddressAdded,
                Severity::High,
                &new.name,
                None,
                Some(ip.to_string()),
            ));
        }
        for ip in ov.difference(&nv) {
            out.push(Change::new(
                ChangeKind::AddressRemoved,
                Severity::Medium,
                &new.name,
                Some(ip.to_string()),
                None,
            ));
        }
    }
    if !old.lookups.any_failed()
        && !new.lookups.any_failed()
        && old.lookups.cname_chain() != new.lookups.cname_chain()
    {
        out.push(Change::new(
            ChangeKind::CnameChanged,
            Severity::High,
            &new.name,
            Some(old.lookups.cname_chain().join(" → ")),
            Some(new.lookups.cname_chain().join(" → ")),
        ));
    }
    for addr in &new.addresses {
        let Some(before) = old.addresses.iter().find(|a| a.ip == addr.ip) else {
            continue;
        };
        if let (Some(o), Some(n)) = (&before.smtp, &addr.smtp) {
            smtp_changes(&format!("{} ({})", new.name, addr.ip), o, n, out);
        }
    }
}

fn smtp_changes(subject: &str, old: &SmtpProbe, new: &SmtpProbe, out: &mut Vec<Change>) {
    // Only dialogues that got as far as EHLO on both sides can tell about TLS.
    match (old.offers_starttls(), new.offers_starttls()) {
        (Some(true), Some(false)) => out.push(Change::new(
            ChangeKind::StarttlsLost,
            Severity::High,
            subject,
            Some("offered".into()),
            Some("not offered".into()),
        )),
        (Some(false), Some(true)) => out.push(Change::new(
            ChangeKind::StarttlsGained,
            Severity::Info,
            subject,
            Some("not offered".into()),
            Some("offered".into()),
        )),
        _ => {}
    }
    if old.starttls == StartTls::Established && new.starttls == StartTls::Established {
        if let (Some(o), Some(n)) = (old.certificates.first(), new.certificates.first())
            && o.sha256 != n.sha256
        {
            out.push(Change::new(
                ChangeKind::CertificateChanged,
                Severity::Low,
                subject,
                Some(format!(
                    "{} (sha256 {})",
                    o.subject,
                    &o.sha256[..16.min(o.sha256.len())]
                )),
                Some(format!(
                    "{} (sha256 {})",
                    n.subject,
                    &n.sha256[..16.min(n.sha256.len())]
                )),
            ));
        }
        if let (Some(o), Some(n)) = (&old.tls, &new.tls)
            && o.version != n.version
        {
            out.push(Change::new(
                ChangeKind::TlsVersionChanged,
                Severity::Low,
                subject,
                Some(o.version.clone()),
                Some(n.version.clone()),
            ));
        }
    }
}

fn finding_changes(old: &[Finding], new: &[Finding], incomplete: bool, out: &mut Vec<Change>) {
    // A finding that vanishes from an incomplete observation may only have become unknowable.
    let has_indeterminate =
        |fs: &[Finding]| fs.iter().any(|f| f.id == FindingId::DNS_INDETERMINATE);
    let clearing_is_known = !incomplete && !has_indeterminate(old) && !has_indeterminate(new);
    let key = |f: &Finding| format!("{} {}", f.id, f.subject);
    let before: BTreeMap<String, &Finding> = old.iter().map(|f| (key(f), f)).collect();
    let after: BTreeMap<String, &Finding> = new.iter().map(|f| (key(f), f)).collect();
    for (k, f) in &after {
        if !before.contains_key(k) && f.id != FindingId::DNS_INDETERMINATE {
            out.push(Change::new(
                ChangeKind::FindingAppeared,
                f.severity,
                k,
                None,
                Some(f.detail.clone()),
            ));
        }
    }
    for (k, f) in &before {
        if clearing_is_known && !after.contains_key(k) && f.id != FindingId::DNS_INDETERMINATE {
            out.push(Change::new(
                ChangeKind::FindingCleared,
                Severity::Info,
                k,
                Some(f.detail.clone()),
                None,
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::testkit::*;
    use crate::observation::lookup::Failure;

    fn kinds(changes: &[Change]) -> Vec<ChangeKind> {
        changes.iter().map(|c| c.kind).collect()
    }

    #[test]
    fn same_observation_no_change() {
        assert!(diff(&healthy(), &healthy(), &[], &[]).is_empty());
    }

    #[test]
    fn mx_added_removed_and_preference() {
        let old = domain(
            "example.com",
            &[
                (10, "a.example.net", &["192.0.43.1"]),
                (20, "b.example.net", &["192.0.43.2"]),
            ],
        );
        let new = domain(
            "example.com",
            &[
                (10, "a.example.net", &["192.0.43.1"]),
                (30, "c.example.net", &["192.0.43.3"]),
            ],
        );
        let changes = diff(&old, &new, &[], &[]);
        assert_eq!(
            kinds(&changes),
            [ChangeKind::MxAdded, ChangeKind::MxRemoved]
        );
        assert_eq!(changes[0].subject, "c.example.net");
        assert_eq!(changes[1].old.as_deref(), Some("20"));
        let moved = domain(
            "example.com",
            &[
                (5, "a.example.net", &["192.0.43.1"]),
                (20, "b.example.net", &["192.0.43.2"]),
            ],
        );
        let changes = diff(&old, &moved, &[], &[]);
        assert_eq!(kinds(&changes), [ChangeKind::MxPreferenceChanged]);
        assert_eq!(
            (changes[0].old.as_deref(), changes[0].new.as_deref()),
            (Some("10"), Some("5"))
        );
    }

    #[test]
    fn a_failed_lookup_is_never_a_removal() {
        let old = healthy();
        let mut new = healthy();
        new.mx = failed(Failure::Timeout);
        new.exchanges.clear();
        assert!(diff(&old, &new, &[], &[]).is_empty());
        let mut new = healthy();
        new.exchanges[0].lookups.a = failed(Failure::ServFail);
        assert!(diff(&old, &new, &[], &[]).is_empty());
    }

    #[test]
    fn observed_absence_is_a_change() {
        let old = healthy();
        let mut new = healthy();
        new.mx = nodata();
        new.exchanges.clear();
        assert_eq!(kinds(&diff(&old, &new, &[], &[])), [ChangeKind::MxSetGone]);
    }

    #[test]
    fn dmarc_weakening_is_its_own_change() {
        use crate::observation::PolicyRecords;
        let policy = |dmarc: &str| PolicyRecords {
            spf: observed(vec!["v=spf1 mx -all".into()], 300),
            dmarc: observed(vec![dmarc.into()], 300),
            mta_sts: nodata(),
            tls_rpt: nodata(),
        };
        let mut old = healthy();
        old.policy = Some(policy("v=DMARC1; p=reject; rua=mailto:d@example.com"));
        let mut new = healthy();
        new.policy = Some(policy("v=DMARC1; p=none"));
        let changes = diff(&old, &new, &[], &[]);
        assert_eq!(kinds(&changes), [ChangeKind::DmarcWeakened]);
        assert_eq!(changes[0].subject, "_dmarc.example.com");
        let stronger = diff(&new, &old, &[], &[]);
        assert_eq!(kinds(&stronger), [ChangeKind::DmarcChanged]);
        let mut failed_new = healthy();
        failed_new.policy = Some(PolicyRecords {
            dmarc: failed(Failure::Timeout),
            ..policy("v=DMARC1; p=none")
        });
        assert!(diff(&old, &failed_new, &[], &[]).is_empty());
        assert!(
            super::dmarc_strength("v=DMARC1; p=quarantine; pct=50")
                < super::dmarc_strength("v=DMARC1; p=quarantine")
        );
    }

    #[test]
    fn a_resolver_counting_its_cache_down_is_no_ttl_change() {
        let old = healthy();
        let mut new = healthy();
        if let Lookup::Observed { ttl, .. } = &mut new.mx {
            *ttl -= 2;
        }
        assert!(diff(&old, &new, &[], &[]).is_empty());
    }

    #[test]
    fn a_finding_that_became_unknowable_is_not_cleared() {
        let finding = |id: &str| Finding {
            id: id.into(),
            severity: Severity::Low,
            subject: "example.com".into(),
            title: String::new(),
            detail: String::new(),
            fix: String::new(),
            reference: String::new(),
        };
        let changes = diff(
            &healthy(),
            &healthy(),
            &[finding("MX-TTL")],
            &[finding("DNS-INDETERMINATE")],
        );
        assert!(changes.is_empty(), "{changes:?}");
        let changes = diff(&healthy(), &healthy(), &[finding("MX-TTL")], &[]);
        assert_eq!(kinds(&changes), [ChangeKind::FindingCleared]);
    }

    #[test]
    fn address_changes() {
        let old = domain("example.com", &[(10, "a.example.net", &["192.0.43.1"])]);
        let new = domain("example.com", &[(10, "a.example.net", &["192.0.43.9"])]);
        assert_eq!(
            kinds(&diff(&old, &new, &[], &[])),
            [ChangeKind::AddressAdded, ChangeKind::AddressRemoved]
        );
    }

    #[test]
    fn dkim_keys_and_dnssec_status_changes_are_reported_failures_are_not() {
        use crate::observation::dnssec::Proof;
        let with = with_dkim_key_and_mx_proof;
        let secure = || Proof::Secure {
            zone: "example.com".into(),
        };
        let old = with(observed(vec!["v=DKIM1; p=AAAA".into()], 300), secure());
        let rotated = with(observed(vec!["v=DKIM1; p=BBBB".into()], 300), secure());
        let changes = diff(&old, &rotated, &[], &[]);
        assert_eq!(kinds(&changes), [ChangeKind::DkimKeyChanged]);
        assert_eq!(changes[0].subject, "s1._domainkey.example.com");
        let unsigned = with(
            observed(vec!["v=DKIM1; p=AAAA".into()], 300),
            Proof::Insecure {
                zone: "example.com".into(),
                proof: "no DS".into(),
            },
        );
        let changes = diff(&old, &unsigned, &[], &[]);
        assert_eq!(kinds(&changes), [ChangeKind::DnssecChanged]);
        assert_eq!(changes[0].severity, Severity::Medium);
        let unknown = with(
            failed(Failure::Timeout),
            Proof::Indeterminate {
                detail: "timeout".into(),
            },
        );
        assert!(diff(&old, &unknown, &[], &[]).is_empty());
    }

    fn with_registration(observed_at: &str, days: i64, status: &[&str]) -> Observation {
        let mut obs = healthy();
        obs.observed_at = observed_at.into();
        obs.rdap = Some(crate::observation::rdap::RdapObservation {
            domains: vec![registered("example.com", true, &[], days, status)],
        });
        obs
    }

    #[test]
    fn a_registration_crossing_an_alert_threshold_is_one_change() {
        // Expires 2026-11-23 + 32 days; the looks are 1 and 3 days after "now".
        let old = with_registration("2026-11-24T00:00:00Z", 32, LOCKED);
        let new = with_registration("2026-11-26T00:00:00Z", 32, LOCKED);
        let changes = diff(&old, &new, &[], &[]);
        assert_eq!(kinds(&changes), [ChangeKind::RegistrationExpiring]);
        assert_eq!(changes[0].severity, Severity::Medium);
        assert_eq!(
            changes[0].new.as_deref(),
            Some("under 30 days before expiry: expires on 2026-12-25")
        );
        // No threshold between the looks: nothing.
        let later = with_registration("2026-11-27T00:00:00Z", 32, LOCKED);
        assert!(diff(&new, &later, &[], &[]).is_empty());
        // A long gap that crosses 60, 30 and 7: the nearest, once.
        let early = with_registration("2026-09-01T00:00:00Z", 32, LOCKED);
        let late = with_registration("2026-12-20T00:00:00Z", 32, LOCKED);
        let changes = diff(&early, &late, &[], &[]);
        assert_eq!(kinds(&changes), [ChangeKind::RegistrationExpiring]);
        assert_eq!(changes[0].severity, Severity::High);
    }

    #[test]
    fn renewals_and_lock_changes_are_changes_and_failures_are_not() {
        let old = with_registration("2026-11-24T00:00:00Z", 20, LOCKED);
        let renewed = with_registration("2026-11-25T00:00:00Z", 385, LOCKED);
        let changes = diff(&old, &renewed, &[], &[]);
        assert_eq!(kinds(&changes), [ChangeKind::RegistrationExpiryChanged]);
        assert_eq!(changes[0].severity, Severity::Info);

        let unlocked = with_registration("2026-11-25T00:00:00Z", 20, &["active"]);
        let changes = diff(&old, &unlocked, &[], &[]);
        assert_eq!(kinds(&changes), [ChangeKind::RegistrationLockChanged]);
        assert_eq!(changes[0].severity, Severity::High);
        assert_eq!(changes[0].new.as_deref(), Some("(no lock)"));
        let relocked = diff(&unlocked, &old, &[], &[]);
        assert_eq!(relocked[0].severity, Severity::Info);
        assert!(crate::monitor::lifecycle::reverts(
            &changes[0],
            &relocked[0]
        ));

        let mut failed = unlocked.clone();
        failed.rdap.as_mut().unwrap().domains[0].outcome =
            crate::observation::rdap::RdapOutcome::Failed {
                failure: crate::observation::rdap::RdapFailure::RateLimited,
                detail: "HTTP 429".into(),
            };
        assert!(diff(&old, &failed, &[], &[]).is_empty());
        assert!(diff(&failed, &unlocked, &[], &[]).is_empty());
    }
}
