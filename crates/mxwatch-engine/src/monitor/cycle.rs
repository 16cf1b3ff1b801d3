//! One domain, one cycle: observe, compare with the baseline, confirm, record, queue alerts.

use super::Watcher;
use crate::audit::{Auditor, now_unix};
use crate::config::DomainConfig;
use mxwatch_core::checks::transition::{beyond_diff, consequences};
use mxwatch_core::expect::MxExpectation;
use mxwatch_core::monitor::baseline::carry_forward;
use mxwatch_core::monitor::diff::{Change, ChangeKind, diff};
use mxwatch_core::monitor::lifecycle::{already_recorded, reverts, same_change};
use mxwatch_core::{CheckContext, DomainName, FindingId, Lookup, MxRecord, Report, Severity};
use mxwatch_probe::Collector;
use mxwatch_store::{AlertKind, AlertSubject, Cycle, NewAlert, NewChange, StoredChange};
use std::sync::Arc;
use std::time::Duration;

/// A domain of the inventory, ready to watch.
pub struct Entry {
    pub config: DomainConfig,
    pub domain: DomainName,
    pub every: Duration,
    pub expectation: Option<Arc<MxExpectation>>,
    /// The domain's own DKIM selectors, asked on top of `defaults.dkim_selectors` (which the
    /// collector already has).
    pub dkim_selectors: Vec<String>,
}

/// What a cycle did, for the caller's log and for tests.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CycleOutcome {
    /// Changes seen by the first look (before confirmation).
    pub seen: usize,
    /// Changes recorded (confirmed by the second look and not already open).
    pub recorded: usize,
    /// Open changes that went back to how they were.
    pub resolved: usize,
    /// Alerts queued (one per event, whatever the number of sinks).
    pub alerts: usize,
}

impl Watcher {
    fn context(&self, entry: &Entry) -> CheckContext {
        CheckContext {
            expected_mx: entry.expectation.clone(),
            ..self.auditor.check_context()
        }
    }

    async fn look(&self, entry: &Entry, collector: &Collector) -> Report {
        let started = std::time::Instant::now();
        let report = Auditor::audit_with(
            collector,
            &entry.domain,
            &entry.dkim_selectors,
            &self.context(entry),
            vec![],
        )
        .await;
        // For `serve`'s /metrics (the `metrics` facade: free when no recorder is installed).
        let status = serde_json::to_value(report.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        metrics::counter!("mxwatch_audits_total", "status" => status).increment(1);
        metrics::histogram!("mxwatch_audit_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        report
    }

    fn next_due(&self, entry: &Entry) -> i64 {
        let every = entry.every.as_secs_f64();
        // Spread (jitter) keeps a large inventory from firing at the same second.
        let spread = every * self.config.defaults.monitor.jitter * (2.0 * pseudo_random() - 1.0);
        now_unix() + (every + spread).max(1.0).round() as i64
    }

    /// One cycle of `entry`. `shared` is the batch's collector (one cache and one SMTP
    /// prober for every domain of the batch); the confirming look gets fresh ones.
    ///
    /// The stored baseline is the reference, part by part (`carry_forward`): a part that
    /// failed in a look keeps its last observed value, so a failure is never a change and
    /// never hides the next one.
    pub async fn cycle(
        &self,
        entry: &Entry,
        shared: &Collector,
    ) -> Result<CycleOutcome, crate::EngineError> {
        let name = &entry.domain.ascii;
        // Read the reference first: an unreadable one fails the cycle before any probing.
        let baseline: Option<Report> = match self.store.baseline(name).await? {
            Some(value) => Some(serde_json::from_value(value).map_err(|e| {
                mxwatch_store::StoreError::Corrupt(format!("the baseline of {name}: {e}"))
            })?),
            None => None,
        };
        let started = now_unix();
        let first = self.look(entry, shared).await;
        let Some(base) = baseline else {
            // First sight is the reference.
            self.record_unchanged(entry, &first, None, started).await?;
            return Ok(CycleOutcome::default());
        };
        let seen = diff(
            &base.observation,
            &first.observation,
            &base.findings,
            &first.findings,
        );
        if seen.is_empty() {
            self.record_unchanged(entry, &first, Some(&base), started)
                .await?;
            return Ok(CycleOutcome::default());
        }
        let confirm_after = self.config.defaults.monitor.confirm_after;
        tracing::info!(domain = %name, changes = seen.len(), "change seen; confirming in {confirm_after:?}");
        tokio::time::sleep(confirm_after).await;
        let confirming = self.auditor.collector_via(self.confirm_resolver);
        let second = self.look(entry, &confirming).await;
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
        let stable = again
            .iter()
            .all(|c| confirmed.contains(c) || c.kind.is_finding() || c.severity == Severity::Info);
        let open = self.store.open_changes(name).await?;
        let now = now_unix();
        let expected_mx = self.expected(entry, &second, now);
        let mut changes = Vec::new();
        let mut resolutions = Vec::new();
        let mut resolved_alerted: Vec<&StoredChange> = Vec::new();
        let mut reverted = 0;
        for change in confirmed {
            if let Some(original) = open.iter().find(|o| reverts(&o.as_change(), &change)) {
                resolutions.push(original.id);
                reverted += 1;
                if self.alertable(original.expected.is_some()) {
                    resolved_alerted.push(original);
                }
                continue;
            }
            if open
                .iter()
                .any(|o| already_recorded(&o.as_change(), &change))
            {
                continue;
            }
            // A newer value of the same thing supersedes the open change (nothing left to
            // revert to): it is closed without an alert.
            resolutions.extend(
                open.iter()
                    .filter(|o| o.kind == change.kind && o.subject == change.subject)
                    .map(|o| o.id),
            );
            let why = if change.kind.is_mx_set() {
                expected_mx.clone()
            } else {
                self.maintenance_at(&entry.config, now)
            };
            tracing::info!(domain = %name, expected = why.is_some(), "change confirmed: {}", change.summary());
            metrics::counter!(
                "mxwatch_changes_total",
                "kind" => change.kind.as_str(),
                "expected" => if why.is_some() { "true" } else { "false" }
            )
            .increment(1);
            changes.push(NewChange {
                change,
                first_seen: started,
                expected: why,
            });
        }
        if changes.iter().any(|c| !c.change.kind.keyed_by_subject()) {
            // What the new change set does (the drain time of a removed exchange …).
            for consequence in confirmed_consequences(&base, &first, &second, started) {
                if open
                    .iter()
                    .any(|o| already_recorded(&o.as_change(), &consequence))
                {
                    continue;
                }
                changes.push(NewChange {
                    change: consequence,
                    first_seen: started,
                    expected: self.config.maintenance_at(&entry.config, now),
                });
            }
        } else if !resolutions.is_empty()
            && open
                .iter()
                .all(|o| o.kind.keyed_by_subject() || resolutions.contains(&o.id))
        {
            // Every record change went back: what it did no longer applies.
            let stale: Vec<&StoredChange> = open
                .iter()
                .filter(|o| o.kind == ChangeKind::Consequence && !resolutions.contains(&o.id))
                .collect();
            for o in stale {
                resolutions.push(o.id);
                if self.alertable(o.expected.is_some()) {
                    resolved_alerted.push(o);
                }
            }
        }
        let mut alerts = Vec::new();
        let alerted: Vec<usize> = (0..changes.len())
            .filter(|&i| self.alertable(changes[i].expected.is_some()))
            .collect();
        if !alerted.is_empty() {
            let kinds: Vec<&Change> = alerted.iter().map(|&i| &changes[i].change).collect();
            alerts.push(self.alert(
                AlertKind::Change,
                kinds.iter().map(|c| (c.kind, c.severity)),
                alerted.iter().map(|&i| AlertSubject::New(i)).collect(),
                &base,
                &second,
            ));
        }
        if !resolved_alerted.is_empty() {
            alerts.push(
                self.alert(
                    AlertKind::Resolved,
                    resolved_alerted.iter().map(|c| (c.kind, c.severity)),
                    resolved_alerted
                        .iter()
                        .map(|c| AlertSubject::Existing(c.id))
                        .collect(),
                    &base,
                    &second,
                ),
            );
        }
        let outcome = CycleOutcome {
            seen: seen.len(),
            recorded: changes.len(),
            resolved: reverted,
            alerts: alerts.iter().filter(|a| !a.sinks.is_empty()).count(),
        };
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
                alerts,
                next_due: self.next_due(entry),
                lease: self.lease_holder(),
            })
            .await?;
        Ok(outcome)
    }

    /// Records a look that changed nothing as the new reference (its failed parts carried
    /// forward from `base`).
    async fn record_unchanged(
        &self,
        entry: &Entry,
        report: &Report,
        base: Option<&Report>,
        observed_at: i64,
    ) -> Result<(), crate::EngineError> {
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
                alerts: vec![],
                next_due: self.next_due(entry),
                lease: self.lease_holder(),
            })
            .await?;
        Ok(())
    }

    /// Why changes to the MX set are expected now: a maintenance window, or the new set is the expected one.
    fn expected(&self, entry: &Entry, report: &Report, now: i64) -> Option<String> {
        if let Some(window) = self.maintenance_at(&entry.config, now) {
            return Some(window);
        }
        let expectation = entry.expectation.as_ref()?;
        let matches = report.observation.mx.value().is_some()
            && !report
                .findings
                .iter()
                .any(|f| f.id == FindingId::MX_UNEXPECTED);
        matches.then(|| format!("the new MX set matches {}", expectation.source))
    }

    /// Expected changes are alerted only with `alert_expected`.
    fn alertable(&self, expected: bool) -> bool {
        !expected || self.config.defaults.monitor.alert_expected
    }

    /// One alert for a set of changes: to every sink whose threshold the worst of them meets,
    /// with the MX set before → after when the MX set is among them.
    fn alert(
        &self,
        event: AlertKind,
        kinds: impl Iterator<Item = (ChangeKind, Severity)>,
        changes: Vec<AlertSubject>,
        base: &Report,
        now: &Report,
    ) -> NewAlert {
        let (mut worst, mut mx) = (Severity::Info, false);
        for (kind, severity) in kinds {
            worst = worst.max(severity);
            mx |= kind.is_mx_set();
        }
        let sinks = self
            .config
            .alerts
            .iter()
            .filter(|a| worst >= a.min_severity)
            .map(|a| a.sink_name())
            .collect();
        NewAlert {
            event,
            mx_before: mx.then(|| mx_set(&base.observation.mx)).flatten(),
            mx_after: mx.then(|| mx_set(&now.observation.mx)).flatten(),
            changes,
            sinks,
        }
    }
}

/// What the change from `base` does (`checks::transition`: the drain time of a removed
/// exchange, a new one outside the cached MTA-STS policy …), as `consequence` changes: those
/// both looks give, confirmed like the changes themselves. `changed_at` (the first look) is when
/// the caches' clocks started.
fn confirmed_consequences(
    base: &Report,
    first: &Report,
    second: &Report,
    changed_at: i64,
) -> Vec<Change> {
    let by_first = consequences(&base.observation, &first.observation, changed_at);
    beyond_diff(consequences(
        &base.observation,
        &second.observation,
        changed_at,
    ))
    .iter()
    .filter(|c| {
        by_first
            .iter()
            .any(|f| f.id == c.id && f.subject == c.subject)
    })
    .map(Change::consequence)
    .collect()
}

/// `10 mx1.example.net, 20 mx2.example.net`: by preference, then name. None when no MX set
/// was observed (absent or not determined).
fn mx_set(mx: &Lookup<Vec<MxRecord>>) -> Option<String> {
    let mut records: Vec<&MxRecord> = mx.value()?.iter().collect();
    records.sort_by(|a, b| (a.preference, &a.exchange).cmp(&(b.preference, &b.exchange)));
    Some(
        records
            .iter()
            .map(|r| format!("{} {}", r.preference, r.exchange))
            .collect::<Vec<_>>()
            .join(", "),
    )
}

/// The look's findings (what was judged) with the reference observation (failed parts carried).
fn with_observation(report: &Report, observation: mxwatch_core::Observation) -> Report {
    Report {
        observation,
        ..report.clone()
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

    #[test]
    fn jitter_is_in_range() {
        for _ in 0..100 {
            let r = pseudo_random();
            assert!((0.0..1.0).contains(&r));
        }
    }

    #[test]
    fn mx_sets_read_by_preference() {
        let lookup: Lookup<Vec<MxRecord>> = serde_json::from_value(serde_json::json!({
            "outcome": "observed", "ttl": 300, "elapsed_ms": 1,
            "value": [{"preference": 20, "exchange": "b.test"}, {"preference": 10, "exchange": "c.test"}, {"preference": 10, "exchange": "a.test"}]
        }))
        .unwrap();
        assert_eq!(mx_set(&lookup).unwrap(), "10 a.test, 10 c.test, 20 b.test");
    }
}
