//! Benchmark (not a test): the overview with 10,000 domains in the store.
//!
//!     cargo run -p mxwatch-server --example overview_bench [--release] -- [DOMAINS] [ROUNDS] [DB]
//!
//! Fills an SQLite store (a temporary file, or DB: a path or postgres://…) with DOMAINS domains
//! (default 10,000), each with one recorded cycle (a report with findings and an MX set over 50
//! providers) and every tenth with an open unexpected change, then times ROUNDS (default 30)
//! requests of each kind through the whole application (routing, auth, store, filter/sort/page,
//! JSON or HTML): the first page, a page sorted by severity, a search, a tag filter, and the HTML
//! overview. Prints the median and the slowest. No network: nothing listens, requests are
//! served in process.

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::Request;
use http_body_util::BodyExt;
use mxwatch_core::monitor::diff::{Change, ChangeKind};
use mxwatch_core::{CheckContext, Observation, Report, Severity};
use mxwatch_engine::config::Config;
use mxwatch_engine::monitor::Watcher;
use mxwatch_store::{Cycle, NewChange, Role, StoreUrl};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};
use tower::ServiceExt;

fn report(domain: &str, provider: usize) -> Report {
    let obs: Observation = serde_json::from_value(json!({
        "schema": 1,
        "domain": {"ascii": domain, "unicode": domain},
        "observed_at": "2026-11-23T00:00:00Z",
        "resolver": "127.0.0.1:53",
        "mx": {"outcome": "observed", "value": [
            {"preference": 10, "exchange": format!("mx1.provider{provider}.example")},
            {"preference": 20, "exchange": format!("mx2.provider{provider}.example")}], "ttl": 300, "elapsed_ms": 1},
        "soa": {"outcome": "absent", "absence": "no_data", "elapsed_ms": 1},
        "ns": {"outcome": "absent", "absence": "no_data", "elapsed_ms": 1},
        "exchanges": []
    }))
    .unwrap();
    Report::new(obs, &CheckContext::default(), vec![])
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let count: usize = args.first().map_or(10_000, |a| a.parse().expect("DOMAINS"));
    let rounds: usize = args.get(1).map_or(30, |a| a.parse().expect("ROUNDS"));
    let dir = std::env::temp_dir().join(format!("mxwatch-overview-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url: StoreUrl = match args.get(2) {
        Some(db) => db.parse().unwrap(),
        None => StoreUrl::Sqlite(dir.join("bench.db")),
    };
    let store = mxwatch_store::open(&url).await.unwrap();
    let names: Vec<String> = (0..count).map(|i| format!("d{i}.bench.test")).collect();

    let filling = Instant::now();
    let mut text = String::from("[defaults]\nresolver = \"127.0.0.1:9\"\nlab = true\n");
    for (i, name) in names.iter().enumerate() {
        text.push_str(&format!(
            "[[domain]]\nname = \"{name}\"\ntags = [\"{}\"]\n",
            if i % 7 == 0 { "prod" } else { "test" }
        ));
    }
    let watcher = Arc::new(Watcher::new(Config::parse(&text).unwrap(), store.clone()).unwrap());
    watcher.refresh_inventory().await.unwrap();
    let already = store
        .domain_rows()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.observed_at.is_some())
        .count();
    if already < count {
        for (i, name) in names.iter().enumerate() {
            let r = report(name, i % 50);
            let changes = if i % 10 == 0 {
                vec![NewChange {
                    change: Change {
                        kind: ChangeKind::MxAdded,
                        severity: Severity::High,
                        subject: "mx9.example".into(),
                        old: None,
                        new: Some("10".into()),
                    },
                    first_seen: 1,
                    expected: None,
                }]
            } else {
                vec![]
            };
            store
                .record_cycle(Cycle {
                    report: &r,
                    observed_at: 1_000 + i as i64,
                    baseline: true,
                    changes,
                    resolutions: vec![],
                    alerts: vec![],
                    next_due: 100_000 + i as i64,
                    lease: None,
                })
                .await
                .unwrap();
        }
    }
    eprintln!(
        "store: {url}, {count} domains recorded in {:.1} s",
        filling.elapsed().as_secs_f64()
    );

    let token =
        mxwatch_server::api::access::create_token(store.as_ref(), "bench", Role::Viewer, "bench")
            .await
            .unwrap()
            .1;
    let state = mxwatch_server::AppState::new(
        store.clone(),
        watcher,
        Arc::new(AtomicBool::new(true)),
        None,
    );
    let app = mxwatch_server::app(state).layer(MockConnectInfo(std::net::SocketAddr::from((
        [127, 0, 0, 1],
        1,
    ))));
    println!("| request ({count} domains) | median | slowest | bytes |");
    println!("|---|---|---|---|");
    for path in [
        "/api/v1/domains",
        "/api/v1/domains?sort=severity&order=desc&page=20&per_page=100",
        "/api/v1/domains?q=d99&per_page=500",
        "/api/v1/domains?tag=prod&changed_days=7",
        "/?sort=changes&order=desc",
    ] {
        let mut times = Vec::with_capacity(rounds);
        let mut bytes = 0;
        for _ in 0..rounds {
            let request = Request::get(path)
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap();
            let started = Instant::now();
            let response = app.clone().oneshot(request).await.unwrap();
            assert!(
                response.status().is_success(),
                "{path}: {}",
                response.status()
            );
            bytes = response
                .into_body()
                .collect()
                .await
                .unwrap()
                .to_bytes()
                .len();
            times.push(started.elapsed());
        }
        times.sort();
        let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
        println!(
            "| `GET {path}` | {} | {} | {bytes} |",
            ms(times[times.len() / 2]),
            ms(*times.last().unwrap())
        );
    }
    if args.get(2).is_none() {
        std::fs::remove_dir_all(&dir).ok();
    }
}
