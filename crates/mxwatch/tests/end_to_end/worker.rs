//! `scan --enqueue`, `worker` and `scan --job` end to end on PostgreSQL (a fresh database on the
//! server `MXWATCH_TEST_POSTGRES_URL` names) against the loopback lab: a job shared by two
//! workers, one SIGKILLed while it holds leases; every line comes back exactly once.

use crate::common::*;
use mxwatch_lab::{Behaviour, LabZones};
use mxwatch_store::testing::{TestDatabase, server_or_skip};
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A worker through `resolver`, DNS only (the unsigned lab), exiting when the queue is empty.
fn worker(db: &str, resolver: &str, concurrency: &str) -> Child {
    Command::new(BIN)
        .args([
            "worker",
            "--db",
            db,
            "--lab",
            "--resolver",
            resolver,
            "--no-probe",
            "--no-ns-check",
            "--no-dnssec",
            "--no-dkim-guess",
            "--timeout",
            "1",
            "--lease",
            "2s",
            "--concurrency",
            concurrency,
            "--exit-when-idle",
        ])
        .env("NO_COLOR", "1")
        .env("MXWATCH_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn workers_json(db: &str) -> Value {
    let output = run(&["workers", "--db", db, "--format", "json"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Waits (no time is asserted: the bound only stops a hung test) until `done` says so.
pub(crate) fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "waited for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_job_shared_by_two_workers_one_killed_has_every_line_once() {
    let Some(server) = server_or_skip("a_job_shared_by_two_workers_one_killed") else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let db = runtime.block_on(TestDatabase::create(&server, "worker"));
    let lab = Lab::start(LabZones::builtin_unsigned().unwrap(), Behaviour::Resolver);
    let resolver = lab.dns.addr.to_string();
    // A resolver that never answers: the first worker's audits hang on it until it is killed,
    // so it surely holds leases when it dies.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap().to_string();

    let dir = std::env::temp_dir().join(format!("mxwatch-worker-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let list = dir.join("list.txt");
    let mut text = String::from("# the lab's, then names it does not have\nhealthy.test\n");
    text.push_str("https://customer1.test/login\nbad..name\nHEALTHY.test.\nnomx.test\n");
    for n in 0..60 {
        text.push_str(&format!("missing-{n}.test\n"));
    }
    std::fs::write(&list, &text).unwrap();
    let lines = text.lines().count() as u64;

    let queued = run(&[
        "scan",
        list.to_str().unwrap(),
        "--db",
        &db.url,
        "--enqueue",
        "lab list",
    ]);
    assert_eq!(code(&queued), 0, "{}", stderr(&queued));
    let job = stdout(&queued).trim().to_string();
    assert!(job.parse::<i64>().is_ok(), "the job ID: {job:?}");

    // A reader started before any worker streams the results as they come.
    let out = dir.join("results.jsonl");
    let reader = Command::new(BIN)
        .args([
            "scan",
            "--job",
            &job,
            "--db",
            &db.url,
            "--output",
            out.to_str().unwrap(),
            "--top",
            "0",
        ])
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let mut doomed = worker(&db.url, &silent_addr, "8");
    wait_for("the first worker to hold leases", || {
        workers_json(&db.url)["workers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["leases"].as_i64().unwrap_or(0) > 0)
    });
    doomed.kill().unwrap();
    doomed.wait().unwrap();

    let survivor = worker(&db.url, &resolver, "4");
    let survivor = survivor.wait_with_output().unwrap();
    assert!(
        survivor.status.success(),
        "{}",
        String::from_utf8_lossy(&survivor.stderr)
    );
    let read = reader.wait_with_output().unwrap();
    assert!(
        [0, 1].contains(&read.status.code().unwrap_or(-1)),
        "{}",
        String::from_utf8_lossy(&read.stderr)
    );

    let records: Vec<Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let by_line: BTreeMap<u64, &Value> = records
        .iter()
        .map(|r| (r["line"].as_u64().unwrap(), r))
        .collect();
    assert_eq!(records.len(), by_line.len(), "a line came back twice");
    let expected: Vec<u64> = (2..=lines).collect();
    assert_eq!(by_line.keys().copied().collect::<Vec<_>>(), expected);
    assert_eq!(by_line[&2]["domain"], "healthy.test");
    assert_eq!(by_line[&3]["domain"], "customer1.test");
    assert!(
        by_line[&4]["error"].is_string(),
        "malformed: {}",
        by_line[&4]
    );
    assert_eq!(by_line[&5]["duplicate_of_line"], 2);
    // Audited through the lab by the survivor, not "could not determine" through the silent one.
    assert_eq!(by_line[&2]["status"], "ok", "{}", by_line[&2]);

    // `workers`: both are listed; the survivor wrote what the killed one held.
    let listed = workers_json(&db.url);
    let workers = listed["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 2, "{listed:#}");
    let done: i64 = workers
        .iter()
        .map(|w| w["items_done"].as_i64().unwrap())
        .sum();
    assert_eq!(
        done as u64,
        lines - 1 - 2,
        "every domain written once by someone"
    );
    assert!(
        workers[1]["stopped_at_ms"].is_i64(),
        "the survivor stopped cleanly"
    );
    assert_eq!(listed["jobs"][0]["open"], 0);

    // The same job read again, as CSV: one row per line, the same lines.
    let csv = run(&[
        "scan", "--job", &job, "--db", &db.url, "--format", "csv", "--top", "0",
    ]);
    assert_eq!(
        stdout(&csv).lines().count() as u64,
        1 + lines - 1,
        "{}",
        stdout(&csv)
    );

    std::fs::remove_dir_all(&dir).ok();
    drop(silent);
    runtime.block_on(db.drop());
}

#[test]
fn the_queue_is_refused_on_sqlite_and_a_missing_job_is_a_usage_error() {
    let output = run(&["scan", "--job", "1", "--db", "some.db"]);
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("PostgreSQL"),
        "{}",
        stderr(&output)
    );
    let output = run(&["scan", "--enqueue"]);
    assert_eq!(
        code(&output),
        2,
        "--enqueue needs --db: {}",
        stderr(&output)
    );
}
