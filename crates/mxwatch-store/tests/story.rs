//! One story through the store: schedule, cycles, changes, resolution, alerts
//! with retry, approval, history, pruning, and a reopen after the process died —
//! told to each backend: SQLite (in memory, on disk, by URL) and PostgreSQL (a fresh
//! database on the server `MXWATCH_TEST_POSTGRES_URL` names; see `mxwatch_store::testing`).

use mxwatch_core::monitor::diff::{Change, ChangeKind};
use mxwatch_core::{CheckContext, Observation, Report, Severity};
use mxwatch_store::{AlertKind, AlertSubject, Cycle, NewAlert, NewChange, SqliteStore, Store};
use serde_json::json;

fn report(exchange: &str) -> Report {
    let obs: Observation = serde_json::from_value(json!({
        "schema": 1,
        "domain": {"ascii": "a.test", "unicode": "a.test"},
        "observed_at": "2026-11-23T00:00:00Z",
        "resolver": "127.0.0.1:53",
        "mx": {"outcome": "observed", "value": [{"preference": 10, "exchange": exchange}], "ttl": 300, "elapsed_ms": 1},
        "soa": {"outcome": "absent", "absence": "no_data", "elapsed_ms": 1},
        "ns": {"outcome": "absent", "absence": "no_data", "elapsed_ms": 1},
        "exchanges": []
    }))
    .unwrap();
    Report::new(obs, &CheckContext::default(), vec![])
}

fn change(kind: ChangeKind, subject: &str) -> Change {
    Change {
        kind,
        severity: Severity::High,
        subject: subject.into(),
        old: None,
        new: Some("10".into()),
    }
}

async fn story(store: &dyn Store) {
    store
        .ensure_domains(&["a.test".into(), "b.test".into()])
        .await
        .unwrap();
    store.ensure_domains(&["a.test".into()]).await.unwrap();
    assert_eq!(
        store.due_domains(100, 10).await.unwrap(),
        ["a.test", "b.test"]
    );

    // First cycle: the baseline, no change.
    let first = report("mx1.a.test");
    store
        .record_cycle(Cycle {
            report: &first,
            observed_at: 100,
            baseline: true,
            changes: vec![],
            resolutions: vec![],
            alerts: vec![],
            next_due: 700,
            lease: None,
        })
        .await
        .unwrap();
    assert_eq!(store.due_domains(100, 10).await.unwrap(), ["b.test"]);
    assert_eq!(
        store.baseline("a.test").await.unwrap().unwrap()["domain"],
        "a.test"
    );

    // Second cycle: two confirmed changes, one alert of both to each of two sinks.
    let second = report("mx2.a.test");
    let ids = store
        .record_cycle(Cycle {
            report: &second,
            observed_at: 700,
            baseline: true,
            changes: vec![
                NewChange {
                    change: change(ChangeKind::MxAdded, "mx2.a.test"),
                    first_seen: 690,
                    expected: None,
                },
                NewChange {
                    change: change(ChangeKind::FindingAppeared, "MX-SINGLE a.test"),
                    first_seen: 690,
                    expected: None,
                },
            ],
            resolutions: vec![],
            alerts: vec![NewAlert {
                event: AlertKind::Change,
                mx_before: Some("10 mx1.a.test".into()),
                mx_after: Some("10 mx2.a.test".into()),
                changes: vec![AlertSubject::New(0), AlertSubject::New(1)],
                sinks: vec!["hook".into(), "log".into()],
            }],
            next_due: 1300,
            lease: None,
        })
        .await
        .unwrap();
    let open = store.open_changes("a.test").await.unwrap();
    assert_eq!(open.len(), 2);
    assert_eq!(
        (open[0].id, open[0].kind, open[0].first_seen),
        (ids[0], ChangeKind::MxAdded, 690)
    );

    // Alerts: one per sink, each holding both changes; one fails and is retried later.
    let due = store.due_alerts(700, 10).await.unwrap();
    assert_eq!(due.len(), 2);
    assert_eq!(
        due[0].alert.id, due[1].alert.id,
        "one alert, two deliveries"
    );
    assert_eq!(due[0].alert.event, AlertKind::Change);
    assert_eq!(due[0].alert.mx_after.as_deref(), Some("10 mx2.a.test"));
    let kinds: Vec<ChangeKind> = due[0].alert.changes.iter().map(|c| c.kind).collect();
    assert_eq!(kinds, [ChangeKind::MxAdded, ChangeKind::FindingAppeared]);
    store.alert_delivered(due[1].id, 701).await.unwrap();
    store
        .alert_failed(due[0].id, "connection refused", 700, Some(760))
        .await
        .unwrap();
    assert!(store.due_alerts(720, 10).await.unwrap().is_empty());
    let retry = store.due_alerts(760, 10).await.unwrap();
    assert_eq!(
        (retry.len(), retry[0].attempts, retry[0].sink.as_str()),
        (1, 1, "hook")
    );
    // A permanent failure stops the retries and is kept with its reason.
    store
        .alert_failed(retry[0].id, "POST …: HTTP 404", 770, None)
        .await
        .unwrap();
    assert!(store.due_alerts(100_000, 10).await.unwrap().is_empty());
    let given_up = store.failed_deliveries(0).await.unwrap();
    assert_eq!(given_up.len(), 1);
    assert_eq!(
        (
            given_up[0].sink.as_str(),
            given_up[0].attempts,
            given_up[0].gave_up_at
        ),
        ("hook", 2, 770)
    );
    assert_eq!(given_up[0].error.as_deref(), Some("POST …: HTTP 404"));

    // Approval marks it expected.
    assert!(store.approve(ids[0], "alice", 800).await.unwrap());
    assert!(!store.approve(9999, "alice", 800).await.unwrap());
    let since = store.changes_since(0, Some("a.test")).await.unwrap();
    assert_eq!(since[0].approved_by.as_deref(), Some("alice"));
    assert_eq!(since[0].expected.as_deref(), Some("approved by alice"));

    // Third cycle: it went back; the change is resolved and a 'resolved' alert queued.
    let third = report("mx1.a.test");
    store
        .record_cycle(Cycle {
            report: &third,
            observed_at: 1300,
            baseline: true,
            changes: vec![],
            resolutions: ids.clone(),
            alerts: vec![NewAlert {
                event: AlertKind::Resolved,
                mx_before: None,
                mx_after: None,
                changes: vec![AlertSubject::Existing(ids[0])],
                sinks: vec!["hook".into()],
            }],
            next_due: 1900,
            lease: None,
        })
        .await
        .unwrap();
    assert!(store.open_changes("a.test").await.unwrap().is_empty());
    let due = store.due_alerts(1300, 10).await.unwrap();
    assert_eq!(due.len(), 1, "{due:?}");
    assert_eq!(due[0].alert.event, AlertKind::Resolved);
    assert_eq!(due[0].alert.changes[0].resolved_at, Some(1300));

    // History, newest first; pruning keeps the latest baseline and observations changes point at.
    let history = store.observations("a.test", 10).await.unwrap();
    assert_eq!(history.len(), 3);
    assert!(history[0].id > history[1].id);
    assert_eq!(
        store.prune(2000).await.unwrap(),
        1,
        "only the first observation can go"
    );
    assert_eq!(store.observations("a.test", 10).await.unwrap().len(), 2);
    assert_eq!(
        store.next_due().await.unwrap(),
        Some(0),
        "b.test was never observed"
    );
}

#[tokio::test]
async fn story_in_memory() {
    story(&SqliteStore::memory().await.unwrap()).await;
}

#[tokio::test]
async fn story_through_a_store_chosen_by_url() {
    let dir = std::env::temp_dir().join(format!("mxwatch-store-url-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url: mxwatch_store::StoreUrl = format!("sqlite://{}", dir.join("mx.db").display())
        .parse()
        .unwrap();
    let store = mxwatch_store::open(&url).await.unwrap();
    story(store.as_ref()).await;
    // Nothing listens on port 1: a database error that says so, and never the password.
    let postgres = mxwatch_store::open(&"postgres://mx:s3cret@127.0.0.1:1/mx".parse().unwrap())
        .await
        .err()
        .expect("no server on port 1");
    assert!(
        matches!(postgres, mxwatch_store::StoreError::Database(_)),
        "{postgres:?}"
    );
    assert!(!postgres.to_string().contains("s3cret"), "{postgres}");
    let missing = "sqlite:///nonexistent/dir/mx.db".parse().unwrap();
    assert!(mxwatch_store::open_existing(&missing).await.is_err());
    std::fs::remove_dir_all(&dir).ok();
}

/// What the previous version left queued: two undelivered alerts of change 1 (one with a
/// retry pending) and a delivered one. The same SQL in both dialects.
const LEGACY_QUEUE: &str = "INSERT INTO changes (id, domain, kind, subject, severity, first_seen, confirmed_at) \
     VALUES (1, 'a.test', 'mx-added', 'mx9.a.test', 'high', 10, 20); \
     INSERT INTO alerts (change_id, sink, event, attempts, next_attempt, last_error) VALUES \
     (1, 'hook', 'change', 2, 90, 'refused'), (1, 'log', 'change', 1, 30, NULL); \
     INSERT INTO alerts (change_id, sink, event, next_attempt, delivered_at) VALUES (1, 'mail', 'change', 20, 25);";

/// The queue after the migration, the same in both dialects.
const MIGRATED_QUEUE: &str = "SELECT d.sink, d.attempts, d.next_attempt, d.last_error, e.domain, e.event, x.change_id \
     FROM alert_deliveries d JOIN alert_events e ON e.id = d.alert_id \
     JOIN alert_event_changes x ON x.alert_id = e.id ORDER BY d.sink";

/// sink, attempts, next_attempt, last_error, domain, event, change_id
type Delivery = (String, i64, i64, Option<String>, String, String, i64);

fn assert_legacy_queue_kept<'r, R>(rows: &'r [R])
where
    R: sqlx::Row,
    &'static str: sqlx::ColumnIndex<R>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let got: Vec<Delivery> = rows
        .iter()
        .map(|r| {
            (
                r.get("sink"),
                r.get("attempts"),
                r.get("next_attempt"),
                r.get("last_error"),
                r.get("domain"),
                r.get("event"),
                r.get("change_id"),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "hook".into(),
                2,
                90,
                Some("refused".into()),
                "a.test".into(),
                "change".into(),
                1
            ),
            (
                "log".into(),
                1,
                30,
                None,
                "a.test".into(),
                "change".into(),
                1
            ),
        ],
        "the delivered alert is not queued again"
    );
}

fn migration(dialect: &str, name: &str) -> String {
    let path = format!(
        "{}/migrations/{dialect}/{name}.sql",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The migration to change-set alerts keeps what the previous version queued and had not
/// delivered: each becomes an alert of its own change, with its attempts and last error.
#[tokio::test]
async fn queued_alerts_survive_the_change_set_migration() {
    use sqlx::Executor;
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect("sqlite::memory:")
        .await
        .unwrap();
    pool.execute(sqlx::AssertSqlSafe(migration("sqlite", "0001_initial")))
        .await
        .unwrap();
    pool.execute(LEGACY_QUEUE).await.unwrap();
    pool.execute(sqlx::AssertSqlSafe(migration(
        "sqlite",
        "0002_change_set_alerts",
    )))
    .await
    .unwrap();
    let rows = sqlx::query(MIGRATED_QUEUE).fetch_all(&pool).await.unwrap();
    assert_legacy_queue_kept(&rows);
}

#[tokio::test]
async fn story_on_disk_survives_a_reopen() {
    let dir = std::env::temp_dir().join(format!("mxwatch-store-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("mxwatch.db");
    {
        let store = SqliteStore::open(&path).await.unwrap();
        story(&store).await;
    }
    let reopened = SqliteStore::open(&path).await.unwrap();
    assert_eq!(reopened.observations("a.test", 10).await.unwrap().len(), 2);
    // The resolved finding went with the pruning; the change a queued alert names stays.
    assert_eq!(reopened.changes_since(0, None).await.unwrap().len(), 1);
    std::fs::remove_dir_all(&dir).ok();
}

/// Regression (found by the real-peer watch scenario): a watcher and a `history` opening a new
/// database at the same moment both ran the first migration, and one failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn processes_opening_a_new_database_at_once_both_succeed() {
    let dir = std::env::temp_dir().join(format!("mxwatch-store-race-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for round in 0..20 {
        let path = dir.join(format!("race-{round}.db"));
        let opens = (0..4).map(|_| {
            let path = path.clone();
            tokio::spawn(async move { mxwatch_store::SqliteStore::open(&path).await })
        });
        let handles: Vec<_> = opens.collect();
        for handle in handles {
            handle.await.unwrap().unwrap();
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

// PostgreSQL: the same story, migration and race, each on a database of its own.

use mxwatch_store::testing::{TestDatabase, server_or_skip};

#[tokio::test]
async fn story_on_postgres_survives_a_reopen() {
    let Some(server) = server_or_skip("story_on_postgres_survives_a_reopen") else {
        return;
    };
    let db = TestDatabase::create(&server, "story").await;
    {
        let store = mxwatch_store::open(&db.store_url()).await.unwrap();
        story(store.as_ref()).await;
    }
    let reopened = mxwatch_store::open_existing(&db.store_url()).await.unwrap();
    assert_eq!(reopened.observations("a.test", 10).await.unwrap().len(), 2);
    assert_eq!(reopened.changes_since(0, None).await.unwrap().len(), 1);
    drop(reopened);

    // A database that does not exist is not created: the server's own error.
    let missing = mxwatch_store::StoreUrl::Postgres(mxwatch_store::testing::with_database(
        &server,
        &format!("{}_missing", db.name),
    ));
    let error = mxwatch_store::open_existing(&missing)
        .await
        .err()
        .expect("no such database");
    assert!(error.to_string().contains("does not exist"), "{error}");
    db.drop().await;
}

/// PostgreSQL's 0002 carries the undelivered alerts over with their IDs, like SQLite's; an
/// identity column does not see IDs inserted explicitly, so the migration moves it on — without
/// that, the next alert recorded would collide with a carried-over one.
#[tokio::test]
async fn queued_alerts_survive_the_change_set_migration_on_postgres() {
    use sqlx::Executor;
    let Some(server) = server_or_skip("queued_alerts_survive_the_change_set_migration_on_postgres")
    else {
        return;
    };
    let db = TestDatabase::create(&server, "migration").await;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&db.url)
        .await
        .unwrap();
    pool.execute(sqlx::AssertSqlSafe(migration("postgres", "0001_initial")))
        .await
        .unwrap();
    pool.execute(LEGACY_QUEUE).await.unwrap();
    pool.execute(sqlx::AssertSqlSafe(migration(
        "postgres",
        "0002_change_set_alerts",
    )))
    .await
    .unwrap();
    let rows = sqlx::query(MIGRATED_QUEUE).fetch_all(&pool).await.unwrap();
    assert_legacy_queue_kept(&rows);
    let carried: Vec<i64> = sqlx::query_scalar("SELECT id FROM alert_events ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    let next: i64 = sqlx::query_scalar(
        "INSERT INTO alert_events (domain, event, created_at) VALUES ('a.test', 'change', 30) RETURNING id",
    )
    .fetch_one(&pool)
    .await
    .expect("a new alert after the migration gets an ID of its own");
    assert!(
        carried.iter().all(|&id| id < next),
        "{carried:?} then {next}"
    );
    pool.close().await;
    db.drop().await;
}

/// Workers starting together on a new database: sqlx's migrator serialises them with an
/// advisory lock, so all of them open it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn processes_opening_a_new_postgres_database_at_once_all_succeed() {
    let Some(server) =
        server_or_skip("processes_opening_a_new_postgres_database_at_once_all_succeed")
    else {
        return;
    };
    for _ in 0..5 {
        let db = TestDatabase::create(&server, "race").await;
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let url = db.store_url();
                tokio::spawn(async move { mxwatch_store::open(&url).await.map(|_| ()) })
            })
            .collect();
        for handle in handles {
            handle.await.unwrap().unwrap();
        }
        db.drop().await;
    }
}

/// One watcher per PostgreSQL database: the second is refused while the first holds the lock,
/// and the lock goes with the first's connection.
#[tokio::test]
async fn a_second_watcher_lock_on_a_postgres_database_is_refused() {
    let Some(server) = server_or_skip("a_second_watcher_lock_on_a_postgres_database_is_refused")
    else {
        return;
    };
    let db = TestDatabase::create(&server, "lock").await;
    let other = TestDatabase::create(&server, "lock").await;
    let first = mxwatch_store::try_lock_watcher(&db.url).await.unwrap();
    assert!(first.is_some());
    assert!(
        mxwatch_store::try_lock_watcher(&db.url)
            .await
            .unwrap()
            .is_none(),
        "a second watcher on the same database"
    );
    assert!(
        mxwatch_store::try_lock_watcher(&other.url)
            .await
            .unwrap()
            .is_some(),
        "another database has its own lock"
    );
    drop(first);
    // The server notices the closed connection shortly after: wait for it, briefly.
    let mut again = None;
    for _ in 0..50 {
        again = mxwatch_store::try_lock_watcher(&db.url).await.unwrap();
        if again.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(again.is_some(), "the lock went with the first watcher");
    drop(again);
    db.drop().await;
    other.drop().await;
}
