//! One domain, one cycle: observe, compare with the baseline, confirm, record.

use crate::commands::audit::now_unix;
use crate::config::{AlertConfig, Config, DomainConfig};
use mxwatch_core::expect::MxExpectation;
use mxwatch_core::monitor::baseline::carry_forward;
use mxwatch_core::monitor::diff::{Change, ChangeKind, diff};
use mxwatch_core::{CheckContext, DomainName, Report};
use mxwatch_probe::Collector;
use mxwatch_store::{Cycle, NewChange, Resolution, Store, StoredChange};
use std::sync::Arc;
use std::time::Duration;

/// A domain of the inventory, ready to watch.
pub struct Entry {
    pub config: DomainConfig,
    pub domain: DomainName,
    pub every: Duration,
    pub expectation: Option<Arc<MxExpectation>>,
}

pub struct Watcher<S: Store> {
    pub store: S,
    pub config: Config,
    pub entries: Vec<Entry>,
    pub http: reqwest::Client,
    /// A fresh collector (fresh caches): `true` for the confirming look.
    pub collector: Box<dyn Fn(bool) -> Collector + Send + Sync>,
    pub lab: bool,
    pub expiry_warning_days: u32,
    pub confirm_after: Duration,
    pub jitter: f64,
    pub retention_secs: i64,
    pub retry_after_secs: i64,
    pub concurrency: usize,
    /// One alert delivery round at a time.
    pub delivery: tokio::sync::Mutex<()>,
}

impl<S: Store> Watcher<S> {
    fn context(&self, entry: &Entry) -> CheckContext {
        CheckContext {
            expected_mx: entry.expectation.clone(),
            lab: self.lab,
            now_unix: now_unix(),
            expiry_warning_days: self.expiry_warning_days,
        }
    }

    async fn look(&self, entry: &Entry, collector: &Collector) -> Report {
        let observation = collector
            .observe_with_selectors(&entry.domain, &entry.config.dkim_selectors)
            .await;
        Report::new(observation, &self.context(entry), vec![])
    }

    fn next_due(&self, entry: &Entry) -> i64 {
        let every = entry.every.as_secs_f64();
        // Spread (jitter) keeps a large inventory from firing at the same second.
        let spread = every * self.jitter * (2.0 * pseudo_random() - 1.0);
        now_unix() + (every + spread).max(1.0).round() as i64
    }

    /// One cycle of `entry`. `shared` is the batch's collector (one cache and one SMTP
    /// prober for every domain of the batch); the confirming look gets fresh ones.
    ///
    /// The stored baseline is the reference, part by part (`reference::carry_forward`):
    /// a part that failed in a look keeps its last observed value, so a failure is never
    /// a change and never hides the next one.
    pub async fn cycle(&self, entry: &Entry, shared: &Collector) -> anyhow::Result<()> {
        let name = &entry.domain.ascii;
        // Read the reference first: an unreadable one fails the cycle before any probing.
        let baseline: Option<Report> = match self.store.baseline(name).await? {
            Some(value) => Some(serde_json::from_value(value)?),
            None => None,
        };
        let started = now_unix();
        let first = self.look(entry, shared).await;
        let Some(base) = baseline else {
            // First sight is the reference.
            return self.record_unchanged(entry, &first, None, started).await;
        };
        let seen = diff(
            &base.observation,
            &first.observation,
            &base.findings,
            &first.findings,
        );
        if seen.is_empty() {
            return self
                .record_unchanged(entry, &first, Some(&base), started)
                .await;
        }
        tracing::info!(domain = %name, changes = seen.len(), "change seen; confirming in {:?}", self.confirm_after);
        tokio::time::sleep(self.confirm_after).await;
        let second = self.look(entry, &(self.collector)(true)).await;
        let again = diff(
            &base.observation,
            &second.observation,
            &base.findings,
            &second.findings,
        );
        // Confirmed: seen by both looks (findings by ID and subject: their details carry
        // timings and counters; records by their new value too). A flap or a hiccup is not.
        let confirmed: Vec<Change> = again
            .iter()
            .filter(|c| seen.iter().any(|s| same_change(s, c)))
            .cloned()
            .collect();
        // A record change that only the second look saw must not slip into the reference
        // unrecorded: keep the old reference, the next cycle sees it again and confirms it.
        let stable = again.iter().all(|c| {
            confirmed.contains(c)
                || is_finding(c.kind)
                || c.severity == mxwatch_core::Severity::Info
        });
        let open = self.store.open_changes(name).await?;
        let now = now_unix();
        let expected = self.expected(entry, &second, now);
        let mut changes = Vec::new();
        let mut resolutions = Vec::new();
        for change in confirmed {
            if let Some(original) = open.iter().find(|o| reverts(o, &change)) {
                resolutions.push(Resolution {
                    change_id: original.id,
                    alert: self.sinks_for(original.severity, original.expected.is_some()),
                });
                continue;
            }
            if open.iter().any(|o| already_recorded(o, &change)) {
                continue;
            }
            // A newer value of the same thing supersedes the open change (nothing left to revert to).
            for older in open
                .iter()
                .filter(|o| o.kind == change.kind.as_str() && o.subject == change.subject)
            {
                resolutions.push(Resolution {
                    change_id: older.id,
                    alert: vec![],
                });
            }
            let why = match change.kind {
                ChangeKind::MxAdded
                | ChangeKind::MxRemoved
                | ChangeKind::MxPreferenceChanged
                | ChangeKind::MxSetBack => expected.clone(),
                _ => self.config.maintenance_at(&entry.config, now),
            };
            tracing::info!(domain = %name, expected = why.is_some(), "change confirmed: {}", change.summary());
            changes.push(NewChange {
                alert: self.sinks_for(change.severity, why.is_some()),
                change,
                first_seen: started,
                expected: why,
            });
        }
        let reference = if stable {
            with_observation(
                &second,
                carry_forward(&base.observation, &second.observation),
            )
        } else {
            second.clone()
        };
        self.store
            .record_cycle(Cycle {
                report: &reference,
                observed_at: now,
                baseline: stable,
                changes,
                resolutions,
                next_due: self.next_due(entry),
            })
            .await?;
        Ok(())
    }

    /// Records a look that changed nothing as the new reference (its failed parts carried
    /// forward from `base`).
    async fn record_unchanged(
        &self,
        entry: &Entry,
        report: &Report,
        base: Option<&Report>,
        observed_at: i64,
    ) -> anyhow::Result<()> {
        let reference = match base {
            Some(base) => with_observation(
                report,
                carry_forward(&base.observation, &report.observation),
            ),
            None => report.clone(),
        };
        self.store
            .record_cycle(Cycle {
                report: &reference,
                observed_at,
                baseline: true,
                changes: vec![],
                resolutions: vec![],
                next_due: self.next_due(entry),
            })
            .await?;
        Ok(())
    }

    /// Why changes to the MX set are expected now: a maintenance window, or the new set is the expected one.
    fn expected(&self, entry: &Entry, report: &Report, now: i64) -> Option<String> {
        if let Some(window) = self.config.maintenance_at(&entry.config, now) {
            return Some(window);
        }
        let expectation = entry.expectation.as_ref()?;
        let matches = report.observation.mx.value().is_some()
            && !report.findings.iter().any(|f| f.id == "MX-UNEXPECTED");
        matches.then(|| format!("the new MX set matches {}", expectation.source))
    }

    fn sinks_for(&self, severity: mxwatch_core::Severity, expected: bool) -> Vec<String> {
        if expected && !self.config.defaults.alert_expected {
            return vec![];
        }
        self.config
            .alerts
            .iter()
            .filter(|a: &&AlertConfig| severity >= a.min_severity)
            .map(AlertConfig::sink_name)
            .collect()
    }
}

/// The look's findings (what was judged) with the reference observation (failed parts carried).
fn with_observation(report: &Report, observation: mxwatch_core::Observation) -> Report {
    Report {
        observation,
        ..report.clone()
    }
}

fn is_finding(kind: ChangeKind) -> bool {
    matches!(
        kind,
        ChangeKind::FindingAppeared | ChangeKind::FindingCleared
    )
}

/// Two looks saw the same change.
fn same_change(a: &Change, b: &Change) -> bool {
    a.key() == b.key() && (is_finding(a.kind) || a.new == b.new)
}

/// `change` is already an open change (the reference could not move on last time).
fn already_recorded(open: &StoredChange, change: &Change) -> bool {
    open.kind == change.kind.as_str()
        && open.subject == change.subject
        && (is_finding(change.kind) || open.new == change.new)
}

/// `change` undoes the open change `original`: the inverse event, or the old value back.
fn reverts(original: &StoredChange, change: &Change) -> bool {
    if original.subject != change.subject {
        return false;
    }
    // A finding that clears undoes its appearance whatever its detail said (timings, counts).
    if is_finding(change.kind) {
        let inverse = if change.kind == ChangeKind::FindingAppeared {
            "finding-cleared"
        } else {
            "finding-appeared"
        };
        return original.kind == inverse;
    }
    let inverse = match change.kind {
        ChangeKind::MxAdded => Some(ChangeKind::MxRemoved),
        ChangeKind::MxRemoved => Some(ChangeKind::MxAdded),
        ChangeKind::AddressAdded => Some(ChangeKind::AddressRemoved),
        ChangeKind::AddressRemoved => Some(ChangeKind::AddressAdded),
        ChangeKind::StarttlsLost => Some(ChangeKind::StarttlsGained),
        ChangeKind::StarttlsGained => Some(ChangeKind::StarttlsLost),
        ChangeKind::MxSetGone => Some(ChangeKind::MxSetBack),
        ChangeKind::MxSetBack => Some(ChangeKind::MxSetGone),
        ChangeKind::FindingAppeared => Some(ChangeKind::FindingCleared),
        ChangeKind::FindingCleared => Some(ChangeKind::FindingAppeared),
        _ => None,
    };
    match inverse {
        Some(kind) => {
            original.kind == kind.as_str()
                && original.old == change.new
                && original.new == change.old
        }
        None => original.kind == change.kind.as_str() && original.old == change.new,
    }
}

/// A number in [0, 1) for jitter; not for anything that needs real randomness.
fn pseudo_random() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(now_unix() as u64);
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use mxwatch_core::Severity;

    fn stored(kind: &str, subject: &str, old: Option<&str>, new: Option<&str>) -> StoredChange {
        StoredChange {
            id: 1,
            domain: "a.test".into(),
            kind: kind.into(),
            subject: subject.into(),
            severity: Severity::High,
            old: old.map(Into::into),
            new: new.map(Into::into),
            first_seen: 0,
            confirmed_at: 0,
            expected: None,
            approved_by: None,
            resolved_at: None,
        }
    }

    fn change(kind: ChangeKind, subject: &str, old: Option<&str>, new: Option<&str>) -> Change {
        Change {
            kind,
            severity: Severity::High,
            subject: subject.into(),
            old: old.map(Into::into),
            new: new.map(Into::into),
        }
    }

    #[test]
    fn reverting_changes() {
        let added = stored("mx-added", "mx9.a.test", None, Some("10"));
        assert!(reverts(
            &added,
            &change(ChangeKind::MxRemoved, "mx9.a.test", Some("10"), None)
        ));
        assert!(!reverts(
            &added,
            &change(ChangeKind::MxRemoved, "mx8.a.test", Some("10"), None)
        ));
        let moved = stored(
            "mx-preference-changed",
            "mx1.a.test",
            Some("10"),
            Some("20"),
        );
        assert!(reverts(
            &moved,
            &change(
                ChangeKind::MxPreferenceChanged,
                "mx1.a.test",
                Some("20"),
                Some("10")
            )
        ));
        assert!(!reverts(
            &moved,
            &change(
                ChangeKind::MxPreferenceChanged,
                "mx1.a.test",
                Some("20"),
                Some("30")
            )
        ));
    }

    #[test]
    fn jitter_is_in_range() {
        for _ in 0..100 {
            let r = pseudo_random();
            assert!((0.0..1.0).contains(&r));
        }
    }
}
