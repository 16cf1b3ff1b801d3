//! `/workers` and `/api/v1/workers`: on SQLite they say that workers need PostgreSQL; on
//! PostgreSQL (`MXWATCH_TEST_POSTGRES_URL`) they list the workers of the database with their
//! heartbeat, throughput and leases, a worker's name from the database shown as inert text.

mod common;

use axum::http::StatusCode;
use mxwatch_store::queue::{QueuedLine, WorkQueue, WorkerIdentity, open_queue};
use mxwatch_store::testing::{TestDatabase, server_or_skip};
use std::sync::Arc;
use std::time::Duration;

fn config() -> mxwatch_engine::config::Config {
    common::config("127.0.0.1:9".parse().unwrap(), &["a.test"])
}

#[tokio::test]
async fn on_sqlite_the_workers_page_says_workers_need_postgresql() {
    let server = common::server(config()).await;
    let api = server.get("/api/v1/workers", &server.viewer).await;
    assert_eq!(api.status, StatusCode::OK, "{}", api.body);
    let view = api.json();
    assert_eq!(view["available"], false);
    assert_eq!(view["workers"].as_array().unwrap().len(), 0);
    let page = server.get("/workers", &server.viewer).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("Workers need a PostgreSQL database"),
        "{}",
        page.body
    );
    // Linked from every page's navigation.
    let overview = server.get("/", &server.viewer).await;
    assert!(
        overview.body.contains(r#"href="/workers""#),
        "{}",
        overview.body
    );
}

#[tokio::test]
async fn on_postgresql_the_workers_and_their_leases_are_listed() {
    let Some(url) = server_or_skip("on_postgresql_the_workers_and_their_leases_are_listed") else {
        return;
    };
    let db = TestDatabase::create(&url, "serve_workers").await;
    let queue = Arc::new(open_queue(&db.store_url()).await.unwrap());
    let hostile = "<script>alert(1)</script>";
    queue
        .register_worker(&WorkerIdentity {
            id: format!("{hostile}-1"),
            host: hostile.into(),
            pid: 4242,
        })
        .await
        .unwrap();
    let job = queue.create_job("nightly <b>").await.unwrap();
    let lines: Vec<QueuedLine> = (1..=3)
        .map(|line| QueuedLine::Domain {
            line,
            domain: format!("d{line}.test"),
            notes: vec![],
        })
        .collect();
    queue.add_lines(job, &lines).await.unwrap();
    queue.seal_job(job).await.unwrap();
    let taken = queue
        .take(&format!("{hostile}-1"), 2, Duration::from_secs(600))
        .await
        .unwrap();
    assert_eq!(taken.len(), 2);

    let shared: Arc<dyn WorkQueue> = queue.clone();
    let server = common::server_with_queue(config(), Some(shared)).await;
    let view = server.get("/api/v1/workers", &server.viewer).await.json();
    assert_eq!(view["available"], true);
    let worker = &view["workers"][0];
    assert_eq!(worker["host"], hostile);
    assert_eq!(worker["pid"], 4242);
    assert_eq!(worker["leases"], 2);
    assert_eq!(worker["state"], "working");
    assert_eq!(view["jobs"][0]["state"], "working");
    assert_eq!(view["jobs"][0]["open"], 3);
    assert_eq!(view["jobs"][0]["leased"], 2);

    let page = server.get("/workers", &server.viewer).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(!page.body.contains(hostile), "unescaped: {}", page.body);
    assert!(
        page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{}",
        page.body
    );
    assert!(page.body.contains("nightly &lt;b&gt;"), "{}", page.body);

    // A stopped worker is shown as stopped, its leases freed.
    queue.stop_worker(&format!("{hostile}-1")).await.unwrap();
    let view = server.get("/api/v1/workers", &server.viewer).await.json();
    assert_eq!(view["workers"][0]["state"], "stopped");
    assert_eq!(view["workers"][0]["leases"], 0);
    drop(server);
    db.drop().await;
}
