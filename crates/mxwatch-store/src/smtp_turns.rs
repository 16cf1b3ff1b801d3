//! The ledger behind the SMTP politeness budget that `mxwatch worker`s share (PostgreSQL only;
//! table `smtp_turns` and function `smtp_turn_begin`, migrations/postgres/0006_address_budget.sql).
//!
//! A turn is one SMTP connection to one MX address, begun with the database's agreement: at
//! most `concurrent` open at once and `per_minute` begun in any window, counted over every
//! worker of the database. An open turn is a lease its holder renews; a holder that dies stops
//! renewing and its turns stop counting as open when their leases run out. The waiting, the
//! renewing and what a database outage means are the budget's (mxwatch-engine's
//! `smtp_budget`); this file only asks and answers, one statement each.

use crate::queue::millis;
use crate::{Result, StoreError, StoreUrl};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Row};
use std::str::FromStr;
use std::time::Duration;

/// The shared limits one request is held to (each worker passes its own settings: workers with
/// different limits count the same turns, each against its own numbers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedLimits {
    /// Connections to one address open at once, across workers.
    pub concurrent: u32,
    /// Connections to one address begun within `window`, across workers.
    pub per_minute: u32,
    /// How long an open turn counts without being renewed.
    pub lease: Duration,
    /// The per-minute window (sixty seconds; shorter only in tests).
    pub window: Duration,
}

/// The database's answer to "may this worker connect to this address now?".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TurnAnswer {
    /// Connect: the turn's ID, to renew and end.
    Granted(i64),
    /// Not now: what is in use, and when it frees by itself.
    Full {
        open: i64,
        begun_in_window: i64,
        /// The per-minute limit is reached; a start leaves the window after this.
        window_free_in: Option<Duration>,
        /// The concurrency limit is reached; the soonest lease ends after this unless renewed
        /// (a connection closing frees a slot sooner).
        lease_ends_in: Option<Duration>,
    },
}

/// What the ledger holds for one address now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AddressUsage {
    pub open: i64,
    pub begun_in_window: i64,
}

/// The shared turns' operations.
#[async_trait::async_trait]
pub trait TurnLedger: Send + Sync {
    /// Takes a turn for `address` if both limits allow, atomically across workers.
    async fn begin(&self, address: &str, holder: &str, limits: &SharedLimits)
    -> Result<TurnAnswer>;
    /// The connections of these turns are still open: their leases last `lease` from now.
    async fn renew(&self, turns: &[i64], lease: Duration) -> Result<u64>;
    /// The connection closed: the turn no longer counts as open (it still counts as begun
    /// until it leaves the window).
    async fn end(&self, turn: i64) -> Result<()>;
    /// Deletes up to `limit` turns that count for nothing any more (closed or expired, and
    /// older than `window`): what addresses never asked about again leave behind.
    async fn sweep(&self, window: Duration, limit: i64) -> Result<u64>;
    /// The turns counting for `address` now (open, and begun within `window`).
    async fn usage(&self, address: &str, window: Duration) -> Result<AddressUsage>;
}

/// The ledger on PostgreSQL.
#[derive(Clone)]
pub struct PgTurnLedger {
    pool: PgPool,
}

/// Connections of a worker's ledger pool: each admission holds one for one short statement
/// (about a millisecond), and audits waiting for a turn hold none, so two serve hundreds of
/// admissions a second while keeping many workers under the server's `max_connections`.
pub const LEDGER_POOL_SIZE: u32 = 2;

/// How long an admission waits for a connection: short, because the budget falls back to the
/// worker's own limits when the database does not answer, and a probe should not wait out a
/// long timeout first.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

fn duration(ms: Option<i64>) -> Option<Duration> {
    ms.map(|ms| Duration::from_millis(u64::try_from(ms).unwrap_or_default()))
}

impl PgTurnLedger {
    /// Opens the ledger of the database `url` names (migrated like the store).
    pub async fn open(url: &StoreUrl) -> Result<PgTurnLedger> {
        let StoreUrl::Postgres(url) = url else {
            return Err(StoreError::Url(
                "the shared SMTP budget needs a PostgreSQL database (--db postgres://user@host/db)"
                    .into(),
            ));
        };
        crate::PgStore::open(url).await?;
        PgTurnLedger::connect_lazy(url)
    }

    /// A ledger on a database already migrated, connecting when first asked.
    pub fn connect_lazy(url: &str) -> Result<PgTurnLedger> {
        let options = PgConnectOptions::from_str(url).map_err(StoreError::Database)?;
        let pool = PgPoolOptions::new()
            .max_connections(LEDGER_POOL_SIZE)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(options);
        Ok(PgTurnLedger { pool })
    }
}

#[async_trait::async_trait]
impl TurnLedger for PgTurnLedger {
    async fn begin(
        &self,
        address: &str,
        holder: &str,
        limits: &SharedLimits,
    ) -> Result<TurnAnswer> {
        let row = sqlx::query(
            "SELECT turn, open_now, begun_in_window, window_free_in_ms, lease_ends_in_ms \
             FROM smtp_turn_begin($1, $2, $3, $4, $5, $6)",
        )
        .bind(address)
        .bind(holder)
        .bind(i32::try_from(limits.concurrent.max(1)).unwrap_or(i32::MAX))
        .bind(i32::try_from(limits.per_minute.max(1)).unwrap_or(i32::MAX))
        .bind(millis(limits.lease))
        .bind(millis(limits.window))
        .fetch_one(&self.pool)
        .await?;
        Ok(match row.try_get::<Option<i64>, _>("turn")? {
            Some(turn) => TurnAnswer::Granted(turn),
            None => TurnAnswer::Full {
                open: row.try_get("open_now")?,
                begun_in_window: row.try_get("begun_in_window")?,
                window_free_in: duration(row.try_get("window_free_in_ms")?),
                lease_ends_in: duration(row.try_get("lease_ends_in_ms")?),
            },
        })
    }

    async fn renew(&self, turns: &[i64], lease: Duration) -> Result<u64> {
        if turns.is_empty() {
            return Ok(0);
        }
        // Renewed even when the lease ran out meanwhile (an outage longer than the lease): the
        // connection is still open, and counting it again is the truth.
        Ok(sqlx::query(
            "UPDATE smtp_turns SET open_until = work_now_ms() + $2 WHERE id = ANY ($1::bigint[])",
        )
        .bind(turns)
        .bind(millis(lease))
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    async fn end(&self, turn: i64) -> Result<()> {
        sqlx::query(
            "UPDATE smtp_turns SET open_until = LEAST(open_until, work_now_ms()) WHERE id = $1",
        )
        .bind(turn)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn sweep(&self, window: Duration, limit: i64) -> Result<u64> {
        Ok(sqlx::query(
            "DELETE FROM smtp_turns WHERE id IN (\
                 SELECT id FROM smtp_turns \
                 WHERE begun_at <= work_now_ms() - $1 AND open_until <= work_now_ms() \
                 ORDER BY begun_at LIMIT $2)",
        )
        .bind(millis(window))
        .bind(limit)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    async fn usage(&self, address: &str, window: Duration) -> Result<AddressUsage> {
        let row = sqlx::query(
            "SELECT COUNT(*) FILTER (WHERE open_until > work_now_ms()) AS open, \
                    COUNT(*) FILTER (WHERE begun_at > work_now_ms() - $2) AS begun \
             FROM smtp_turns WHERE address = $1",
        )
        .bind(address)
        .bind(millis(window))
        .fetch_one(&self.pool)
        .await?;
        Ok(AddressUsage {
            open: row.try_get("open")?,
            begun_in_window: row.try_get("begun")?,
        })
    }
}
