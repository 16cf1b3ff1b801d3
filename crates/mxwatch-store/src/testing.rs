//! Test support shared by this crate's and the binary's tests (hidden from the docs; not an API):
//! a fresh PostgreSQL database per test, and what a PostgreSQL test does when no server is
//! configured. It lives here rather than in each test tree so both follow one rule.

use crate::StoreUrl;
use sqlx::{Connection, Executor, PgConnection};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The server to test against, as a URL whose database the tests' own are created beside.
pub const URL_VAR: &str = "MXWATCH_TEST_POSTGRES_URL";
/// Set to `1` (CI does) to make a missing [`URL_VAR`] a failure instead of a skip.
pub const REQUIRE_VAR: &str = "MXWATCH_REQUIRE_POSTGRES";

/// The server URL, or `None` after saying the test is skipped. Panics when [`REQUIRE_VAR`] is
/// `1`, so CI can never pass by skipping.
pub fn server_or_skip(test: &str) -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url.trim().to_string()),
        _ => {
            assert!(
                std::env::var(REQUIRE_VAR).as_deref() != Ok("1"),
                "{test}: {REQUIRE_VAR}=1 but {URL_VAR} is not set (tests/peers/postgres.sh start prints one)"
            );
            // Straight to stderr, not eprintln!: the test harness captures the macros' output
            // of passing tests, and a skip must be visible.
            let _ = writeln!(std::io::stderr(), "{test}: skipped: {URL_VAR} not set");
            None
        }
    }
}

/// `url` with its database replaced by `database` (the rest, query included, kept).
pub fn with_database(url: &str, database: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (location, query) = match rest.split_once('?') {
        Some((location, query)) => (location, Some(query)),
        None => (rest, None),
    };
    let authority = location.split('/').next().unwrap_or_default();
    match query {
        Some(query) => format!("{scheme}://{authority}/{database}?{query}"),
        None => format!("{scheme}://{authority}/{database}"),
    }
}

/// A database of its own for one test, made on the server and dropped by [`TestDatabase::drop`].
pub struct TestDatabase {
    server: String,
    pub name: String,
    /// The database's URL.
    pub url: String,
}

impl TestDatabase {
    /// Creates `mxwatch_<label>_<pid>_<n>` on the server (dropping a leftover of the same name:
    /// the process ID is ours, so one is from an earlier run that panicked).
    pub async fn create(server: &str, label: &str) -> TestDatabase {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "mxwatch_{label}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = PgConnection::connect(server)
            .await
            .unwrap_or_else(|e| panic!("connecting to {}: {e}", StoreUrl::Postgres(server.into())));
        for sql in [
            format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
            format!("CREATE DATABASE \"{name}\""),
        ] {
            admin
                .execute(sqlx::AssertSqlSafe(sql))
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        admin.close().await.ok();
        TestDatabase {
            url: with_database(server, &name),
            server: server.to_string(),
            name,
        }
    }

    pub fn store_url(&self) -> StoreUrl {
        StoreUrl::Postgres(self.url.clone())
    }

    /// Drops the database, closing whatever connections the test left open (its pools).
    pub async fn drop(self) {
        let mut admin = PgConnection::connect(&self.server).await.unwrap();
        admin
            .execute(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            )))
            .await
            .unwrap_or_else(|e| panic!("dropping {}: {e}", self.name));
        admin.close().await.ok();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn with_database_keeps_the_rest_of_the_url() {
        assert_eq!(
            super::with_database("postgres://u:pw@127.0.0.1:55432/postgres", "x"),
            "postgres://u:pw@127.0.0.1:55432/x"
        );
        assert_eq!(
            super::with_database("postgresql://u@h?sslmode=disable", "x"),
            "postgresql://u@h/x?sslmode=disable"
        );
    }
}
