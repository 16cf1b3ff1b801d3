//! `mxwatch watch`: the schedule, the cycles, the alert queue, shutdown.
//!
//! Each cycle of a domain (observe, compare with the baseline, confirm with a
//! second look, record) is written in one transaction, so a watch killed at any
//! moment loses nothing it had recorded and leaves nothing half-written; on the
//! next start the domain is simply due again.

mod cycle;

pub use cycle::{Entry, Watcher};

use crate::alert::{AlertEvent, backoff, deliver};
use crate::commands::audit::now_unix;
use futures_util::StreamExt;
use mxwatch_store::Store;
use std::time::Duration;

/// Longest sleep between looks at the schedule (and at the alert queue).
const TICK: Duration = Duration::from_secs(5);
/// Observations are pruned this often.
const PRUNE_EVERY: i64 = 3600;

impl<S: Store> Watcher<S> {
    /// Runs until SIGTERM/SIGINT (or, with `once`, after one cycle of every domain).
    pub async fn run(&self, once: bool) -> anyhow::Result<()> {
        let names: Vec<String> = self
            .entries
            .iter()
            .map(|e| e.domain.ascii.clone())
            .collect();
        self.store.ensure_domains(&names).await?;
        let retired = self.store.retire_others(&names).await?;
        if retired > 0 {
            tracing::info!(
                retired,
                "domains no longer in the inventory taken off the schedule"
            );
        }
        let mut shutdown = std::pin::pin!(shutdown_signal());
        let mut last_prune = 0;
        loop {
            let now = now_unix();
            let due: Vec<&Entry> = if once {
                self.entries.iter().collect()
            } else {
                // A store error is waited out, not fatal: the daemon keeps its place.
                let due = match self.store.due_domains(now, 100_000).await {
                    Ok(due) => due,
                    Err(e) => {
                        tracing::error!("reading the schedule: {e}; retrying");
                        vec![]
                    }
                };
                self.entries
                    .iter()
                    .filter(|e| due.contains(&e.domain.ascii))
                    .collect()
            };
            if !due.is_empty() {
                tracing::info!(domains = due.len(), "checking");
                // One collector per batch: a provider shared by many domains is asked once.
                let shared = (self.collector)(false);
                let shared = &shared;
                let batch = futures_util::stream::iter(due).for_each_concurrent(
                    self.concurrency,
                    |entry| async move {
                        if let Err(e) = self.cycle(entry, shared).await {
                            tracing::error!(domain = %entry.domain.ascii, "cycle failed: {e:#}");
                            // Back off instead of retrying every second.
                            let later = now_unix() + entry.every.as_secs().clamp(60, 3600) as i64;
                            if let Err(e) = self.store.postpone(&entry.domain.ascii, later).await {
                                tracing::error!(domain = %entry.domain.ascii, "postponing: {e}");
                            }
                        }
                        // Alerts go out as cycles finish, not when the whole batch is done.
                        if let Err(e) = self.deliver_due().await {
                            tracing::error!("delivering alerts: {e:#}");
                        }
                    },
                );
                tokio::select! {
                    () = batch => {}
                    () = &mut shutdown => {
                        tracing::info!("shutting down: cycles in flight are abandoned, nothing half-written");
                        return Ok(());
                    }
                }
            }
            if let Err(e) = self.deliver_due().await {
                tracing::error!("delivering alerts: {e:#}");
            }
            if now - last_prune >= PRUNE_EVERY {
                match self.store.prune(now - self.retention_secs).await {
                    Ok(0) => {}
                    Ok(pruned) => tracing::info!(pruned, "old observations pruned"),
                    Err(e) => tracing::error!("pruning: {e}"),
                }
                last_prune = now;
            }
            if once {
                return Ok(());
            }
            let next = self
                .store
                .next_due()
                .await
                .ok()
                .flatten()
                .unwrap_or(now + 60);
            let wait = Duration::from_secs(u64::try_from((next - now_unix()).max(1)).unwrap_or(1))
                .min(TICK);
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = &mut shutdown => {
                    tracing::info!("shutting down");
                    return Ok(());
                }
            }
        }
    }

    /// Sends every queued alert that is due; failures stay queued with backoff. One delivery
    /// round at a time, so two finishing cycles never send the same alert twice.
    pub async fn deliver_due(&self) -> anyhow::Result<()> {
        let _round = self.delivery.lock().await;
        let now = now_unix();
        for alert in self.store.due_alerts(now, 1000).await? {
            let Some(sink) = self
                .config
                .alerts
                .iter()
                .find(|a| a.sink_name() == alert.sink)
            else {
                self.store
                    .alert_failed(alert.id, "no such sink in the configuration", now + 3600)
                    .await?;
                continue;
            };
            let event = AlertEvent {
                event: alert.event.clone(),
                change: alert.change.clone(),
            };
            match deliver(sink, &self.http, &event).await {
                Ok(()) => {
                    self.store.alert_delivered(alert.id, now_unix()).await?;
                    tracing::info!(sink = %alert.sink, "alert sent: {}", event.summary());
                }
                Err(e) => {
                    let next = now_unix() + backoff(self.retry_after_secs, alert.attempts);
                    self.store.alert_failed(alert.id, &e, next).await?;
                    tracing::warn!(sink = %alert.sink, attempts = alert.attempts + 1, "alert not delivered (kept queued): {e}");
                }
            }
        }
        Ok(())
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => std::future::pending::<()>().await,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
