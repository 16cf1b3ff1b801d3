//! `serve`'s tables told to each backend: users, sessions, tokens and the audit log; the
//! store-held inventory; the overview's summaries written with each cycle, notes,
//! acknowledgements and "check now".

use mxwatch_core::monitor::diff::{Change, ChangeKind};
use mxwatch_core::{CheckContext, Observation, Report, Severity};
use mxwatch_store::testing::{TestDatabase, server_or_skip};
use mxwatch_store::{
    AuditEntry, Cycle, InventoryEntry, NewChange, Role, SqliteStore, Store, StoredMaintenance,
};
use serde_json::json;

fn report(domain: &str, exchange: &str) -> Report {
    let obs: Observation = serde_json::from_value(json!({
        "schema": 1,
        "domain": {"ascii": domain, "unicode": domain},
        "observed_at": "2026-11-23T00:00:00Z",
        "resolver": "127.0.0.1:53",
        "mx": {"outcome": "observed", "value": [{"preference": 20, "exchange": "mx2.provider.example"},
               {"preference": 10, "exchange": exchange}], "ttl": 300, "elapsed_ms": 1},
        "soa": {"outcome": "absent", "absence": "no_data", "elapsed_ms": 1},
        "ns": {"outcome": "absent", "absence": "no_data", "elapsed_ms": 1},
        "exchanges": []
    }))
    .unwrap();
    Report::new(obs, &CheckContext::default(), vec![])
}

async fn access(store: &dyn Store) {
    assert!(!store.has_credentials().await.unwrap());
    let id = store
        .add_user("ann", "$argon2id$x", Role::Admin, 100)
        .await
        .unwrap();
    assert!(
        store
            .add_user("ann", "$argon2id$y", Role::Viewer, 101)
            .await
            .is_err(),
        "names are unique"
    );
    assert!(store.has_credentials().await.unwrap());
    let ann = store.user_by_name("ann").await.unwrap().unwrap();
    assert_eq!(
        (ann.id, ann.role, ann.password_hash.as_str()),
        (id, Role::Admin, "$argon2id$x")
    );
    assert!(store.user_by_name("bob").await.unwrap().is_none());

    store
        .create_session("h1", id, "csrf1", 100, 200)
        .await
        .unwrap();
    let session = store.session("h1", 150).await.unwrap().unwrap();
    assert_eq!(
        (session.user.name.as_str(), session.csrf.as_str()),
        ("ann", "csrf1")
    );
    assert!(
        store.session("h1", 200).await.unwrap().is_none(),
        "expired at 200"
    );
    assert!(store.session("h2", 150).await.unwrap().is_none());
    store.delete_session("h1").await.unwrap();
    assert!(store.session("h1", 150).await.unwrap().is_none());

    let t = store
        .add_token("ci", "th", Role::Operator, "user:ann", 100)
        .await
        .unwrap();
    assert_eq!(
        store.token_by_hash("th").await.unwrap().unwrap().role,
        Role::Operator
    );
    assert!(store.revoke_token(t, 120).await.unwrap());
    assert!(
        store.token_by_hash("th").await.unwrap().is_none(),
        "revoked"
    );
    assert!(
        !store.revoke_token(t, 130).await.unwrap(),
        "already revoked"
    );
    assert_eq!(store.tokens().await.unwrap()[0].revoked_at, Some(120));

    for (at, action) in [(100, "user.add"), (110, "token.create")] {
        store
            .audit(&AuditEntry {
                id: 0,
                at,
                actor: "cli".into(),
                action: action.into(),
                target: "ann".into(),
                detail: None,
                source: "127.0.0.1".into(),
            })
            .await
            .unwrap();
    }
    let log = store.audit_log(0, 10).await.unwrap();
    assert_eq!(
        log.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        ["token.create", "user.add"]
    );
    assert_eq!(store.audit_log(105, 10).await.unwrap().len(), 1);
    assert!(store.remove_user("ann").await.unwrap());
    assert!(store.users().await.unwrap().is_empty());
}

async fn inventory(store: &dyn Store) {
    let entry = InventoryEntry {
        name: "b.test".into(),
        present: true,
        expect_mx: Some(vec!["10 mx.b.test".into()]),
        preset: None,
        tags: Some(vec!["prod".into()]),
        updated_by: "user:ann".into(),
        updated_at: 5,
    };
    store.put_inventory(&entry).await.unwrap();
    let removed = InventoryEntry {
        name: "c.test".into(),
        present: false,
        updated_by: "user:ann".into(),
        ..Default::default()
    };
    store.put_inventory(&removed).await.unwrap();
    store
        .put_inventory(&InventoryEntry {
            tags: None,
            ..entry.clone()
        })
        .await
        .unwrap();
    let got = store.inventory().await.unwrap();
    assert_eq!(
        got,
        vec![
            InventoryEntry {
                tags: None,
                ..entry
            },
            removed
        ]
    );
    assert!(store.forget_inventory("c.test").await.unwrap());
    assert_eq!(store.inventory().await.unwrap().len(), 1);

    let window = StoredMaintenance {
        id: 0,
        domains: vec![],
        tags: vec!["prod".into()],
        start: 10,
        end: 20,
        reason: Some("move".into()),
        created_by: "user:ann".into(),
        created_at: 1,
    };
    let id = store.add_maintenance(&window).await.unwrap();
    assert_eq!(
        store.maintenance_windows().await.unwrap(),
        vec![StoredMaintenance { id, ..window }]
    );
    assert!(store.remove_maintenance(id).await.unwrap());
    assert!(store.maintenance_windows().await.unwrap().is_empty());
}

async fn dashboard(store: &dyn Store) {
    store.ping().await.unwrap();
    store
        .ensure_domains(&["a.test".into(), "z.test".into()])
        .await
        .unwrap();
    let first = report("a.test", "mx1.provider.example");
    let change = Change {
        kind: ChangeKind::MxAdded,
        severity: Severity::High,
        subject: "mx1.provider.example".into(),
        old: None,
        new: Some("10".into()),
    };
    let ids = store
        .record_cycle(Cycle {
            report: &first,
            observed_at: 1000,
            baseline: true,
            changes: vec![NewChange {
                change,
                first_seen: 990,
                expected: None,
            }],
            resolutions: vec![],
            alerts: vec![],
            next_due: 5000,
            lease: None,
        })
        .await
        .unwrap();
    let rows = store.domain_rows().await.unwrap();
    assert_eq!(rows.len(), 2);
    let a = &rows[0];
    assert_eq!(a.domain, "a.test");
    assert_eq!(a.observed_at, Some(1000));
    assert_eq!(
        a.mx.as_deref(),
        Some("10 mx1.provider.example, 20 mx2.provider.example")
    );
    assert_eq!(a.provider.as_deref(), Some("provider.example"));
    assert_eq!(a.open_unexpected, 1);
    assert_eq!(a.last_change_at, Some(1000));
    assert_eq!(a.findings as usize, first.findings.len());
    let z = &rows[1];
    assert_eq!(
        (z.observed_at, z.open_unexpected, z.worst_rank),
        (None, 0, 0)
    );

    assert!(store.acknowledge(ids[0], "user:ann", 1100).await.unwrap());
    assert!(store.set_change_note(ids[0], "planned").await.unwrap());
    assert_eq!(store.domain_rows().await.unwrap()[0].open_unexpected, 0);
    let feed = store
        .annotated_changes(0, Some("a.test"), 10)
        .await
        .unwrap();
    assert_eq!(feed.len(), 1);
    assert_eq!(feed[0].note.as_deref(), Some("planned"));
    assert_eq!(feed[0].acknowledged_by.as_deref(), Some("user:ann"));
    assert!(
        store
            .annotated_changes(0, Some("z.test"), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.annotated_changes(0, None, 10).await.unwrap().len(), 1);

    assert!(store.check_now("a.test", 1200).await.unwrap());
    assert!(!store.check_now("nope.test", 1200).await.unwrap());
    // z.test was never checked (due since 0); a.test was due at 5000 and is due now.
    assert_eq!(
        store.due_domains(1200, 10).await.unwrap(),
        ["z.test", "a.test"]
    );
    let by_severity = store.findings_by_severity().await.unwrap();
    assert_eq!(
        by_severity.values().sum::<i64>() as usize,
        first.findings.len()
    );
    assert_eq!(store.queue_depth().await.unwrap(), 0);
    let endpoints = store.endpoints().await.unwrap();
    assert_eq!(endpoints.len(), 1);
}

async fn all(store: &dyn Store) {
    access(store).await;
    inventory(store).await;
    dashboard(store).await;
}

#[tokio::test]
async fn serve_tables_on_sqlite() {
    all(&SqliteStore::memory().await.unwrap()).await;
}

#[tokio::test]
async fn serve_tables_on_postgres() {
    let Some(server) = server_or_skip("serve_tables_on_postgres") else {
        return;
    };
    let db = TestDatabase::create(&server, "serve").await;
    {
        let store = mxwatch_store::open(&db.store_url()).await.unwrap();
        all(store.as_ref()).await;
    }
    db.drop().await;
}
