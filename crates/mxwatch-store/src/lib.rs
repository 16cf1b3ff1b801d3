//! mxwatch-store: what the monitor keeps — observations (compressed), change events,
//! the alert queue and the schedule — behind one trait of domain operations.
//!
//! SQLite is the embedded default (one file, WAL, one writer); PostgreSQL is for a database
//! on a server. The backend is chosen at run time from a [`StoreUrl`] ([`open`]); callers hold
//! an `Arc<dyn Store>`. Both backends keep the same tables under migrations of the same names
//! (`migrations/sqlite`, `migrations/postgres`) and pass the same story test.

pub mod access;
mod codec;
pub mod dashboard;
pub mod inventory;
mod postgres;
pub mod queue;
mod rows;
pub mod scan_state;
pub mod schedule;
pub mod smtp_turns;
mod sqlite;
#[doc(hidden)]
pub mod testing;
mod url;

pub use postgres::{
    DEFAULT_POOL_SIZE, PgStore, WatcherLock, try_lock_watcher, try_share_watcher_lock,
};
pub use schedule::SharedSchedule;
pub use sqlite::SqliteStore;
pub use url::StoreUrl;

pub use access::{AccessStore, ApiToken, AuditEntry, Role, Session, User};
pub use dashboard::{AnnotatedChange, DashboardStore, DomainRow, Endpoint, Summary};
pub use inventory::{InventoryEntry, InventoryStore, StoredMaintenance};

use mxwatch_core::monitor::diff::{Change, ChangeKind};
use mxwatch_core::{Report, Severity};
use serde_json::Value;
use std::sync::Arc;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The URL names a store this build cannot open (a scheme it does not know, a missing file
    /// where one must exist): the user's to fix.
    #[error("{0}")]
    Url(String),
    /// A cycle run under a lease on the shared schedule was not written: the worker no longer
    /// holds the domain's lease (it ran out and another worker took the domain).
    #[error("the lease on {0} was lost to another worker; this cycle's result is dropped")]
    LeaseLost(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Opens (creating if needed) the store a URL names, with its migrations run. Errors do not
/// repeat the URL: the caller says what it was opening.
pub async fn open(url: &StoreUrl) -> Result<Arc<dyn Store>> {
    match url {
        StoreUrl::Sqlite(path) => Ok(Arc::new(SqliteStore::open(path).await?)),
        StoreUrl::Postgres(url) => Ok(Arc::new(PgStore::open(url).await?)),
    }
}

/// Opens a store that must already exist (reading commands: `history`, `changes`, `approve`):
/// a mistyped path is an error, not a new empty database. A PostgreSQL database is never
/// created by mxwatch, so there a missing one is the server's own error.
pub async fn open_existing(url: &StoreUrl) -> Result<Arc<dyn Store>> {
    if let StoreUrl::Sqlite(path) = url
        && !path.exists()
    {
        return Err(StoreError::Url(
            "no such database (run `mxwatch watch` first, or pass --db)".into(),
        ));
    }
    open(url).await
}

/// A change event as stored.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct StoredChange {
    pub id: i64,
    pub domain: String,
    pub kind: ChangeKind,
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

impl StoredChange {
    /// The change event itself, as `diff` yields it (for the change-lifecycle rules).
    pub fn as_change(&self) -> Change {
        Change {
            kind: self.kind,
            severity: self.severity,
            subject: self.subject.clone(),
            old: self.old.clone(),
            new: self.new.clone(),
        }
    }
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

/// What an alert announces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertKind {
    /// A confirmed change set.
    Change,
    /// Open changes that went back to how they were.
    Resolved,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Change => "change",
            AlertKind::Resolved => "resolved",
        }
    }

    fn parse(text: &str) -> Result<AlertKind> {
        match text {
            "change" => Ok(AlertKind::Change),
            "resolved" => Ok(AlertKind::Resolved),
            other => Err(StoreError::Corrupt(format!(
                "unknown alert event {other:?}"
            ))),
        }
    }
}

/// One alert (one domain, one cycle, one event) waiting to go to one sink, with every
/// change it announces.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingAlert {
    /// The delivery (alert × sink).
    pub id: i64,
    pub sink: String,
    pub attempts: i64,
    pub alert: StoredAlert,
}

/// An alert as recorded: one per domain per confirmed cycle and event.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct StoredAlert {
    pub id: i64,
    pub event: AlertKind,
    pub domain: String,
    pub created_at: i64,
    /// The MX set before and after, `10 mx1.example.net, 20 mx2.example.net` (when it changed).
    pub mx_before: Option<String>,
    pub mx_after: Option<String>,
    /// The changes it announces, in the order recorded.
    pub changes: Vec<StoredChange>,
}

/// A delivery that was given up (a permanent failure), for a person to see.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct FailedDelivery {
    pub id: i64,
    pub alert_id: i64,
    pub domain: String,
    pub sink: String,
    pub attempts: i64,
    pub error: Option<String>,
    pub gave_up_at: i64,
}

/// A change to record, with why it was expected (if it was).
#[derive(Clone, Debug)]
pub struct NewChange {
    pub change: Change,
    pub first_seen: i64,
    pub expected: Option<String>,
}

/// What an alert of a cycle announces: a change recorded in the same cycle (its index in
/// [`Cycle::changes`]) or an existing one (a resolved change's ID).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertSubject {
    New(usize),
    Existing(i64),
}

/// An alert to queue with a cycle, for each of `sinks`.
#[derive(Clone, Debug)]
pub struct NewAlert {
    pub event: AlertKind,
    pub mx_before: Option<String>,
    pub mx_after: Option<String>,
    pub changes: Vec<AlertSubject>,
    pub sinks: Vec<String>,
}

/// The domain operations the monitor and the reading commands need; `serve`'s own (access,
/// the store-held inventory, the dashboard's reads) are traits of their own, in their modules.
#[async_trait::async_trait]
pub trait Store: AccessStore + InventoryStore + DashboardStore + Send + Sync {
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

    /// Records one cycle of a domain atomically: the observation, its confirmed changes, the
    /// resolutions, the alerts to send, and when it is next due. Killed half-way, nothing of
    /// it is written. Returns the new changes' IDs, in order.
    async fn record_cycle(&self, cycle: Cycle<'_>) -> Result<Vec<i64>>;

    /// The latest baseline observation of a domain, as the JSON report.
    async fn baseline(&self, domain: &str) -> Result<Option<Value>>;
    async fn observations(&self, domain: &str, limit: i64) -> Result<Vec<ObservationSummary>>;
    async fn observation(&self, id: i64) -> Result<Option<Value>>;

    async fn open_changes(&self, domain: &str) -> Result<Vec<StoredChange>>;
    async fn changes_since(&self, since: i64, domain: Option<&str>) -> Result<Vec<StoredChange>>;
    async fn approve(&self, change_id: i64, by: &str, now: i64) -> Result<bool>;

    /// Deliveries due at `now`, oldest first, each with its whole alert.
    async fn due_alerts(&self, now: i64, limit: i64) -> Result<Vec<PendingAlert>>;
    async fn alert_delivered(&self, delivery_id: i64, now: i64) -> Result<()>;
    /// A failed try: `retry_at` is when to try again, or `None` to give up (a permanent failure,
    /// kept with its reason for [`Store::failed_deliveries`]).
    async fn alert_failed(
        &self,
        delivery_id: i64,
        error: &str,
        now: i64,
        retry_at: Option<i64>,
    ) -> Result<()>;
    /// Deliveries given up since `since`, newest first.
    async fn failed_deliveries(&self, since: i64) -> Result<Vec<FailedDelivery>>;

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
    /// Open changes (by ID) that went back to how they were.
    pub resolutions: Vec<i64>,
    pub alerts: Vec<NewAlert>,
    pub next_due: i64,
    /// The worker whose lease on the domain this cycle ran under (the shared schedule,
    /// [`schedule`]): the cycle is written only while that worker still holds the lease
    /// ([`StoreError::LeaseLost`] otherwise), and writing it releases the lease. `None` for
    /// `watch` and `serve`, which hold the whole database's watcher lock instead.
    pub lease: Option<&'a str>,
}

/// The delivery key of an alert: its event and the IDs of the changes it announces, sorted.
/// Unique per domain in the alert queue, so the same change set is queued (and sent) once,
/// whichever process confirmed it and however many times.
pub(crate) fn delivery_key(event: AlertKind, change_ids: &[i64]) -> String {
    let mut ids = change_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
    format!("{}:{}", event.as_str(), ids.join(","))
}
