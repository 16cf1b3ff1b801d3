//! The embedded SQLite store: one file, WAL, a busy timeout, one writer.

use crate::codec::compress;
use crate::rows::{
    CHANGE_COLUMNS, alert_change_ids, change_columns_of_c, change_from_row, encode_report,
    finding_ids, pending_alert_from_row, report_json,
};
use crate::{
    Cycle, FailedDelivery, ObservationSummary, PendingAlert, Result, Store, StoreError,
    StoredChange, delivery_key,
};
use serde_json::Value;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

#[derive(Clone)]
pub struct SqliteStore {
    pub(crate) pool: SqlitePool,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

impl SqliteStore {
    /// Opens (creating if needed) the database file and runs the migrations.
    pub async fn open(path: &Path) -> Result<SqliteStore> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL in WAL mode: a power cut may lose the last commits, a killed process loses nothing.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        Self::connect(options, 4).await
    }

    /// A private in-memory database (tests).
    pub async fn memory() -> Result<SqliteStore> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true);
        // One connection: each in-memory connection is its own database.
        Self::connect(options, 1).await
    }

    async fn connect(options: SqliteConnectOptions, max: u32) -> Result<SqliteStore> {
        // Two processes opening a new database at once (a watcher starting while `history` reads
        // it) race: switching the new file to WAL answers SQLITE_BUSY at once (the busy timeout
        // does not cover it), and sqlx takes no lock around SQLite migrations, so the loser's first
        // migration fails on the tables the winner just made. The winner recorded its migration in
        // the same transaction, so opening again finds the database ready.
        let mut attempt = 0u64;
        loop {
            match Self::connect_once(options.clone(), max).await {
                Ok(store) => return Ok(store),
                Err(_) if attempt < 8 => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(25 * attempt)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn connect_once(options: SqliteConnectOptions, max: u32) -> Result<SqliteStore> {
        let pool = SqlitePoolOptions::new()
            .max_connections(max)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(SqliteStore { pool })
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn ensure_domains(&self, names: &[String]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for name in names {
            sqlx::query(
                "INSERT INTO domains (name, next_due) VALUES (?, 0) ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn retire_others(&self, keep: &[String]) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        let names: Vec<String> = sqlx::query_scalar("SELECT name FROM domains")
            .fetch_all(&mut *tx)
            .await?;
        let mut retired = 0;
        for name in names.iter().filter(|n| !keep.contains(n)) {
            retired += sqlx::query("DELETE FROM domains WHERE name = ?")
                .bind(name)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(retired)
    }

    async fn postpone(&self, domain: &str, at: i64) -> Result<()> {
        sqlx::query("UPDATE domains SET next_due = ? WHERE name = ?")
            .bind(at)
            .bind(domain)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn due_domains(&self, now: i64, limit: i64) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT name FROM domains WHERE next_due <= ? ORDER BY next_due, name LIMIT ?",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| r.try_get("name").map_err(Into::into))
            .collect()
    }

    async fn next_due(&self) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar("SELECT MIN(next_due) FROM domains")
            .fetch_one(&self.pool)
            .await?)
    }

    async fn record_cycle(&self, cycle: Cycle<'_>) -> Result<Vec<i64>> {
        let report = cycle.report;
        let (status, json) = encode_report(report)?;
        // The overview's row of this domain, written in the same transaction (serve).
        let mut summary = crate::dashboard::Summary::of(report, 0, cycle.observed_at, &status);
        let mut tx = self.pool.begin().await?;
        if let Some(me) = cycle.lease {
            // Nothing takes leases on SQLite (workers need PostgreSQL), but the trait's promise
            // holds here too: a cycle run under a lease is written only while it is held.
            let holder: Option<Option<String>> =
                sqlx::query_scalar("SELECT leased_by FROM domains WHERE name = ?")
                    .bind(&report.domain)
                    .fetch_optional(&mut *tx)
                    .await?;
            if holder.flatten().as_deref() != Some(me) {
                return Err(StoreError::LeaseLost(report.domain.clone()));
            }
        }
        let obs_id: i64 = sqlx::query(
            "INSERT INTO observations (domain, observed_at, status, baseline, report) VALUES (?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(&report.domain)
        .bind(cycle.observed_at)
        .bind(status)
        .bind(cycle.baseline)
        .bind(compress(&json))
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        summary.observation_id = obs_id;
        crate::dashboard::write_summary!(&mut *tx, &summary)?;
        let mut ids = Vec::new();
        for new in &cycle.changes {
            let c = &new.change;
            // The same change still open: the same row (see the PostgreSQL store).
            let open: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM changes WHERE domain = ? AND kind = ? AND subject = ? \
                 AND old_value IS ? AND new_value IS ? AND resolved_at IS NULL ORDER BY id LIMIT 1",
            )
            .bind(&report.domain)
            .bind(c.kind.as_str())
            .bind(&c.subject)
            .bind(&c.old)
            .bind(&c.new)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(id) = open {
                ids.push(id);
                continue;
            }
            let id: i64 = sqlx::query(
                "INSERT INTO changes (domain, kind, subject, severity, old_value, new_value, first_seen, confirmed_at, \
                 observation_id, expected_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            )
            .bind(&report.domain)
            .bind(c.kind.as_str())
            .bind(&c.subject)
            .bind(c.severity.as_str())
            .bind(&c.old)
            .bind(&c.new)
            .bind(new.first_seen)
            .bind(cycle.observed_at)
            .bind(obs_id)
            .bind(&new.expected)
            .fetch_one(&mut *tx)
            .await?
            .try_get("id")?;
            ids.push(id);
        }
        for change_id in &cycle.resolutions {
            sqlx::query("UPDATE changes SET resolved_at = ?, resolved_by = ? WHERE id = ? AND resolved_at IS NULL")
                .bind(cycle.observed_at)
                .bind(obs_id)
                .bind(change_id)
                .execute(&mut *tx)
                .await?;
        }
        for alert in cycle.alerts.iter().filter(|a| !a.sinks.is_empty()) {
            let change_ids = alert_change_ids(alert, &ids)?;
            let Some(alert_id) = sqlx::query_scalar::<_, i64>(
                "INSERT INTO alert_events (domain, event, created_at, mx_before, mx_after, delivery_key) \
                 VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (domain, delivery_key) DO NOTHING RETURNING id",
            )
            .bind(&report.domain)
            .bind(alert.event.as_str())
            .bind(cycle.observed_at)
            .bind(&alert.mx_before)
            .bind(&alert.mx_after)
            .bind(delivery_key(alert.event, &change_ids))
            .fetch_optional(&mut *tx)
            .await?
            else {
                // Already queued with the same changes: announced once.
                continue;
            };
            for (position, change_id) in change_ids.iter().enumerate() {
                sqlx::query("INSERT OR IGNORE INTO alert_event_changes (alert_id, change_id, position) VALUES (?, ?, ?)")
                    .bind(alert_id)
                    .bind(*change_id)
                    .bind(position as i64)
                    .execute(&mut *tx)
                    .await?;
            }
            for sink in &alert.sinks {
                sqlx::query("INSERT OR IGNORE INTO alert_deliveries (alert_id, sink, next_attempt) VALUES (?, ?, ?)")
                    .bind(alert_id)
                    .bind(sink)
                    .bind(cycle.observed_at)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        sqlx::query(
            "INSERT INTO domains (name, next_due, last_observed) VALUES (?, ?, ?) \
             ON CONFLICT (name) DO UPDATE SET next_due = excluded.next_due, last_observed = excluded.last_observed, \
             leased_by = NULL, lease_until = 0",
        )
        .bind(&report.domain)
        .bind(cycle.next_due)
        .bind(cycle.observed_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(ids)
    }

    async fn baseline(&self, domain: &str) -> Result<Option<Value>> {
        let row = sqlx::query("SELECT report FROM observations WHERE domain = ? AND baseline = 1 ORDER BY id DESC LIMIT 1")
            .bind(domain)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| report_json(&r.try_get::<Vec<u8>, _>("report")?))
            .transpose()
    }

    async fn observations(&self, domain: &str, limit: i64) -> Result<Vec<ObservationSummary>> {
        let rows = sqlx::query(
            "SELECT id, observed_at, status, baseline, report FROM observations WHERE domain = ? ORDER BY id DESC LIMIT ?",
        )
        .bind(domain)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let report = report_json(&r.try_get::<Vec<u8>, _>("report")?)?;
                let finding_ids = finding_ids(&report);
                Ok(ObservationSummary {
                    id: r.try_get("id")?,
                    observed_at: r.try_get("observed_at")?,
                    status: r.try_get("status")?,
                    baseline: r.try_get("baseline")?,
                    finding_ids,
                })
            })
            .collect()
    }

    async fn observation(&self, id: i64) -> Result<Option<Value>> {
        let row = sqlx::query("SELECT report FROM observations WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| report_json(&r.try_get::<Vec<u8>, _>("report")?))
            .transpose()
    }

    async fn open_changes(&self, domain: &str) -> Result<Vec<StoredChange>> {
        let sql = format!(
            "SELECT {CHANGE_COLUMNS} FROM changes WHERE domain = ? AND resolved_at IS NULL ORDER BY id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(domain)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(change_from_row).collect()
    }

    async fn changes_since(&self, since: i64, domain: Option<&str>) -> Result<Vec<StoredChange>> {
        let sql = format!(
            "SELECT {CHANGE_COLUMNS} FROM changes WHERE confirmed_at >= ? AND (? IS NULL OR domain = ?) ORDER BY id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(since)
            .bind(domain)
            .bind(domain)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(change_from_row).collect()
    }

    async fn approve(&self, change_id: i64, by: &str, now: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE changes SET approved_by = ?, approved_at = ?, expected_reason = COALESCE(expected_reason, 'approved by ' || ?) \
             WHERE id = ?",
        )
        .bind(by)
        .bind(now)
        .bind(by)
        .bind(change_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn due_alerts(&self, now: i64, limit: i64) -> Result<Vec<PendingAlert>> {
        let rows = sqlx::query(
            "SELECT d.id AS delivery_id, d.sink, d.attempts, e.id AS alert_id, e.event, e.domain, e.created_at, \
             e.mx_before, e.mx_after FROM alert_deliveries d JOIN alert_events e ON e.id = d.alert_id \
             WHERE d.delivered_at IS NULL AND d.gave_up_at IS NULL AND d.next_attempt <= ? ORDER BY d.id LIMIT ?",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let alert_id: i64 = r.try_get("alert_id")?;
            let sql = format!(
                "SELECT {} FROM alert_event_changes x JOIN changes c ON c.id = x.change_id \
                 WHERE x.alert_id = ? ORDER BY x.position",
                change_columns_of_c()
            );
            let changes = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(alert_id)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(change_from_row)
                .collect::<Result<Vec<_>>>()?;
            out.push(pending_alert_from_row(r, changes)?);
        }
        Ok(out)
    }

    async fn alert_delivered(&self, delivery_id: i64, now: i64) -> Result<()> {
        sqlx::query("UPDATE alert_deliveries SET claimed_by = NULL, claim_until = 0, delivered_at = ?, attempts = attempts + 1, last_error = NULL WHERE id = ?")
            .bind(now)
            .bind(delivery_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn alert_failed(
        &self,
        delivery_id: i64,
        error: &str,
        now: i64,
        retry_at: Option<i64>,
    ) -> Result<()> {
        let query = match retry_at {
            Some(at) => sqlx::query(
                "UPDATE alert_deliveries SET claimed_by = NULL, claim_until = 0, attempts = attempts + 1, last_error = ?, next_attempt = ? WHERE id = ?",
            )
            .bind(error)
            .bind(at),
            None => sqlx::query(
                "UPDATE alert_deliveries SET claimed_by = NULL, claim_until = 0, attempts = attempts + 1, last_error = ?, gave_up_at = ? WHERE id = ?",
            )
            .bind(error)
            .bind(now),
        };
        query.bind(delivery_id).execute(&self.pool).await?;
        Ok(())
    }

    async fn failed_deliveries(&self, since: i64) -> Result<Vec<FailedDelivery>> {
        let rows = sqlx::query(
            "SELECT d.id, d.alert_id, e.domain, d.sink, d.attempts, d.last_error, d.gave_up_at \
             FROM alert_deliveries d JOIN alert_events e ON e.id = d.alert_id \
             WHERE d.gave_up_at IS NOT NULL AND d.gave_up_at >= ? ORDER BY d.gave_up_at DESC, d.id DESC",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(FailedDelivery {
                    id: r.try_get("id")?,
                    alert_id: r.try_get("alert_id")?,
                    domain: r.try_get("domain")?,
                    sink: r.try_get("sink")?,
                    attempts: r.try_get("attempts")?,
                    error: r.try_get("last_error")?,
                    gave_up_at: r.try_get("gave_up_at")?,
                })
            })
            .collect()
    }

    async fn prune(&self, before: i64) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "DELETE FROM alert_deliveries WHERE (delivered_at IS NOT NULL AND delivered_at < ?) \
             OR (gave_up_at IS NOT NULL AND gave_up_at < ?)",
        )
        .bind(before)
        .bind(before)
        .execute(&mut *tx)
        .await?;
        // An alert with no delivery left (all done and pruned) goes; one still queued keeps its changes.
        sqlx::query(
            "DELETE FROM alert_event_changes WHERE alert_id IN (SELECT id FROM alert_events \
             WHERE created_at < ? AND id NOT IN (SELECT alert_id FROM alert_deliveries))",
        )
        .bind(before)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM alert_events WHERE created_at < ? AND id NOT IN (SELECT alert_id FROM alert_deliveries)",
        )
        .bind(before)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM changes WHERE resolved_at IS NOT NULL AND resolved_at < ? \
             AND id NOT IN (SELECT change_id FROM alert_event_changes)",
        )
        .bind(before)
        .execute(&mut *tx)
        .await?;
        let done = sqlx::query(
            "DELETE FROM observations WHERE observed_at < ? AND id NOT IN \
             (SELECT MAX(id) FROM observations WHERE baseline = 1 GROUP BY domain) \
             AND id NOT IN (SELECT observation_id FROM changes WHERE observation_id IS NOT NULL)",
        )
        .bind(before)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }
}
