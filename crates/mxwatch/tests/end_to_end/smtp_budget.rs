//! The SMTP budget shared by workers, end to end on PostgreSQL (`MXWATCH_TEST_POSTGRES_URL`):
//! two `mxwatch worker`s share a queued scan of domains whose MX hosts are a few lab SMTP
//! hosts, each host known under several names (so each worker wants several dialogues with
//! it). The hosts count the connections they accept: together the two workers stay within one
//! worker's limits — one connection at once and three a minute per address — which each worker
//! alone would already use up.

use crate::common::*;
use mxwatch_lab::{Behaviour, LabDns, LabPki, LabSmtp, LabZones};
use mxwatch_store::testing::{TestDatabase, server_or_skip};
use std::process::{Command, Stdio};
use std::time::Duration;

const ADDRESSES: usize = 4;
const NAMES_PER_ADDRESS: usize = 6;
const DOMAINS: usize = 48;
const PER_MINUTE: usize = 3;

fn zone() -> String {
    let mut zone = String::from(
        "$ORIGIN budget.test.\n$TTL 3600\n@ IN SOA ns1.budget.test. h.budget.test. 1 3600 600 604800 300\n\
         @ IN NS ns1.budget.test.\nns1 IN A 127.0.0.1\n",
    );
    for a in 0..ADDRESSES {
        for n in 0..NAMES_PER_ADDRESS {
            zone.push_str(&format!("mx{n}.h{a} IN A 127.0.102.{}\n", a + 1));
        }
    }
    for d in 0..DOMAINS {
        let (a, n) = (d % ADDRESSES, (d / ADDRESSES) % NAMES_PER_ADDRESS);
        zone.push_str(&format!("d{d} IN MX 10 mx{n}.h{a}.budget.test.\n"));
    }
    zone
}

#[test]
fn two_workers_together_stay_within_one_address_budget() {
    let Some(server) = server_or_skip("two_workers_together_stay_within_one_address_budget") else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let db = runtime.block_on(TestDatabase::create(&server, "e2e_budget"));
    let zones = LabZones::from_files([("budget.test.zone", zone().as_str())]).unwrap();
    let pki = LabPki::new().unwrap();
    let hosts = runtime.block_on(LabSmtp::start(&zones, &pki)).unwrap();
    let dns = runtime
        .block_on(LabDns::start(
            zones,
            Behaviour::Resolver,
            "127.0.0.1".parse().unwrap(),
        ))
        .unwrap();

    let list = std::env::temp_dir().join(format!("mxwatch-budget-{}.txt", std::process::id()));
    let names: Vec<String> = (0..DOMAINS).map(|d| format!("d{d}.budget.test")).collect();
    std::fs::write(&list, names.join("\n")).unwrap();
    let queued = run(&["scan", list.to_str().unwrap(), "--db", &db.url, "--enqueue"]);
    assert_eq!(code(&queued), 0, "{}", stderr(&queued));
    let job = stdout(&queued).trim().to_string();

    let (resolver, port) = (dns.addr.to_string(), hosts.port.to_string());
    let worker = || {
        Command::new(BIN)
            .args([
                "worker",
                "--db",
                &db.url,
                "--lab",
                "--resolver",
                &resolver,
                "--smtp-port",
                &port,
                "--smtp-per-address",
                "1",
                "--smtp-per-minute",
                "3",
                // Less than the minute: a fourth dialogue with an address is skipped, not delayed.
                "--smtp-max-wait",
                "2",
                "--smtp-timeout",
                "5",
                "--no-ns-check",
                "--no-dnssec",
                "--no-dkim-guess",
                "--timeout",
                "1",
                "--concurrency",
                "16",
                "--exit-when-idle",
            ])
            .env("NO_COLOR", "1")
            .env("MXWATCH_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (first, second) = (worker(), worker());
    for done in [first.wait_with_output(), second.wait_with_output()] {
        let done = done.unwrap();
        let log = String::from_utf8_lossy(&done.stderr);
        assert!(done.status.success(), "{log}");
        assert!(!log.contains("does not answer"), "{log}");
    }

    let seen = hosts.connections.snapshot();
    assert_eq!(seen.len(), ADDRESSES, "every host was probed: {seen:?}");
    for (ip, log) in &seen {
        assert!(log.most_open <= 1, "{ip}: {} at once", log.most_open);
        let in_a_minute = log.most_within(Duration::from_secs(60));
        assert!(
            in_a_minute <= PER_MINUTE,
            "{ip}: {in_a_minute} begun within a minute by the two workers together"
        );
    }
    // The workers wanted more than the budget gave (each address has six names, four
    // dialogues per worker): the rest are reports saying the probe was skipped, not failures.
    let results = run(&[
        "scan", "--job", &job, "--db", &db.url, "--format", "jsonl", "--top", "0",
    ]);
    let text = stdout(&results);
    assert_eq!(text.lines().count(), DOMAINS, "{text}");
    assert!(
        text.contains(r#""politeness":"skipped""#),
        "no probe was skipped: {text}"
    );
    for failure in ["SMTP-ALL-UNREACHABLE", "SMTP-PRIMARY-DOWN"] {
        assert!(!text.contains(failure), "{failure}: {text}");
    }

    std::fs::remove_file(&list).ok();
    drop(hosts);
    drop(dns);
    runtime.block_on(db.drop());
}
