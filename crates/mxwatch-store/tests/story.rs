//! One story through the store: schedule, cycles, changes, resolution, alerts
//! with retry, approval, history, pruning, and a reopen after the process died.

use mxwatch_core::monitor::diff::{Change, ChangeKind};
use mxwatch_core::{CheckContext, Observation, Report, Severity};
use mxwatch_store::{Cycle, NewChange, Resolution, SqliteStore, Store};
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

async fn story(store: &impl Store) {
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
            next_due: 700,
        })
        .await
        .unwrap();
    assert_eq!(store.due_domains(100, 10).await.unwrap(), ["b.test"]);
    assert_eq!(
        store.baseline("a.test").await.unwrap().unwrap()["domain"],
        "a.test"
    );

    // Second cycle: a confirmed change, alerted to two sinks.
    let second = report("mx2.a.test");
    let ids = store
        .record_cycle(Cycle {
            report: &second,
            observed_at: 700,
            baseline: true,
            changes: vec![NewChange {
                change: change(ChangeKind::MxAdded, "mx2.a.test"),
                first_seen: 690,
                expected: None,
                alert: vec!["hook".into(), "log".into()],
            }],
            resolutions: vec![],
            next_due: 1300,
        })
        .await
        .unwrap();
    let open = store.open_changes("a.test").await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(
        (open[0].id, open[0].kind.as_str(), open[0].first_seen),
        (ids[0], "mx-added", 690)
    );

    // Alerts: one fails and is retried later; nothing is lost.
    let due = store.due_alerts(700, 10).await.unwrap();
    assert_eq!(due.len(), 2);
    store.alert_delivered(due[1].id, 701).await.unwrap();
    store
        .alert_failed(due[0].id, "connection refused", 760)
        .await
        .unwrap();
    assert!(store.due_alerts(720, 10).await.unwrap().is_empty());
    let retry = store.due_alerts(760, 10).await.unwrap();
    assert_eq!(
        (retry.len(), retry[0].attempts, retry[0].sink.as_str()),
        (1, 1, "hook")
    );

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
            resolutions: vec![Resolution {
                change_id: ids[0],
                alert: vec!["hook".into()],
            }],
            next_due: 1900,
        })
        .await
        .unwrap();
    assert!(store.open_changes("a.test").await.unwrap().is_empty());
    let due = store.due_alerts(1300, 10).await.unwrap();
    assert!(due.iter().any(|a| a.event == "resolved"), "{due:?}");

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
