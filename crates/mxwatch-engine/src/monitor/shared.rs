//! A watcher as one worker among several on the shared schedule (`mxwatch worker --config`,
//! PostgreSQL; [`mxwatch_store::schedule`]): the same cycles as `watch` ([`Watcher::cycle`]),
//! but each due domain is first taken with a lease, so workers on any number of machines share
//! one inventory and a dead worker's domains go to another once its leases run out.

use super::{Entry, Participant, Watcher};
use crate::audit::now_unix;
use crate::error::EngineError;
use crate::worker::Outage;
use std::future::Future;

impl Watcher {
    /// Takes due domains of the inventory with leases and runs their cycles, beside other
    /// workers, until `shutdown` completes; then gives back what it holds (cycles in flight are
    /// abandoned, each being one transaction: nothing is half-written). A database outage pauses
    /// the work with one log line and resumes it. Errors only when this watcher was not made
    /// with [`Watcher::sharing`], or the inventory cannot be read at the start.
    pub async fn run_shared(&self, shutdown: impl Future<Output = ()>) -> Result<(), EngineError> {
        let Some(participant) = &self.shared else {
            return Err(EngineError::Settings(
                "run_shared needs a watcher made with Watcher::sharing".into(),
            ));
        };
        self.refresh_inventory().await?;
        tracing::info!(worker = %participant.worker, lease = ?participant.lease, "taking the inventory's due domains");
        let mut shutdown = std::pin::pin!(shutdown);
        tokio::select! {
            () = self.take_and_run(participant) => {}
            () = heartbeat(participant) => {}
            () = &mut shutdown => {
                tracing::info!("shutting down: cycles in flight are abandoned, their domains given back");
            }
        }
        let mut outage = Outage::new("giving back this worker's domains");
        loop {
            match participant.schedule.release_all(&participant.worker).await {
                Ok(()) => return Ok(()),
                Err(e) => outage.failed(&e).await,
            }
        }
    }

    /// The loop: take what is due (as many as the cycles run at once), run it, deliver the
    /// alerts this worker claims, sleep when nothing is due.
    async fn take_and_run(&self, participant: &Participant) {
        let mut outage = Outage::new("taking due domains");
        let mut last_prune = 0;
        loop {
            self.heartbeat
                .store(now_unix(), std::sync::atomic::Ordering::Relaxed);
            let now = now_unix();
            let inventory = self.inventory_now().await;
            let taken = match participant
                .schedule
                .take_due(
                    &participant.worker,
                    now,
                    self.config.defaults.monitor.concurrency.max(1),
                    participant.lease,
                )
                .await
            {
                Ok(taken) => {
                    outage.ok();
                    taken
                }
                Err(e) => {
                    outage.failed(&e).await;
                    continue;
                }
            };
            let mut due: Vec<&Entry> = Vec::with_capacity(taken.len());
            for name in &taken {
                match inventory.entries.iter().find(|e| &e.domain.ascii == name) {
                    Some(entry) => due.push(entry),
                    None => {
                        // On the schedule but not in this worker's inventory (another worker's
                        // configuration names it): not ours to run; theirs takes it.
                        tracing::warn!(domain = %name, "due but not in this worker's inventory (do all workers use the same configuration?)");
                        if let Err(e) = participant
                            .schedule
                            .release(&participant.worker, name, None)
                            .await
                        {
                            tracing::error!(domain = %name, "giving back: {e}");
                        }
                    }
                }
            }
            let busy = !due.is_empty();
            if busy {
                self.run_cycles(due).await;
            }
            if let Err(e) = self.deliver_due().await {
                tracing::error!("delivering alerts: {e:#}");
            }
            self.prune_if_due(now, &mut last_prune).await;
            if !busy {
                tokio::time::sleep(self.until_next_due(now).await).await;
            }
        }
    }
}

/// Extends this worker's leases and claims every third of their length; never returns.
async fn heartbeat(participant: &Participant) {
    let mut outage = Outage::new("the inventory's heartbeat");
    let mut tick = tokio::time::interval(participant.lease / 3);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match participant
            .schedule
            .extend_leases(&participant.worker, participant.lease)
            .await
        {
            Ok(_) => outage.ok(),
            Err(e) => outage.failed(&e).await,
        }
    }
}
