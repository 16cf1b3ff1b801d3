//! The shared work queue: bulk scans queued by `mxwatch scan --enqueue`, audited by any number of
//! `mxwatch worker`s, read back by `mxwatch scan --job` (PostgreSQL only; tables `work_*` and
//! `workers`, migrations/postgres/0003_work_queue.sql).
//!
//! Why not a job-queue crate: we weighed the three kept PostgreSQL queues for Rust.
//! `underway` 0.2 is built on sqlx 0.8 (a second sqlx in the tree). `apalis-postgres` 1.0 and
//! `graphile_worker` 0.14 are on sqlx 0.9, but both keep jobs in a schema and migrator of their
//! own, their default TLS feature is sqlx's `tls-rustls` (= ring, which must stay out of our
//! tree), and their unit is one job run by a handler: neither writes a result exactly once into
//! a table we can stream from in order, and a bulk scan of millions of lines as millions of
//! their jobs would still need our own results table, sequence and "job done" test on top.
//! What we need is small: a lease per line (`FOR UPDATE SKIP LOCKED`, an expiry, a heartbeat),
//! a result per line under a unique key, and a dense sequence for readers. That is this file.
//!
//! The guarantees, and what gives each:
//! - a line is worked on by one worker at a time: its lease, taken with `SKIP LOCKED`;
//! - a dead worker loses nothing: its leases expire (the heartbeat stops) and are taken again;
//! - a result is written exactly once: `(job_id, line)` is the results' key, and the item leaves
//!   the queue in the same transaction; a late second result (a lease that expired while its
//!   worker was still busy) is dropped;
//! - readers never miss a result: `seq` is dense and raised under the job row's lock in the
//!   writing transaction, so results become visible in `seq` order.

use crate::codec::{compress, decompress};
use crate::{Result, StoreError, StoreUrl};
use mxwatch_core::Report;
use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Row};
use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

/// Leases of one line taken before it is given up (recorded as `gave_up`): a domain whose audit
/// kills its worker must not kill every worker in turn, for ever.
pub const MAX_ATTEMPTS: i32 = 5;

/// One line of a list, as queued.
#[derive(Clone, Debug, PartialEq)]
pub enum QueuedLine {
    /// A domain to audit, with what was done to the input to get it.
    Domain {
        line: u64,
        domain: String,
        notes: Vec<String>,
    },
    /// A line that is not audited: its result is written when it is queued.
    Settled { line: u64, result: ItemResult },
}

/// What became of one line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ItemResult {
    Audited {
        report: Box<Report>,
    },
    Malformed {
        text: String,
        error: String,
    },
    Duplicate {
        domain: String,
        first_line: u64,
    },
    /// Its leases kept expiring (each worker that took it died or lost the database).
    GaveUp {
        domain: String,
        attempts: i32,
    },
}

impl ItemResult {
    fn kind(&self) -> &'static str {
        match self {
            ItemResult::Audited { .. } => "audited",
            ItemResult::Malformed { .. } => "malformed",
            ItemResult::Duplicate { .. } => "duplicate",
            ItemResult::GaveUp { .. } => "gave_up",
        }
    }

    fn domain(&self) -> Option<&str> {
        match self {
            ItemResult::Audited { report } => Some(&report.domain),
            ItemResult::Duplicate { domain, .. } | ItemResult::GaveUp { domain, .. } => {
                Some(domain)
            }
            ItemResult::Malformed { .. } => None,
        }
    }
}

/// A line leased to a worker.
#[derive(Clone, Debug, PartialEq)]
pub struct LeasedItem {
    pub job: i64,
    pub line: u64,
    pub domain: String,
    pub notes: Vec<String>,
    /// Leases taken of it, this one included.
    pub attempts: i32,
}

/// A result to write for a leased line.
#[derive(Clone, Debug)]
pub struct Completion {
    pub job: i64,
    pub line: u64,
    pub result: ItemResult,
}

/// A result as stored, in the job's order.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredResult {
    pub seq: i64,
    pub line: u64,
    pub result: ItemResult,
}

/// A job and how far it is.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct JobStatus {
    pub id: i64,
    pub name: String,
    pub created_at_ms: i64,
    /// The whole list is queued.
    pub sealed: bool,
    pub lines: i64,
    pub results: i64,
    /// Lines not yet audited, and of those how many a worker holds now.
    pub open: i64,
    pub leased: i64,
}

impl JobStatus {
    /// Every line of the list has its result.
    pub fn finished(&self) -> bool {
        self.sealed && self.open == 0
    }

    /// `finished`, `working` (the whole list is queued), or `queueing`.
    pub fn state(&self) -> &'static str {
        if self.finished() {
            "finished"
        } else if self.sealed {
            "working"
        } else {
            "queueing"
        }
    }
}

/// A worker as `mxwatch workers` shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WorkerInfo {
    pub id: String,
    pub host: String,
    pub pid: i64,
    pub started_at_ms: i64,
    pub last_seen_ms: i64,
    /// Milliseconds since its last heartbeat, by the database's clock.
    pub silent_for_ms: i64,
    pub items_done: i64,
    /// Scan lines and inventory domains it holds leases on now (expired leases not counted).
    pub leases: i64,
    pub stopped_at_ms: Option<i64>,
}

impl WorkerInfo {
    /// Results per second over the worker's life (to its last heartbeat).
    pub fn lines_per_second(&self) -> f64 {
        let seconds = (self.last_seen_ms - self.started_at_ms) as f64 / 1000.0;
        if seconds > 0.0 {
            self.items_done as f64 / seconds
        } else {
            0.0
        }
    }
}

/// Who a worker is, for the workers table.
#[derive(Clone, Debug)]
pub struct WorkerIdentity {
    pub id: String,
    pub host: String,
    pub pid: u32,
}

/// The queue's operations.
#[async_trait::async_trait]
pub trait WorkQueue: Send + Sync {
    /// A new, empty job: lines are added with [`WorkQueue::add_lines`], then it is sealed.
    async fn create_job(&self, name: &str) -> Result<i64>;
    /// Queues lines of a job (domains to audit; other lines are settled at once). Adding a line
    /// already queued or settled changes nothing, so a retried batch is harmless.
    async fn add_lines(&self, job: i64, lines: &[QueuedLine]) -> Result<()>;
    /// The whole list is queued.
    async fn seal_job(&self, job: i64) -> Result<()>;
    async fn job(&self, job: i64) -> Result<Option<JobStatus>>;
    async fn jobs(&self) -> Result<Vec<JobStatus>>;

    /// Says a worker started (or is back): its row in the workers table.
    async fn register_worker(&self, worker: &WorkerIdentity) -> Result<()>;
    /// The worker is alive: its leases last another `lease` from now. Returns the leases held.
    async fn heartbeat(&self, worker: &str, lease: Duration) -> Result<u64>;
    /// Leases up to `limit` open lines (oldest job first) whose lease is free or expired.
    async fn take(&self, worker: &str, limit: usize, lease: Duration) -> Result<Vec<LeasedItem>>;
    /// Writes results (each exactly once: a line that already has one keeps it) and takes their
    /// lines off the queue, in one transaction. Returns how many were new.
    async fn complete(&self, worker: &str, results: &[Completion]) -> Result<u64>;
    /// Any line of any job still waiting for its result (leased or not).
    async fn has_open_items(&self) -> Result<bool>;
    /// A worker stopping cleanly: its leases are freed at once instead of expiring.
    async fn stop_worker(&self, worker: &str) -> Result<()>;
    async fn workers(&self) -> Result<Vec<WorkerInfo>>;

    /// Results of a job after sequence number `after`, in order, at most `limit`.
    async fn results_after(&self, job: i64, after: i64, limit: i64) -> Result<Vec<StoredResult>>;
}

/// Opens the queue of the database a URL names (migrated like the store). SQLite has none.
pub async fn open_queue(url: &StoreUrl) -> Result<PgWorkQueue> {
    match url {
        StoreUrl::Postgres(url) => PgWorkQueue::open(url).await,
        StoreUrl::Sqlite(_) => Err(StoreError::Url(
            "the shared work queue needs a PostgreSQL database (--db postgres://user@host/db); \
             on one machine, `mxwatch scan --state FILE` resumes a scan"
                .into(),
        )),
    }
}

/// The queue on PostgreSQL.
#[derive(Clone)]
pub struct PgWorkQueue {
    pool: PgPool,
}

/// Connections of a worker's queue pool: the taker, the result writer and the heartbeat each
/// hold one for a moment, and one is spare for a reader.
pub const QUEUE_POOL_SIZE: u32 = 4;

/// How long a queue operation waits for a connection: short, so a database outage surfaces as
/// an error the worker logs and waits out, rather than a hang.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

impl PgWorkQueue {
    pub async fn open(url: &str) -> Result<PgWorkQueue> {
        // The store's open runs the migrations (under sqlx's advisory lock) and fails at once
        // with the server's own error.
        crate::PgStore::open(url).await?;
        let options = PgConnectOptions::from_str(url).map_err(StoreError::Database)?;
        let pool = PgPoolOptions::new()
            .max_connections(QUEUE_POOL_SIZE)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(options);
        Ok(PgWorkQueue { pool })
    }
}

fn encode(result: &ItemResult) -> Result<Vec<u8>> {
    let json = serde_json::to_vec(result)
        .map_err(|e| StoreError::Corrupt(format!("a result does not encode: {e}")))?;
    Ok(compress(&json))
}

fn decode(blob: &[u8]) -> Result<ItemResult> {
    serde_json::from_slice(&decompress(blob)?)
        .map_err(|e| StoreError::Corrupt(format!("a stored result does not decode: {e}")))
}

/// A duration as the milliseconds the database's clock counts in (saturating).
pub(crate) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn line_of(value: i64) -> u64 {
    u64::try_from(value).unwrap_or_default()
}

/// Writes `results` of one job under the job row's lock: new ones get the next sequence
/// numbers, lines already settled are left alone. Returns how many were written.
async fn settle(
    tx: &mut sqlx::PgConnection,
    job: i64,
    worker: Option<&str>,
    results: &[(u64, &ItemResult)],
) -> Result<u64> {
    let Some(next) =
        sqlx::query_scalar::<_, i64>("SELECT results FROM work_jobs WHERE id = $1 FOR UPDATE")
            .bind(job)
            .fetch_optional(&mut *tx)
            .await?
    else {
        // The job was deleted meanwhile: nothing to write to.
        return Ok(0);
    };
    let lines: Vec<i64> = results.iter().map(|(line, _)| *line as i64).collect();
    let settled: Vec<i64> = sqlx::query_scalar(
        "SELECT line FROM work_results WHERE job_id = $1 AND line = ANY ($2::bigint[])",
    )
    .bind(job)
    .bind(&lines)
    .fetch_all(&mut *tx)
    .await?;
    // Under the job row's lock no other transaction writes this job's results, so what is not
    // settled now is ours to write.
    let mut seen: std::collections::HashSet<i64> = settled.into_iter().collect();
    let (mut new_lines, mut seqs, mut domains, mut kinds, mut payloads) =
        (vec![], vec![], vec![], vec![], vec![]);
    for (line, result) in results {
        if !seen.insert(*line as i64) {
            continue;
        }
        new_lines.push(*line as i64);
        seqs.push(next + 1 + seqs.len() as i64);
        domains.push(result.domain().map(str::to_string));
        kinds.push(result.kind());
        payloads.push(encode(result)?);
    }
    if !new_lines.is_empty() {
        sqlx::query("INSERT INTO work_results (job_id, line, seq, domain, kind, worker, finished_at, payload) \
             SELECT $1, t.line, t.seq, t.domain, t.kind, $2, work_now_ms(), t.payload \
             FROM UNNEST($3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::bytea[]) \
             AS t (line, seq, domain, kind, payload)")
        .bind(job)
        .bind(worker)
        .bind(&new_lines)
        .bind(&seqs)
        .bind(&domains)
        .bind(&kinds)
        .bind(&payloads)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE work_jobs SET results = results + $2 WHERE id = $1")
            .bind(job)
            .bind(new_lines.len() as i64)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query("DELETE FROM work_items WHERE job_id = $1 AND line = ANY ($2::bigint[])")
        .bind(job)
        .bind(&lines)
        .execute(&mut *tx)
        .await?;
    Ok(new_lines.len() as u64)
}

fn job_status(row: &sqlx::postgres::PgRow) -> Result<JobStatus> {
    Ok(JobStatus {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        created_at_ms: row.try_get("created_at")?,
        sealed: row.try_get::<Option<i64>, _>("sealed_at")?.is_some(),
        lines: row.try_get("lines")?,
        results: row.try_get("results")?,
        open: row.try_get("open")?,
        leased: row.try_get("leased")?,
    })
}

/// A job's columns with its open and leased counts. Every line is either open (in `work_items`)
/// or settled (in `work_results`), so `open` is the counters' difference, not a count of a
/// job's items (88 ms for 100,000 open lines, measured); the leased lines are read from the
/// lease index's upper end, which holds only leases not yet run out.
macro_rules! job_query {
    ($filter:literal) => {
        concat!(
            "SELECT j.id, j.name, j.created_at, j.sealed_at, j.lines, j.results, \
             j.lines - j.results AS open, \
             (SELECT COUNT(*) FROM work_items i \
              WHERE i.lease_until > work_now_ms() AND i.job_id = j.id) AS leased \
             FROM work_jobs j ",
            $filter
        )
    };
}

#[async_trait::async_trait]
impl WorkQueue for PgWorkQueue {
    async fn create_job(&self, name: &str) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO work_jobs (name, created_at) VALUES ($1, work_now_ms()) RETURNING id",
        )
        .bind(name)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn add_lines(&self, job: i64, lines: &[QueuedLine]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let (mut numbers, mut domains, mut notes) = (vec![], vec![], vec![]);
        let mut settled = vec![];
        for line in lines {
            match line {
                QueuedLine::Domain {
                    line,
                    domain,
                    notes: n,
                } => {
                    numbers.push(*line as i64);
                    domains.push(domain.clone());
                    // A TEXT[] per row cannot go through UNNEST of a 2-D array (ragged): the
                    // notes travel as one JSON array text each.
                    notes.push(serde_json::to_string(n).unwrap_or_else(|_| "[]".into()));
                }
                QueuedLine::Settled { line, result } => settled.push((*line, result)),
            }
        }
        // A line already settled (a retried batch) is not queued again.
        let added = sqlx::query(
            "INSERT INTO work_items (job_id, line, domain, notes) \
             SELECT $1, t.line, t.domain, ARRAY(SELECT json_array_elements_text(t.notes::json)) \
             FROM UNNEST($2::bigint[], $3::text[], $4::text[]) AS t (line, domain, notes) \
             WHERE NOT EXISTS (SELECT 1 FROM work_results r WHERE r.job_id = $1 AND r.line = t.line) \
             ON CONFLICT (job_id, line) DO NOTHING",
        )
        .bind(job)
        .bind(&numbers)
        .bind(&domains)
        .bind(&notes)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let written = settle(&mut tx, job, None, &settled).await?;
        sqlx::query("UPDATE work_jobs SET lines = lines + $2 WHERE id = $1")
            .bind(job)
            .bind((added + written) as i64)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn seal_job(&self, job: i64) -> Result<()> {
        sqlx::query(
            "UPDATE work_jobs SET sealed_at = work_now_ms() WHERE id = $1 AND sealed_at IS NULL",
        )
        .bind(job)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn job(&self, job: i64) -> Result<Option<JobStatus>> {
        sqlx::query(job_query!("WHERE j.id = $1"))
            .bind(job)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(job_status)
            .transpose()
    }

    async fn jobs(&self) -> Result<Vec<JobStatus>> {
        sqlx::query(job_query!("ORDER BY j.id"))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(job_status)
            .collect()
    }

    async fn register_worker(&self, worker: &WorkerIdentity) -> Result<()> {
        sqlx::query(
            "INSERT INTO workers (id, host, pid, started_at, last_seen) \
             VALUES ($1, $2, $3, work_now_ms(), work_now_ms()) \
             ON CONFLICT (id) DO UPDATE SET last_seen = EXCLUDED.last_seen, stopped_at = NULL",
        )
        .bind(&worker.id)
        .bind(&worker.host)
        .bind(i64::from(worker.pid))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn heartbeat(&self, worker: &str, lease: Duration) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE workers SET last_seen = work_now_ms() WHERE id = $1")
            .bind(worker)
            .execute(&mut *tx)
            .await?;
        // Only leases still ours: one that expired and was taken by another worker is theirs.
        // SKIP LOCKED: a row locked now is being written as done (by this worker's own result
        // writer) or taken by another worker after its lease ran out; waiting for it would let
        // the heartbeat and the writer lock the same rows in opposite orders (a deadlock, seen
        // in the peers' test before this).
        let held = sqlx::query(
            "UPDATE work_items i SET lease_until = work_now_ms() + $2 \
             FROM (SELECT job_id, line FROM work_items WHERE leased_by = $1 \
                   FOR UPDATE SKIP LOCKED) AS mine \
             WHERE i.job_id = mine.job_id AND i.line = mine.line",
        )
        .bind(worker)
        .bind(millis(lease))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(held)
    }

    async fn take(&self, worker: &str, limit: usize, lease: Duration) -> Result<Vec<LeasedItem>> {
        let rows = sqlx::query(
            "UPDATE work_items i SET leased_by = $1, lease_until = work_now_ms() + $3, \
                 attempts = i.attempts + 1 \
             FROM (SELECT job_id, line FROM work_items \
                   WHERE lease_until < work_now_ms() \
                   ORDER BY lease_until, job_id, line LIMIT $2 FOR UPDATE SKIP LOCKED) AS free \
             WHERE i.job_id = free.job_id AND i.line = free.line \
             RETURNING i.job_id, i.line, i.domain, i.notes, i.attempts",
        )
        .bind(worker)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .bind(millis(lease))
        .fetch_all(&self.pool)
        .await?;
        let mut items = rows
            .iter()
            .map(|row| {
                Ok(LeasedItem {
                    job: row.try_get("job_id")?,
                    line: line_of(row.try_get("line")?),
                    domain: row.try_get("domain")?,
                    notes: row.try_get("notes")?,
                    attempts: row.try_get("attempts")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        items.sort_by_key(|item| (item.job, item.line));
        Ok(items)
    }

    async fn complete(&self, worker: &str, results: &[Completion]) -> Result<u64> {
        // Jobs in ID order: two workers completing lines of the same two jobs lock the job rows
        // in the same order, so they cannot deadlock.
        let mut by_job: BTreeMap<i64, Vec<(u64, &ItemResult)>> = BTreeMap::new();
        for done in results {
            by_job
                .entry(done.job)
                .or_default()
                .push((done.line, &done.result));
        }
        let mut tx = self.pool.begin().await?;
        let mut written = 0;
        for (job, lines) in &by_job {
            written += settle(&mut tx, *job, Some(worker), lines).await?;
        }
        sqlx::query("UPDATE workers SET items_done = items_done + $2 WHERE id = $1")
            .bind(worker)
            .bind(written as i64)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(written)
    }

    async fn has_open_items(&self) -> Result<bool> {
        Ok(
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM work_items)")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn stop_worker(&self, worker: &str) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE work_items SET leased_by = NULL, lease_until = 0, attempts = attempts - 1 \
             WHERE leased_by = $1",
        )
        .bind(worker)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE workers SET stopped_at = work_now_ms(), last_seen = work_now_ms() WHERE id = $1")
        .bind(worker)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn workers(&self) -> Result<Vec<WorkerInfo>> {
        let rows = sqlx::query(
            "SELECT w.id, w.host, w.pid, w.started_at, w.last_seen, w.items_done, w.stopped_at, \
                 work_now_ms() - w.last_seen AS silent_for, \
                 (SELECT COUNT(*) FROM work_items i \
                  WHERE i.leased_by = w.id AND i.lease_until > work_now_ms()) \
                 + (SELECT COUNT(*) FROM domains d \
                  WHERE d.leased_by = w.id AND d.lease_until > work_now_ms()) AS leases \
             FROM workers w ORDER BY w.started_at, w.id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(WorkerInfo {
                    id: row.try_get("id")?,
                    host: row.try_get("host")?,
                    pid: row.try_get("pid")?,
                    started_at_ms: row.try_get("started_at")?,
                    last_seen_ms: row.try_get("last_seen")?,
                    silent_for_ms: row.try_get("silent_for")?,
                    items_done: row.try_get("items_done")?,
                    leases: row.try_get("leases")?,
                    stopped_at_ms: row.try_get("stopped_at")?,
                })
            })
            .collect()
    }

    async fn results_after(&self, job: i64, after: i64, limit: i64) -> Result<Vec<StoredResult>> {
        let rows = sqlx::query(
            "SELECT seq, line, payload FROM work_results \
             WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(job)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StoredResult {
                    seq: row.try_get("seq")?,
                    line: line_of(row.try_get("line")?),
                    result: decode(row.try_get::<&[u8], _>("payload")?)?,
                })
            })
            .collect()
    }
}
