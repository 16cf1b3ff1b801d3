//! A scan's progress, so a scan killed at any moment (SIGKILL included) and started again
//! with the same state finishes without auditing a done domain again, and — with its output
//! in a file — without losing or repeating a line.
//!
//! The protocol (see `mxwatch scan`): a record is appended to the output file, then the
//! state commits "this line is done, and the output now ends at byte N" in one statement.
//! A restart truncates the output to the committed end first, so a record written but not
//! committed is dropped and written again, once. Its own small SQLite file (not the watch
//! store): a scan's state is thrown away with the scan.

use crate::{Result, StoreError};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

pub struct ScanState {
    pool: SqlitePool,
}

/// Where the outputs ended when the last record was committed (bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Offsets {
    pub output: u64,
    /// The second CSV file (`--csv-findings`), when there is one.
    pub findings: u64,
}

const SCHEMA: &str =
    "CREATE TABLE IF NOT EXISTS scan_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS scan_done (
    line           INTEGER PRIMARY KEY,
    domain         TEXT,
    output_end     INTEGER NOT NULL,
    findings_end   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS scan_done_by_domain ON scan_done (domain);";

impl ScanState {
    pub async fn open(path: &Path) -> Result<ScanState> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // A killed process loses nothing committed in WAL mode with NORMAL.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        sqlx::raw_sql(SCHEMA).execute(&pool).await?;
        Ok(ScanState { pool })
    }

    /// What this state was started with (`input`, `format`, …): a restart with another input
    /// is refused rather than mixed in.
    pub async fn check_meta(&self, key: &str, value: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO scan_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        let stored: String = sqlx::query_scalar("SELECT value FROM scan_meta WHERE key = ?")
            .bind(key)
            .fetch_one(&self.pool)
            .await?;
        if stored != value {
            return Err(StoreError::Url(format!(
                "this scan state was started with {key} {stored:?}, not {value:?}: use another --state file"
            )));
        }
        Ok(())
    }

    /// The input lines already done (audited, or reported as malformed or duplicate).
    pub async fn done_lines(&self) -> Result<HashSet<u64>> {
        let rows = sqlx::query("SELECT line FROM scan_done")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<i64, _>("line")? as u64))
            .collect()
    }

    /// Where the outputs ended at the last commit.
    pub async fn offsets(&self) -> Result<Offsets> {
        let row = sqlx::query(
            "SELECT output_end, findings_end FROM scan_done ORDER BY output_end DESC, findings_end DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(r) => Offsets {
                output: r.try_get::<i64, _>("output_end")? as u64,
                findings: r.try_get::<i64, _>("findings_end")? as u64,
            },
            None => Offsets::default(),
        })
    }

    /// Line `line` is done and the outputs now end at `end`: one atomic statement.
    pub async fn done(&self, line: u64, domain: Option<&str>, end: Offsets) -> Result<()> {
        sqlx::query(
            "INSERT INTO scan_done (line, domain, output_end, findings_end) VALUES (?, ?, ?, ?) \
             ON CONFLICT (line) DO NOTHING",
        )
        .bind(line as i64)
        .bind(domain)
        .bind(end.output as i64)
        .bind(end.findings as i64)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn progress_survives_a_reopen_and_refuses_another_input() {
        let dir = std::env::temp_dir().join(format!("mxwatch-scan-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.db");
        {
            let state = ScanState::open(&path).await.unwrap();
            state.check_meta("input", "list.txt").await.unwrap();
            assert_eq!(state.offsets().await.unwrap(), Offsets::default());
            state
                .done(
                    3,
                    Some("a.test"),
                    Offsets {
                        output: 120,
                        findings: 0,
                    },
                )
                .await
                .unwrap();
            state
                .done(
                    1,
                    None,
                    Offsets {
                        output: 180,
                        findings: 40,
                    },
                )
                .await
                .unwrap();
        }
        let state = ScanState::open(&path).await.unwrap();
        state.check_meta("input", "list.txt").await.unwrap();
        assert!(state.check_meta("input", "other.txt").await.is_err());
        assert_eq!(state.done_lines().await.unwrap(), HashSet::from([1, 3]));
        assert_eq!(
            state.offsets().await.unwrap(),
            Offsets {
                output: 180,
                findings: 40
            }
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
