//! Two `mxwatch worker --config` processes sharing one watch inventory on PostgreSQL (a fresh
//! database on the server `MXWATCH_TEST_POSTGRES_URL` names) against the signed loopback lab:
//! a dead worker's leased domains are taken again, a worker SIGKILLed while it confirms a
//! change loses nothing, and each change reaches the webhook receiver exactly once. `watch`
//! and workers refuse to run one inventory side by side.

use crate::common::*;
use crate::watch::{
    Scratch, alerted_changes, changed, changes_in, delivered, healthy, http_receiver, set_healthy,
};
use crate::worker::wait_for;
use mxwatch_store::testing::{TestDatabase, server_or_skip};
use mxwatch_store::{PgStore, SharedSchedule, Store};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The inventory (healthy.test, customer1.test) on database `db`, watched every second, a
/// change confirmed 2 s after it is seen (long enough to kill a worker in between), alerts to
/// the webhook `hook`.
fn config(dir: &Scratch, lab: &Lab, db: &str, hook: &str) -> PathBuf {
    let path = dir.path("mxwatch.toml");
    let anchor = dir.path("lab-root.key");
    std::fs::write(&anchor, lab.dns.trust_anchor().expect("a signed lab")).unwrap();
    let text = format!(
        "db = {db:?}\n[defaults]\nevery = \"1s\"\njitter = 0.0\nconfirm_after = \"2s\"\nresolver = {resolver:?}\n\
         lab = true\nprobe = false\ncompare_nameservers = false\ntrust_anchor = {anchor:?}\n\
         dns_timeout = \"300ms\"\nretry_after = \"0s\"\n\n\
         [[domain]]\nname = \"healthy.test\"\n\n[[domain]]\nname = \"customer1.test\"\n\n\
         [[alert]]\nname = \"hook\"\nkind = \"webhook\"\nurl = {hook:?}\nmin_severity = \"info\"\n",
        resolver = lab.dns.addr.to_string(),
        anchor = anchor.display().to_string(),
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// A worker on the inventory of `config`, with 2 s leases; its log lines are collected.
struct Worker {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Worker {
    fn start(db: &str, config: &Path, resolver: &str) -> Worker {
        let mut child = Command::new(BIN)
            .args([
                "worker",
                "--db",
                db,
                "--config",
                config.to_str().unwrap(),
                "--lab",
                "--resolver",
                resolver,
                "--lease",
                "2s",
                "--concurrency",
                "4",
            ])
            .env("NO_COLOR", "1")
            .env("MXWATCH_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        Worker { child, log }
    }

    fn said(&self, text: &str) -> bool {
        self.log.lock().unwrap().iter().any(|l| l.contains(text))
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn of_event(alerts: &[Value], event: &str) -> Vec<Value> {
    alerts
        .iter()
        .filter(|a| a["event"] == event)
        .cloned()
        .collect()
}

#[test]
fn two_workers_share_an_inventory_and_alert_each_change_once() {
    let Some(server) = server_or_skip("two_workers_share_an_inventory") else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let db = runtime.block_on(TestDatabase::create(&server, "watchshare"));
    let lab = Lab::builtin();
    let resolver = lab.dns.addr.to_string();
    let dir = Scratch::new("watchshare");
    let (hook, got) = http_receiver(0);
    let cfg = config(&dir, &lab, &db.url, &hook);

    // While a `watch` (here: this test) holds the database's watcher lock, a worker refuses
    // the inventory.
    let held = runtime
        .block_on(mxwatch_store::try_lock_watcher(&db.url))
        .unwrap()
        .expect("nothing else holds it");
    let refused = run(&[
        "worker",
        "--db",
        &db.url,
        "--config",
        cfg.to_str().unwrap(),
        "--resolver",
        &resolver,
    ]);
    assert_eq!(code(&refused), 2, "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("`mxwatch watch` or `mxwatch serve` is running the inventory"),
        "{}",
        stderr(&refused)
    );
    drop(held);

    // A worker that died holding both domains: its leases are not renewed (4 s from now).
    let store = runtime.block_on(PgStore::open(&db.url)).unwrap();
    let names = vec!["customer1.test".to_string(), "healthy.test".to_string()];
    runtime.block_on(store.ensure_domains(&names)).unwrap();
    let dead = runtime
        .block_on(store.take_due("dead-worker", now(), 10, Duration::from_secs(4)))
        .unwrap();
    assert_eq!(dead, names);

    let mut one = Worker::start(&db.url, &cfg, &resolver);
    let mut two = Worker::start(&db.url, &cfg, &resolver);
    // Once the dead worker's leases run out, the live ones take its domains: both get a
    // baseline.
    wait_for("both baselines", || {
        names
            .iter()
            .all(|name| runtime.block_on(store.baseline(name)).unwrap().is_some())
    });

    // The workers hold the inventory: `watch` refuses to run it beside them.
    let second = run(&["watch", "--once", "--config", cfg.to_str().unwrap()]);
    assert_eq!(code(&second), 2, "{}", stderr(&second));
    assert!(
        stderr(&second).contains("another `mxwatch watch`"),
        "{}",
        stderr(&second)
    );

    // So does `serve`, unless it only serves (--no-watch): then it runs beside the workers.
    let serving = run(&[
        "serve",
        "--config",
        cfg.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(code(&serving), 2, "{}", stderr(&serving));
    let mut dashboard = Command::new(BIN)
        .args([
            "serve",
            "--no-watch",
            "--config",
            cfg.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(dashboard.stderr.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(
        first.contains("mxwatch serve: http://127.0.0.1:"),
        "{first}"
    );
    dashboard.kill().unwrap();
    dashboard.wait().unwrap();

    // The zone changes; whichever worker sees it first is SIGKILLed while it waits to confirm
    // (holding the domain's lease). The other takes the domain when the lease runs out.
    set_healthy(&lab, &changed());
    wait_for("a worker seeing the change", || {
        one.said("change seen") || two.said("change seen")
    });
    let (killed, survivor) = if one.said("change seen") {
        (&mut one, &mut two)
    } else {
        (&mut two, &mut one)
    };
    killed.child.kill().unwrap();
    killed.child.wait().unwrap();

    wait_for("the change alert", || {
        !of_event(&delivered(&got), "change").is_empty()
    });
    let recorded = changes_in(&db.url);
    let mut seen = std::collections::HashSet::new();
    for c in &recorded {
        assert!(
            seen.insert((c["kind"].clone(), c["subject"].clone())),
            "recorded twice: {c} in {recorded:?}"
        );
    }
    assert!(
        recorded
            .iter()
            .any(|c| c["kind"] == "mx-added" && c["subject"] == "mx1.provider.test"),
        "{recorded:?}"
    );

    // Back as it was: one "resolved" alert, and still one "change" alert.
    set_healthy(&lab, &healthy());
    wait_for("the resolved alert", || {
        !of_event(&delivered(&got), "resolved").is_empty()
    });
    let alerts = delivered(&got);
    let changes = of_event(&alerts, "change");
    assert_eq!(changes.len(), 1, "{alerts:?}");
    assert_eq!(of_event(&alerts, "resolved").len(), 1, "{alerts:?}");
    let announced: Vec<Value> = alerted_changes(&changes)
        .into_iter()
        .filter(|c| c["kind"] == "mx-added" && c["subject"] == "mx1.provider.test")
        .collect();
    assert_eq!(announced.len(), 1, "{alerts:?}");
    assert!(
        survivor.said("alert sent"),
        "the survivor sent them:\n{}",
        survivor.log()
    );

    survivor.child.kill().unwrap();
    survivor.child.wait().unwrap();
    runtime.block_on(db.drop());
}
