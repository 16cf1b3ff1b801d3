//! The shared schedule on PostgreSQL (`mxwatch worker --config`): due domains leased to one
//! worker at a time, a dead worker's domain taken again, a cycle written only under its lease,
//! an alert queued once per change set (the delivery key) and each delivery claimed by one
//! worker. A fresh database on the server `MXWATCH_TEST_POSTGRES_URL` names; skipped without
//! one unless MXWATCH_REQUIRE_POSTGRES=1. The delivery key is also told to SQLite.

use mxwatch_core::monitor::diff::{Change, ChangeKind};
use mxwatch_core::{CheckContext, Observation, Report, Severity};
use mxwatch_store::testing::{TestDatabase, server_or_skip};
use mxwatch_store::{
    AlertKind, AlertSubject, Cycle, NewAlert, NewChange, PgStore, SharedSchedule, SqliteStore,
    Store, StoreError,
};
use serde_json::json;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(600);

fn report(domain: &str, exchange: &str) -> Report {
    let obs: Observation = serde_json::from_value(json!({
        "schema": 1,
        "domain": {"ascii": domain, "unicode": domain},
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

/// A cycle of `report` that confirmed the MX change to `mx2.a.test` and alerts it to "hook".
fn confirmed<'a>(report: &'a Report, observed_at: i64, lease: Option<&'a str>) -> Cycle<'a> {
    Cycle {
        report,
        observed_at,
        baseline: true,
        changes: vec![NewChange {
            change: Change {
                kind: ChangeKind::MxAdded,
                severity: Severity::High,
                subject: "mx2.a.test".into(),
                old: None,
                new: Some("10".into()),
            },
            first_seen: observed_at - 5,
            expected: None,
        }],
        resolutions: vec![],
        alerts: vec![NewAlert {
            event: AlertKind::Change,
            mx_before: Some("10 mx1.a.test".into()),
            mx_after: Some("10 mx2.a.test".into()),
            changes: vec![AlertSubject::New(0)],
            sinks: vec!["hook".into()],
        }],
        next_due: observed_at + 600,
        lease,
    }
}

fn baseline<'a>(report: &'a Report, lease: Option<&'a str>) -> Cycle<'a> {
    Cycle {
        report,
        observed_at: 100,
        baseline: true,
        changes: vec![],
        resolutions: vec![],
        alerts: vec![],
        next_due: 700,
        lease,
    }
}

/// Two processes confirm the same change (both read the same baseline; neither saw the other's
/// write): one change row, one alert, one delivery.
async fn the_same_change_confirmed_twice_is_queued_once(store: &dyn Store) {
    store.ensure_domains(&["a.test".into()]).await.unwrap();
    let now = report("a.test", "mx2.a.test");
    let first = store
        .record_cycle(confirmed(&now, 700, None))
        .await
        .unwrap();
    let second = store
        .record_cycle(confirmed(&now, 702, None))
        .await
        .unwrap();
    assert_eq!(first, second, "the open change is the same row");
    assert_eq!(store.open_changes("a.test").await.unwrap().len(), 1);
    let due = store.due_alerts(800, 10).await.unwrap();
    assert_eq!(due.len(), 1, "one delivery: {due:?}");
    assert_eq!(due[0].alert.changes[0].id, first[0]);

    // Resolved by both: one "resolved" alert (its key is the resolved change's ID).
    for at in [900, 901] {
        store
            .record_cycle(Cycle {
                report: &now,
                observed_at: at,
                baseline: true,
                changes: vec![],
                resolutions: vec![first[0]],
                alerts: vec![NewAlert {
                    event: AlertKind::Resolved,
                    mx_before: None,
                    mx_after: None,
                    changes: vec![AlertSubject::Existing(first[0])],
                    sinks: vec!["hook".into()],
                }],
                next_due: at + 600,
                lease: None,
            })
            .await
            .unwrap();
    }
    let due = store.due_alerts(1000, 10).await.unwrap();
    let resolved = due
        .iter()
        .filter(|d| d.alert.event == AlertKind::Resolved)
        .count();
    assert_eq!(resolved, 1, "{due:?}");

    // The same change again later (a new episode) is a new change and a new alert.
    let again = store
        .record_cycle(confirmed(&now, 1100, None))
        .await
        .unwrap();
    assert_ne!(again, first);
    let changes = store
        .due_alerts(1200, 10)
        .await
        .unwrap()
        .iter()
        .filter(|d| d.alert.event == AlertKind::Change)
        .count();
    assert_eq!(changes, 2, "the first episode's and this one's");
}

#[tokio::test]
async fn sqlite_queues_the_same_change_once() {
    let store = SqliteStore::memory().await.unwrap();
    the_same_change_confirmed_twice_is_queued_once(&store).await;
}

#[tokio::test]
async fn postgres_queues_the_same_change_once() {
    let Some(server) = server_or_skip("postgres_queues_the_same_change_once") else {
        return;
    };
    let db = TestDatabase::create(&server, "schedule_key").await;
    let store = PgStore::open(&db.url).await.unwrap();
    the_same_change_confirmed_twice_is_queued_once(&store).await;
    db.drop().await;
}

#[tokio::test]
async fn due_domains_are_leased_to_one_worker_and_a_dead_workers_are_taken_again() {
    let Some(server) = server_or_skip("due_domains_are_leased_to_one_worker") else {
        return;
    };
    let db = TestDatabase::create(&server, "schedule").await;
    let store = PgStore::open(&db.url).await.unwrap();
    let names: Vec<String> = ["a.test", "b.test", "c.test"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    store.ensure_domains(&names).await.unwrap();

    // Two workers take what is due: each domain goes to one of them.
    let one = store.take_due("one", 100, 2, LONG).await.unwrap();
    let two = store.take_due("two", 100, 10, LONG).await.unwrap();
    assert_eq!(one, ["a.test", "b.test"]);
    assert_eq!(two, ["c.test"]);
    assert!(
        store
            .take_due("two", 100, 10, LONG)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.extend_leases("one", LONG).await.unwrap(), 2);

    // A cycle is written under its own lease only, and writing it gives the domain back.
    let a = report("a.test", "mx1.a.test");
    match store.record_cycle(baseline(&a, Some("two"))).await {
        Err(StoreError::LeaseLost(domain)) => assert_eq!(domain, "a.test"),
        other => panic!("written under another worker's lease: {other:?}"),
    }
    assert!(store.baseline("a.test").await.unwrap().is_none());
    store.record_cycle(baseline(&a, Some("one"))).await.unwrap();
    assert!(store.baseline("a.test").await.unwrap().is_some());
    assert_eq!(store.extend_leases("one", LONG).await.unwrap(), 1);

    // Worker "two" dies holding c.test: nothing renews its lease. Made short here (as if its
    // last heartbeat was long ago), it runs out and "one" takes the domain.
    assert_eq!(
        store
            .extend_leases("two", Duration::from_millis(1))
            .await
            .unwrap(),
        1
    );
    let mut taken = vec![];
    for _ in 0..200 {
        taken = store.take_due("one", 100, 10, LONG).await.unwrap();
        if !taken.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(taken, ["c.test"]);
    // The dead worker's late write (it was only slow, say) is refused: written once.
    let c = report("c.test", "mx1.c.test");
    assert!(matches!(
        store.record_cycle(baseline(&c, Some("two"))).await,
        Err(StoreError::LeaseLost(_))
    ));
    store.record_cycle(baseline(&c, Some("one"))).await.unwrap();

    // A failed cycle gives its domain back, due later.
    store.release("one", "b.test", Some(5000)).await.unwrap();
    // (a.test and c.test were written due at 700.)
    assert_eq!(
        store.take_due("two", 4999, 10, LONG).await.unwrap(),
        ["a.test", "c.test"]
    );
    assert_eq!(
        store.take_due("two", 5000, 10, LONG).await.unwrap(),
        ["b.test"]
    );
    // A worker stopping gives back all it holds at once.
    store.release_all("two").await.unwrap();
    assert_eq!(
        store.take_due("one", 5000, 10, LONG).await.unwrap(),
        ["a.test", "b.test", "c.test"]
    );
    db.drop().await;
}

#[tokio::test]
async fn each_delivery_is_claimed_by_one_worker() {
    let Some(server) = server_or_skip("each_delivery_is_claimed_by_one_worker") else {
        return;
    };
    let db = TestDatabase::create(&server, "schedule_claims").await;
    let store = PgStore::open(&db.url).await.unwrap();
    store.ensure_domains(&["a.test".into()]).await.unwrap();
    let now = report("a.test", "mx2.a.test");
    store
        .record_cycle(confirmed(&now, 700, None))
        .await
        .unwrap();

    let one = store.claim_alerts("one", 800, 10, LONG).await.unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].alert.changes.len(), 1);
    assert!(
        store
            .claim_alerts("two", 800, 10, LONG)
            .await
            .unwrap()
            .is_empty(),
        "claimed by one: not by the other"
    );
    // A transient failure ends the claim: the retry is anyone's once due.
    store
        .alert_failed(one[0].id, "503", 800, Some(900))
        .await
        .unwrap();
    assert!(
        store
            .claim_alerts("two", 899, 10, LONG)
            .await
            .unwrap()
            .is_empty()
    );
    let two = store.claim_alerts("two", 900, 10, LONG).await.unwrap();
    assert_eq!(two.len(), 1);
    // "two" dies before saying "delivered": its claim runs out and "one" sends it again (at
    // least once).
    store
        .extend_leases("two", Duration::from_millis(1))
        .await
        .unwrap();
    let mut again = vec![];
    for _ in 0..200 {
        again = store.claim_alerts("one", 900, 10, LONG).await.unwrap();
        if !again.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(again.len(), 1);
    store.alert_delivered(again[0].id, 901).await.unwrap();
    assert!(
        store
            .claim_alerts("two", 10_000, 10, LONG)
            .await
            .unwrap()
            .is_empty()
    );
    db.drop().await;
}
