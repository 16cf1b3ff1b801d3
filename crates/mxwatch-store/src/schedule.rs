//! The shared schedule: the watch inventory's due domains and the alert queue, taken by any
//! number of `mxwatch worker --config` processes on one PostgreSQL database (columns of
//! `domains` and `alert_deliveries`, migrations/postgres/0005_shared_schedule.sql).
//!
//! It is the scan queue's pattern ([`crate::queue`]) on the watcher's own tables, so a due
//! domain is a row already there, not a copy in a second queue:
//! - a due domain is run by one worker at a time: its lease (`leased_by`, `lease_until`), taken
//!   with `FOR UPDATE SKIP LOCKED` and extended by the worker's heartbeat;
//! - a dead worker loses nothing: its heartbeat stops, the lease runs out, another worker
//!   takes the domain (it is still due: only a written cycle moves `next_due`);
//! - a cycle is written once: [`crate::Cycle::lease`] makes the write check, under the
//!   domain row's lock, that its worker still holds the lease, and the write releases it; a
//!   worker whose lease ran out while it was still busy gets [`crate::StoreError::LeaseLost`];
//! - an alert is queued once per change set (the delivery key, `alert_events.delivery_key`)
//!   and sent by the one worker that claimed its delivery (`claimed_by`, `claim_until`, taken
//!   with `SKIP LOCKED`). A worker that dies between sending and recording "delivered" leaves
//!   a claim that runs out and the alert is sent again: at least once, never by two workers at
//!   the same time.
//!
//! Lease times are milliseconds of the database's clock (`work_now_ms()`), so workers whose
//! clocks disagree agree on when a lease ends; `next_due` stays in Unix seconds as the
//! watcher writes it.

use crate::postgres::pending_alerts;
use crate::{PendingAlert, PgStore, Result};
use std::time::Duration;

/// The shared schedule's operations (PostgreSQL: [`PgStore`]).
#[async_trait::async_trait]
pub trait SharedSchedule: Send + Sync {
    /// Leases up to `limit` domains due at `now` (Unix seconds) whose lease is free or run out,
    /// earliest due first. Returns their names.
    async fn take_due(
        &self,
        worker: &str,
        now: i64,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<String>>;
    /// The worker is alive: its domain leases and alert claims last another `lease` from now.
    /// Returns the domains it holds.
    async fn extend_leases(&self, worker: &str, lease: Duration) -> Result<u64>;
    /// Gives a domain back without a cycle written (the cycle failed; `next_due`, if given, is
    /// when to try again).
    async fn release(&self, worker: &str, domain: &str, next_due: Option<i64>) -> Result<()>;
    /// A worker stopping cleanly: its leases and claims are freed at once instead of expiring.
    async fn release_all(&self, worker: &str) -> Result<()>;
    /// Claims up to `limit` deliveries due at `now` (Unix seconds) that nobody holds, for
    /// `lease`; each with its whole alert. Delivered or failed, the claim ends
    /// ([`crate::Store::alert_delivered`], [`crate::Store::alert_failed`]).
    async fn claim_alerts(
        &self,
        worker: &str,
        now: i64,
        limit: i64,
        lease: Duration,
    ) -> Result<Vec<PendingAlert>>;
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[async_trait::async_trait]
impl SharedSchedule for PgStore {
    async fn take_due(
        &self,
        worker: &str,
        now: i64,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<String>> {
        let mut names: Vec<String> = sqlx::query_scalar(
            "UPDATE domains d SET leased_by = $1, lease_until = work_now_ms() + $3 \
             FROM (SELECT name FROM domains \
                   WHERE next_due <= $2 AND lease_until < work_now_ms() \
                   ORDER BY next_due, name LIMIT $4 FOR UPDATE SKIP LOCKED) AS free \
             WHERE d.name = free.name RETURNING d.name",
        )
        .bind(worker)
        .bind(now)
        .bind(millis(lease))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        names.sort();
        Ok(names)
    }

    async fn extend_leases(&self, worker: &str, lease: Duration) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        // SKIP LOCKED, as the scan queue's heartbeat: a row locked now is being written by this
        // worker's own cycle (which releases it) or taken by another worker after the lease
        // ran out; waiting for it could lock rows in the opposite order of that writer.
        let held = sqlx::query(
            "UPDATE domains d SET lease_until = work_now_ms() + $2 \
             FROM (SELECT name FROM domains WHERE leased_by = $1 FOR UPDATE SKIP LOCKED) AS mine \
             WHERE d.name = mine.name",
        )
        .bind(worker)
        .bind(millis(lease))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query(
            "UPDATE alert_deliveries d SET claim_until = work_now_ms() + $2 \
             FROM (SELECT id FROM alert_deliveries WHERE claimed_by = $1 \
                   AND delivered_at IS NULL AND gave_up_at IS NULL FOR UPDATE SKIP LOCKED) AS mine \
             WHERE d.id = mine.id",
        )
        .bind(worker)
        .bind(millis(lease))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(held)
    }

    async fn release(&self, worker: &str, domain: &str, next_due: Option<i64>) -> Result<()> {
        sqlx::query(
            "UPDATE domains SET leased_by = NULL, lease_until = 0, \
             next_due = COALESCE($3, next_due) WHERE name = $2 AND leased_by = $1",
        )
        .bind(worker)
        .bind(domain)
        .bind(next_due)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn release_all(&self, worker: &str) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE domains SET leased_by = NULL, lease_until = 0 WHERE leased_by = $1")
            .bind(worker)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE alert_deliveries SET claimed_by = NULL, claim_until = 0 WHERE claimed_by = $1",
        )
        .bind(worker)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn claim_alerts(
        &self,
        worker: &str,
        now: i64,
        limit: i64,
        lease: Duration,
    ) -> Result<Vec<PendingAlert>> {
        let rows = sqlx::query(
            "WITH claimed AS ( \
                 UPDATE alert_deliveries d SET claimed_by = $1, claim_until = work_now_ms() + $3 \
                 FROM (SELECT id FROM alert_deliveries \
                       WHERE delivered_at IS NULL AND gave_up_at IS NULL AND next_attempt <= $2 \
                       AND claim_until < work_now_ms() \
                       ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED) AS free \
                 WHERE d.id = free.id RETURNING d.id, d.alert_id, d.sink, d.attempts) \
             SELECT c.id AS delivery_id, c.sink, c.attempts, e.id AS alert_id, e.event, e.domain, \
                 e.created_at, e.mx_before, e.mx_after \
             FROM claimed c JOIN alert_events e ON e.id = c.alert_id ORDER BY c.id",
        )
        .bind(worker)
        .bind(now)
        .bind(millis(lease))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        pending_alerts(&self.pool, &rows).await
    }
}
