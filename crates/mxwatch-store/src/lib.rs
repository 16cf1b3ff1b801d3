//! mxwatch-store: what `watch` keeps — observations (compressed), change events,
//! the alert queue and the schedule — behind one trait of domain operations.
//!
//! SQLite is the embedded default (one file, WAL, one writer). The trait is the
//! seam for the PostgreSQL backend of the scale work: a second implementation
//! with its own migrations of the same names, not a rewrite.

mod codec;
mod sqlite;

pub use sqlite::SqliteStore;

use mxwatch_core::monitor::diff::Change;
use mxwatch_core::{Report, Severity};
use serde_json::Value;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// A change event as stored.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct StoredChange {
    pub id: i64,
    pub domain: String,
    pub kind: String,
    pub subject: String,
    pub severity: Severity,
    pub old: Option<String>,
    pub new: Option<String>,
    pub first_seen: i64,
    pub confirmed_at: i64,
    /// Why the change was expected (maintenance window, matches the expected MX, approved).
    pub expected: Option<String>,
    pub approved_by: Option<String>,
    pub resolved_at: Option<i64>,
}

/// One stored observation, summarised.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ObservationSummary {
    pub id: i64,
    pub observed_at: i64,
    pub status: String,
    pub baseline: bool,
    pub finding_ids: Vec<String>,
}

/// An alert waiting to go out.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingAlert {
    pub id: i64,
    pub sink: String,
    /// `change` or `resolved`.
    pub event: String,
    pub attempts: i64,
    pub change: StoredChange,
}

/// A change to record, with why it was expected (if it was) and where to alert.
#[derive(Clone, Debug)]
pub struct NewChange {
    pub change: Change,
    pub first_seen: i64,
    pub expected: Option<String>,
    /// Sinks to queue a `change` alert for.
    pub alert: Vec<String>,
}

/// An open change that went back to how it was.
#[derive(Clone, Debug)]
pub struct Resolution {
    pub change_id: i64,
    /// Sinks to queue a `resolved` alert for.
    pub alert: Vec<String>,
}

/// The domain operations `watch`, `history`, `changes` and `approve` need.
#[allow(async_fn_in_trait)]
pub trait Store {
    /// Adds domains to the schedule (due now) unless already there.
    async fn ensure_domains(&self, names: &[String]) -> Result<()>;
    /// Takes domains that are no longer in the inventory off the schedule (their history stays).
    async fn retire_others(&self, keep: &[String]) -> Result<u64>;
    /// Moves a domain's next check to `at` (after a failed cycle: a backoff, not a tight loop).
    async fn postpone(&self, domain: &str, at: i64) -> Result<()>;
    /// Domains due at `now`, earliest first.
    async fn due_domains(&self, now: i64, limit: i64) -> Result<Vec<String>>;
    /// The earliest `next_due` of any domain.
    async fn next_due(&self) -> Result<Option<i64>>;

    /// Records one cycle of a domain atomically: the observation, its confirmed
    /// changes, the resolutions, the alerts to send, and when it is next due.
    /// Killed half-way, nothing of it is written.
    async fn record_cycle(&self, cycle: Cycle<'_>) -> Result<Vec<i64>>;

    /// The latest baseline observation of a domain, as the JSON report.
    async fn baseline(&self, domain: &str) -> Result<Option<Value>>;
    async fn observations(&self, domain: &str, limit: i64) -> Result<Vec<ObservationSummary>>;
    async fn observation(&self, id: i64) -> Result<Option<Value>>;

    async fn open_changes(&self, domain: &str) -> Result<Vec<StoredChange>>;
    async fn changes_since(&self, since: i64, domain: Option<&str>) -> Result<Vec<StoredChange>>;
    async fn approve(&self, change_id: i64, by: &str, now: i64) -> Result<bool>;

    async fn due_alerts(&self, now: i64, limit: i64) -> Result<Vec<PendingAlert>>;
    async fn alert_delivered(&self, alert_id: i64, now: i64) -> Result<()>;
    async fn alert_failed(&self, alert_id: i64, error: &str, next_attempt: i64) -> Result<()>;

    /// Deletes what is older than `before`: delivered alerts, resolved changes, and observations
    /// (the latest baseline of each domain, and observations open changes point at, are kept).
    async fn prune(&self, before: i64) -> Result<u64>;
}

/// Everything one watch cycle writes.
pub struct Cycle<'a> {
    pub report: &'a Report,
    pub observed_at: i64,
    /// Later observations are compared with this one (false when parts could not be determined).
    pub baseline: bool,
    pub changes: Vec<NewChange>,
    pub resolutions: Vec<Resolution>,
    pub next_due: i64,
}
