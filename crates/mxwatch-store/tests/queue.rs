//! The shared work queue on PostgreSQL: leases, a dead worker's lines taken again, results
//! written exactly once and read back in a dense order (a fresh database on the server
//! `MXWATCH_TEST_POSTGRES_URL` names; skipped without one unless MXWATCH_REQUIRE_POSTGRES=1).

use mxwatch_core::{CheckContext, Observation, Report};
use mxwatch_store::queue::{
    Completion, ItemResult, LeasedItem, QueuedLine, WorkQueue, WorkerIdentity, open_queue,
};
use mxwatch_store::testing::{TestDatabase, server_or_skip};
use serde_json::json;
use std::collections::HashSet;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(600);

fn report(domain: &str) -> Report {
    let obs: Observation = serde_json::from_value(json!({
        "schema": 1,
        "domain": {"ascii": domain, "unicode": domain},
        "observed_at": "2026-11-23T00:00:00Z",
        "resolver": "127.0.0.1:53",
        "mx": {"outcome": "observed", "value": [{"preference": 10, "exchange": "mx.example.net."}], "ttl": 300, "elapsed_ms": 1},
        "soa": {"outcome": "absent", "absence": "no_data", "elapsed_ms": 1},
        "ns": {"outcome": "absent", "absence": "no_data", "elapsed_ms": 1},
        "exchanges": []
    }))
    .unwrap();
    Report::new(obs, &CheckContext::default(), vec![])
}

fn identity(id: &str) -> WorkerIdentity {
    WorkerIdentity {
        id: id.into(),
        host: "test".into(),
        pid: std::process::id(),
    }
}

fn audited(items: &[LeasedItem]) -> Vec<Completion> {
    items
        .iter()
        .map(|item| Completion {
            job: item.job,
            line: item.line,
            result: ItemResult::Audited {
                report: Box::new(report(&item.domain)),
            },
        })
        .collect()
}

fn domains(range: std::ops::Range<u64>) -> Vec<QueuedLine> {
    range
        .map(|line| QueuedLine::Domain {
            line,
            domain: format!("d{line}.test"),
            notes: if line == 1 {
                vec!["took the domain from the URL".into()]
            } else {
                vec![]
            },
        })
        .collect()
}

#[tokio::test]
async fn a_dead_workers_lines_are_taken_again_and_every_line_has_one_result() {
    let Some(server) = server_or_skip("a_dead_workers_lines_are_taken_again") else {
        return;
    };
    let db = TestDatabase::create(&server, "queue").await;
    let queue = open_queue(&db.store_url()).await.unwrap();
    let job = queue.create_job("story").await.unwrap();
    let mut lines = domains(1..9);
    lines.push(QueuedLine::Settled {
        line: 9,
        result: ItemResult::Malformed {
            text: "exa mple".into(),
            error: "a space".into(),
        },
    });
    lines.push(QueuedLine::Settled {
        line: 10,
        result: ItemResult::Duplicate {
            domain: "d1.test".into(),
            first_line: 1,
        },
    });
    queue.add_lines(job, &lines).await.unwrap();
    let status = queue.job(job).await.unwrap().unwrap();
    assert_eq!(
        (status.lines, status.results, status.open, status.sealed),
        (10, 2, 8, false)
    );
    assert!(!status.finished(), "not sealed: more lines may come");
    queue.seal_job(job).await.unwrap();

    queue.register_worker(&identity("a")).await.unwrap();
    queue.register_worker(&identity("b")).await.unwrap();
    let held_by_a = queue.take("a", 5, LONG).await.unwrap();
    assert_eq!(held_by_a.len(), 5);
    assert_eq!(held_by_a[0].notes, vec!["took the domain from the URL"]);
    let first_of_b = queue.take("b", 10, LONG).await.unwrap();
    assert_eq!(first_of_b.len(), 3, "a's leased lines are not taken");
    assert!(queue.take("b", 10, LONG).await.unwrap().is_empty());

    // `a` goes silent: its leases end (shortened here instead of waiting ten minutes).
    queue
        .heartbeat("a", Duration::from_millis(1))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let retaken = queue.take("b", 10, LONG).await.unwrap();
    let retaken_lines: Vec<u64> = retaken.iter().map(|i| i.line).collect();
    let a_lines: Vec<u64> = held_by_a.iter().map(|i| i.line).collect();
    assert_eq!(retaken_lines, a_lines);
    assert!(retaken.iter().all(|i| i.attempts == 2));
    assert_eq!(
        queue.heartbeat("a", LONG).await.unwrap(),
        0,
        "a holds nothing now"
    );

    assert_eq!(queue.complete("b", &audited(&first_of_b)).await.unwrap(), 3);
    assert_eq!(queue.complete("b", &audited(&retaken)).await.unwrap(), 5);
    // `a` was only slow, not dead: its late results are dropped, not written twice.
    assert_eq!(queue.complete("a", &audited(&held_by_a)).await.unwrap(), 0);
    // A retried enqueue batch adds nothing.
    queue.add_lines(job, &lines).await.unwrap();

    let status = queue.job(job).await.unwrap().unwrap();
    assert_eq!((status.lines, status.results, status.open), (10, 10, 0));
    assert!(status.finished());
    let results = queue.results_after(job, 0, 100).await.unwrap();
    let seqs: Vec<i64> = results.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=10).collect::<Vec<_>>(), "dense, in order");
    let mut result_lines: Vec<u64> = results.iter().map(|r| r.line).collect();
    result_lines.sort();
    assert_eq!(result_lines, (1..=10).collect::<Vec<_>>());
    assert!(matches!(
        &results.iter().find(|r| r.line == 4).unwrap().result,
        ItemResult::Audited { report } if report.domain == "d4.test"
    ));
    assert_eq!(queue.results_after(job, 7, 100).await.unwrap().len(), 3);

    let workers = queue.workers().await.unwrap();
    let done: Vec<(&str, i64)> = workers
        .iter()
        .map(|w| (w.id.as_str(), w.items_done))
        .collect();
    assert_eq!(done, vec![("a", 0), ("b", 8)]);
    queue.stop_worker("b").await.unwrap();
    assert!(queue.workers().await.unwrap()[1].stopped_at_ms.is_some());
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workers_racing_for_one_job_write_each_line_once() {
    let Some(server) = server_or_skip("workers_racing_for_one_job_write_each_line_once") else {
        return;
    };
    let db = TestDatabase::create(&server, "race").await;
    let queue = open_queue(&db.store_url()).await.unwrap();
    let job = queue.create_job("race").await.unwrap();
    queue.add_lines(job, &domains(1..401)).await.unwrap();
    queue.seal_job(job).await.unwrap();
    let handles: Vec<_> = (0..4)
        .map(|n| {
            let queue = queue.clone();
            tokio::spawn(async move {
                let me = format!("w{n}");
                queue.register_worker(&identity(&me)).await.unwrap();
                loop {
                    let items = queue.take(&me, 7, LONG).await.unwrap();
                    if items.is_empty() {
                        break;
                    }
                    queue.complete(&me, &audited(&items)).await.unwrap();
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.unwrap();
    }
    let results = queue.results_after(job, 0, 1000).await.unwrap();
    assert_eq!(results.len(), 400);
    let lines: HashSet<u64> = results.iter().map(|r| r.line).collect();
    assert_eq!(lines.len(), 400);
    let seqs: Vec<i64> = results.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=400).collect::<Vec<_>>());
    let total: i64 = queue
        .workers()
        .await
        .unwrap()
        .iter()
        .map(|w| w.items_done)
        .sum();
    assert_eq!(total, 400);
    db.drop().await;
}

#[tokio::test]
async fn sqlite_has_no_queue() {
    let error = open_queue(&"sqlite://x.db".parse().unwrap())
        .await
        .err()
        .expect("refused");
    assert!(error.to_string().contains("PostgreSQL"), "{error}");
}
