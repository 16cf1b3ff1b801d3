//! The PostgreSQL store: the same tables and the same semantics as the SQLite one (one
//! transaction per cycle, idempotent writes by `ON CONFLICT`), for a database several processes
//! reach over the network.

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
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool, Row};
use std::str::FromStr;
use std::time::Duration;

/// Connections per process. A watcher runs its domains' cycles a few at a time and each cycle
/// holds one connection for its transaction; the alert loop and a reading command need one or
/// two more. Eight covers that with room, and stays far below PostgreSQL's default
/// `max_connections` (100) when several processes share one server.
pub const DEFAULT_POOL_SIZE: u32 = 8;

/// How long a cycle waits for a free connection before failing (and being retried by the
/// watcher's backoff) rather than hanging when the server is gone.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct PgStore {
    pub(crate) pool: PgPool,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The options a URL names. sqlx's parse errors do not repeat the URL, so the password cannot
/// leak through them.
fn options(url: &str) -> Result<PgConnectOptions> {
    PgConnectOptions::from_str(url).map_err(StoreError::Database)
}

impl PgStore {
    /// Connects to the database `url` names (which must exist: creating databases is the
    /// administrator's) and runs the migrations.
    pub async fn open(url: &str) -> Result<PgStore> {
        let options = options(url)?;
        // One connection first, only to fail at once with the server's answer (refused, no such
        // database, bad password): the pool retries its first connection until the acquire
        // timeout and then reports only the timeout. (Migrating on this connection instead
        // makes `open`'s future not `Send`: sqlx's `Acquire` for `&mut PgConnection`.)
        options.connect().await?.close().await.ok();
        let pool = PgPoolOptions::new()
            .max_connections(DEFAULT_POOL_SIZE)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        // sqlx's PostgreSQL migrator holds a session advisory lock (`pg_advisory_lock`, keyed
        // on the database's name) while it checks and applies migrations
        // (sqlx-postgres 0.9 src/migrate.rs, `lock`), so processes starting together on a new
        // database wait for each other instead of racing; the SQLite store needs its retries
        // because SQLite has no such lock.
        MIGRATOR.run(&pool).await?;
        Ok(PgStore { pool })
    }
}

/// The advisory lock a watcher holds, as PostgreSQL's two-key form: that key space is apart
/// from the one-key form sqlx's migrator uses, so the two locks never meet. Advisory locks
/// belong to one database, so each database has its own watcher lock. (The first key is
/// "mxwa" in ASCII, to be recognisable in `pg_locks`.)
const WATCHER_LOCK: (i32, i32) = (0x6d78_7761, 1);

/// Held for a watcher's life: while it lives, a second [`try_lock_watcher`] on the same
/// database answers `None`. It is a session-level advisory lock on a connection of its own,
/// so PostgreSQL releases it when the connection ends — the process exiting or being killed
/// included; no stale lock is left to clean up.
pub struct WatcherLock {
    _connection: PgConnection,
}

/// Takes the watcher lock of the database `url` names, or answers `None` if another process
/// holds it.
pub async fn try_lock_watcher(url: &str) -> Result<Option<WatcherLock>> {
    lock_watcher(url, "SELECT pg_try_advisory_lock($1, $2)").await
}

/// Takes the watcher lock in its shared form: `mxwatch worker --config` processes, any number
/// of them, hold it while they take the inventory's due domains with leases, so no `watch` or
/// `serve` (which take it whole) runs the same inventory beside them, and no worker starts
/// taking it while one of those runs. `None`: a `watch` or `serve` holds it.
pub async fn try_share_watcher_lock(url: &str) -> Result<Option<WatcherLock>> {
    lock_watcher(url, "SELECT pg_try_advisory_lock_shared($1, $2)").await
}

/// Tries `query` (one of PostgreSQL's `pg_try_advisory_lock*` on [`WATCHER_LOCK`]) on a
/// connection of its own, kept while the lock is held.
async fn lock_watcher(url: &str, query: &'static str) -> Result<Option<WatcherLock>> {
    let mut connection = options(url)?.connect().await?;
    let locked: bool = sqlx::query_scalar(query)
        .bind(WATCHER_LOCK.0)
        .bind(WATCHER_LOCK.1)
        .fetch_one(&mut connection)
        .await?;
    if locked {
        Ok(Some(WatcherLock {
            _connection: connection,
        }))
    } else {
        connection.close().await.ok();
        Ok(None)
    }
}

/// Deliveries (rows of `alert_deliveries` joined with their `alert_events`, as [`Store::due_alerts`]
/// selects them) with each alert's changes: for the due list and for the claims of the shared
/// schedule alike.
pub(crate) async fn pending_alerts(
    pool: &PgPool,
    rows: &[sqlx::postgres::PgRow],
) -> Result<Vec<PendingAlert>> {
    let sql = format!(
        "SELECT {} FROM alert_event_changes x JOIN changes c ON c.id = x.change_id \
         WHERE x.alert_id = $1 ORDER BY x.position",
        change_columns_of_c()
    );
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let alert_id: i64 = r.try_get("alert_id")?;
        let changes = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .bind(alert_id)
            .fetch_all(pool)
            .await?
            .iter()
            .map(change_from_row)
            .collect::<Result<Vec<_>>>()?;
        out.push(pending_alert_from_row(r, changes)?);
    }
    Ok(out)
}

#[async_trait::async_trait]
impl Store for PgStore {
    async fn ensure_domains(&self, names: &[String]) -> Result<()> {
        sqlx::query(
            "INSERT INTO domains (name, next_due) SELECT name, 0 FROM UNNEST($1::text[]) AS t (name) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(names)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn retire_others(&self, keep: &[String]) -> Result<u64> {
        let done = sqlx::query("DELETE FROM domains WHERE NOT (name = ANY ($1::text[]))")
            .bind(keep)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn postpone(&self, domain: &str, at: i64) -> Result<()> {
        sqlx::query("UPDATE domains SET next_due = $1 WHERE name = $2")
            .bind(at)
            .bind(domain)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn due_domains(&self, now: i64, limit: i64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT name FROM domains WHERE next_due <= $1 ORDER BY next_due, name LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
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
        // One cycle of a domain written at a time: its schedule row stays locked until this
        // transaction ends, so a second process confirming the same change sees the first's
        // change rows (and reuses them, below) instead of racing it.
        let holder: Option<Option<String>> =
            sqlx::query_scalar("SELECT leased_by FROM domains WHERE name = $1 FOR UPDATE")
                .bind(&report.domain)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(me) = cycle.lease
            && holder.flatten().as_deref() != Some(me)
        {
            return Err(StoreError::LeaseLost(report.domain.clone()));
        }
        let obs_id: i64 = sqlx::query_scalar(
            "INSERT INTO observations (domain, observed_at, status, baseline, report) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(&report.domain)
        .bind(cycle.observed_at)
        .bind(status)
        .bind(cycle.baseline)
        .bind(compress(&json))
        .fetch_one(&mut *tx)
        .await?;
        summary.observation_id = obs_id;
        crate::dashboard::write_summary!(&mut *tx, &summary)?;
        let mut ids = Vec::new();
        for new in &cycle.changes {
            let c = &new.change;
            // The same change still open (another process recorded it first): the same row, so
            // both alerts carry the same change IDs and the delivery key keeps one of them.
            let open: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM changes WHERE domain = $1 AND kind = $2 AND subject = $3 \
                 AND old_value IS NOT DISTINCT FROM $4 AND new_value IS NOT DISTINCT FROM $5 \
                 AND resolved_at IS NULL ORDER BY id LIMIT 1",
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
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO changes (domain, kind, subject, severity, old_value, new_value, first_seen, confirmed_at, \
                 observation_id, expected_reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
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
            .await?;
            ids.push(id);
        }
        for change_id in &cycle.resolutions {
            sqlx::query(
                "UPDATE changes SET resolved_at = $1, resolved_by = $2 WHERE id = $3 AND resolved_at IS NULL",
            )
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
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (domain, delivery_key) DO NOTHING RETURNING id",
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
                sqlx::query(
                    "INSERT INTO alert_event_changes (alert_id, change_id, position) VALUES ($1, $2, $3) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(alert_id)
                .bind(*change_id)
                .bind(position as i64)
                .execute(&mut *tx)
                .await?;
            }
            for sink in &alert.sinks {
                sqlx::query(
                    "INSERT INTO alert_deliveries (alert_id, sink, next_attempt) VALUES ($1, $2, $3) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(alert_id)
                .bind(sink)
                .bind(cycle.observed_at)
                .execute(&mut *tx)
                .await?;
            }
        }
        sqlx::query(
            "INSERT INTO domains (name, next_due, last_observed) VALUES ($1, $2, $3) \
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
        let blob: Option<Vec<u8>> = sqlx::query_scalar(
            "SELECT report FROM observations WHERE domain = $1 AND baseline ORDER BY id DESC LIMIT 1",
        )
        .bind(domain)
        .fetch_optional(&self.pool)
        .await?;
        blob.map(|b| report_json(&b)).transpose()
    }

    async fn observations(&self, domain: &str, limit: i64) -> Result<Vec<ObservationSummary>> {
        let rows = sqlx::query(
            "SELECT id, observed_at, status, baseline, report FROM observations WHERE domain = $1 \
             ORDER BY id DESC LIMIT $2",
        )
        .bind(domain)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let report = report_json(&r.try_get::<Vec<u8>, _>("report")?)?;
                Ok(ObservationSummary {
                    id: r.try_get("id")?,
                    observed_at: r.try_get("observed_at")?,
                    status: r.try_get("status")?,
                    baseline: r.try_get("baseline")?,
                    finding_ids: finding_ids(&report),
                })
            })
            .collect()
    }

    async fn observation(&self, id: i64) -> Result<Option<Value>> {
        let blob: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT report FROM observations WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        blob.map(|b| report_json(&b)).transpose()
    }

    async fn open_changes(&self, domain: &str) -> Result<Vec<StoredChange>> {
        let sql = format!(
            "SELECT {CHANGE_COLUMNS} FROM changes WHERE domain = $1 AND resolved_at IS NULL ORDER BY id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(domain)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(change_from_row).collect()
    }

    async fn changes_since(&self, since: i64, domain: Option<&str>) -> Result<Vec<StoredChange>> {
        let sql = format!(
            "SELECT {CHANGE_COLUMNS} FROM changes WHERE confirmed_at >= $1 \
             AND ($2::text IS NULL OR domain = $2) ORDER BY id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(since)
            .bind(domain)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(change_from_row).collect()
    }

    async fn approve(&self, change_id: i64, by: &str, now: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE changes SET approved_by = $1, approved_at = $2, \
             expected_reason = COALESCE(expected_reason, 'approved by ' || $1) WHERE id = $3",
        )
        .bind(by)
        .bind(now)
        .bind(change_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn due_alerts(&self, now: i64, limit: i64) -> Result<Vec<PendingAlert>> {
        let rows = sqlx::query(
            "SELECT d.id AS delivery_id, d.sink, d.attempts, e.id AS alert_id, e.event, e.domain, e.created_at, \
             e.mx_before, e.mx_after FROM alert_deliveries d JOIN alert_events e ON e.id = d.alert_id \
             WHERE d.delivered_at IS NULL AND d.gave_up_at IS NULL AND d.next_attempt <= $1 ORDER BY d.id LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        pending_alerts(&self.pool, &rows).await
    }

    async fn alert_delivered(&self, delivery_id: i64, now: i64) -> Result<()> {
        sqlx::query(
            "UPDATE alert_deliveries SET claimed_by = NULL, claim_until = 0, delivered_at = $1, attempts = attempts + 1, last_error = NULL \
             WHERE id = $2",
        )
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
                "UPDATE alert_deliveries SET claimed_by = NULL, claim_until = 0, attempts = attempts + 1, last_error = $1, next_attempt = $2 \
                 WHERE id = $3",
            )
            .bind(error)
            .bind(at),
            None => sqlx::query(
                "UPDATE alert_deliveries SET claimed_by = NULL, claim_until = 0, attempts = attempts + 1, last_error = $1, gave_up_at = $2 \
                 WHERE id = $3",
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
             WHERE d.gave_up_at IS NOT NULL AND d.gave_up_at >= $1 ORDER BY d.gave_up_at DESC, d.id DESC",
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
            "DELETE FROM alert_deliveries WHERE (delivered_at IS NOT NULL AND delivered_at < $1) \
             OR (gave_up_at IS NOT NULL AND gave_up_at < $1)",
        )
        .bind(before)
        .execute(&mut *tx)
        .await?;
        // An alert with no delivery left (all done and pruned) goes; one still queued keeps its changes.
        sqlx::query(
            "DELETE FROM alert_event_changes WHERE alert_id IN (SELECT id FROM alert_events \
             WHERE created_at < $1 AND id NOT IN (SELECT alert_id FROM alert_deliveries))",
        )
        .bind(before)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM alert_events WHERE created_at < $1 AND id NOT IN (SELECT alert_id FROM alert_deliveries)",
        )
        .bind(before)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM changes WHERE resolved_at IS NOT NULL AND resolved_at < $1 \
             AND id NOT IN (SELECT change_id FROM alert_event_changes)",
        )
        .bind(before)
        .execute(&mut *tx)
        .await?;
        let done = sqlx::query(
            "DELETE FROM observations WHERE observed_at < $1 AND id NOT IN \
             (SELECT MAX(id) FROM observations WHERE baseline GROUP BY domain) \
             AND id NOT IN (SELECT observation_id FROM changes WHERE observation_id IS NOT NULL)",
        )
        .bind(before)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }
}
