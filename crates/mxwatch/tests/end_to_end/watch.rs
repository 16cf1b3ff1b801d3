//! `mxwatch watch` end to end: a lab whose zones change under it, receivers on
//! loopback for every alert sink, a resolver outage, a flap, a maintenance
//! window, SIGTERM and SIGKILL.

use crate::common::*;
use mxwatch_lab::{Behaviour, HttpReceiver, HttpRequest, Replies, SubmissionReceiver};
use serde_json::Value;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// healthy.test as the lab builds it.
pub(crate) fn healthy() -> String {
    mxwatch_lab::LabZones::builtin_zone_text("healthy.test.zone")
        .expect("healthy.test.zone")
        .to_string()
}

/// healthy.test without its DMARC record (tests add their own).
fn healthy_without_dmarc() -> String {
    healthy()
        .lines()
        .filter(|l| !l.starts_with("_dmarc"))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// healthy.test with its backup MX moved to the provider.
pub(crate) fn changed() -> String {
    mxwatch_lab::LabZones::healthy_with_backup_moved()
}

pub(crate) fn set_healthy(lab: &Lab, text: &str) {
    lab.dns
        .zones
        .write()
        .unwrap()
        .set_zone("healthy.test.zone", text)
        .unwrap();
}

/// A scratch directory removed at the end.
pub(crate) struct Scratch(PathBuf);

impl Scratch {
    pub(crate) fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("mxwatch-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    pub(crate) fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A request a receiver got.
pub(crate) type Request = HttpRequest;

/// An HTTP receiver on 127.0.0.1: answers 500 to the first `fail_first` requests, 200 after.
pub(crate) fn http_receiver(fail_first: usize) -> (String, Arc<Mutex<Vec<Request>>>) {
    let receiver = HttpReceiver::start(Replies::FailFirst(fail_first)).unwrap();
    (receiver.url, receiver.got)
}

/// A plain SMTP receiver for the e-mail sink: accepts everything, keeps each message.
fn smtp_receiver() -> (u16, Arc<Mutex<Vec<String>>>) {
    let receiver = SubmissionReceiver::start(None).unwrap();
    (receiver.port, receiver.got)
}

fn config(dir: &Scratch, lab: &Lab, extra: &str) -> PathBuf {
    config_with_db(
        dir,
        lab,
        &dir.path("mxwatch.db").display().to_string(),
        extra,
    )
}

/// [`config`] with the database `db` (a path or a URL).
fn config_with_db(dir: &Scratch, lab: &Lab, db: &str, extra: &str) -> PathBuf {
    let path = dir.path("mxwatch.toml");
    // The lab is signed with keys made at its start: watch validates from its root.
    let anchor = dir.path("lab-root.key");
    std::fs::write(&anchor, lab.dns.trust_anchor().expect("a signed lab")).unwrap();
    let text = format!(
        "db = {db:?}\n[defaults]\nevery = \"1s\"\njitter = 0.0\nconfirm_after = \"0s\"\nresolver = {resolver:?}\nlab = true\nprobe = false\ncompare_nameservers = false\n\
         trust_anchor = {anchor:?}\n\
         dns_timeout = \"300ms\"\nretry_after = \"0s\"\n\n[[domain]]\nname = \"healthy.test\"\n\n[[domain]]\nname = \"customer1.test\"\n\n{extra}",
        resolver = lab.dns.addr.to_string(),
        anchor = anchor.display().to_string(),
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn once(config: &Path) {
    let output = run(&["watch", "--once", "--config", config.to_str().unwrap()]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
}

fn changes(dir: &Scratch) -> Vec<Value> {
    changes_in(dir.path("mxwatch.db").to_str().unwrap())
}

/// `mxwatch changes` of the last hour in the database `db` (a path or a URL).
pub(crate) fn changes_in(db: &str) -> Vec<Value> {
    let output = run(&["changes", "--since", "1h", "--format", "json", "--db", db]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    serde_json::from_slice::<Value>(&output.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// The changes recorded for healthy.test's backup MX moving to the provider (and nothing for
/// customer1.test).
fn assert_backup_moved(recorded: &[Value]) {
    let kinds: Vec<(&str, &str)> = recorded
        .iter()
        .map(|c| (c["kind"].as_str().unwrap(), c["subject"].as_str().unwrap()))
        .collect();
    assert!(
        kinds.contains(&("mx-added", "mx1.provider.test")),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("mx-removed", "mx2.healthy.test")),
        "{kinds:?}"
    );
    assert!(
        recorded.iter().all(|c| c["domain"] == "healthy.test"),
        "nothing for customer1.test: {recorded:?}"
    );
    // What the change does, in the change record: the drain time of the removed exchange, and
    // SPF's `mx` now authorising the provider's hosts.
    let consequence = |subject: &str| {
        recorded
            .iter()
            .find(|c| c["kind"] == "consequence" && c["subject"] == subject)
            .unwrap_or_else(|| panic!("no consequence {subject}: {kinds:?}"))["new"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let drain = consequence("CHANGE-MX-DRAIN mx2.healthy.test");
    assert!(
        drain.starts_with("safe to decommission mx2.healthy.test after ")
            && drain.contains(" UTC (old MX TTL "),
        "{drain}"
    );
    assert!(consequence("CHANGE-SPF-MX-PROVIDER healthy.test").contains("provider.test"));
}

pub(crate) fn delivered(got: &Arc<Mutex<Vec<Request>>>) -> Vec<Value> {
    got.lock()
        .unwrap()
        .iter()
        .filter(|r| r.status == 200)
        .map(Request::json)
        .collect()
}

/// Every typed change inside the delivered alerts (one alert holds a whole change set).
pub(crate) fn alerted_changes(alerts: &[Value]) -> Vec<Value> {
    alerts
        .iter()
        .flat_map(|a| a["changes"].as_array().cloned().unwrap_or_default())
        .collect()
}

#[test]
fn a_change_is_alerted_once_to_every_sink_and_resolved_when_it_goes_back() {
    let lab = Lab::builtin();
    let dir = Scratch::new("watch-story");
    let (hook, hook_got) = http_receiver(1);
    let (slack, slack_got) = http_receiver(0);
    let (teams, teams_got) = http_receiver(0);
    let (smtp_port, mail_got) = smtp_receiver();
    let syslog = UdpSocket::bind("127.0.0.1:0").unwrap();
    syslog
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let jsonl = dir.path("alerts.jsonl");
    let sinks = format!(
        "[[alert]]\nname = \"hook\"\nkind = \"webhook\"\nurl = {hook:?}\nsecret = \"s3cret\"\nmin_severity = \"info\"\n\n\
         [[alert]]\nkind = \"slack\"\nurl = {slack:?}\nmin_severity = \"info\"\n\n\
         [[alert]]\nkind = \"teams\"\nurl = {teams:?}\nmin_severity = \"info\"\n\n\
         [[alert]]\nkind = \"jsonl\"\npath = {jsonl:?}\nmin_severity = \"info\"\n\n\
         [[alert]]\nkind = \"syslog\"\naddress = \"{syslog}\"\nmin_severity = \"info\"\n\n\
         [[alert]]\nkind = \"email\"\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {smtp_port}\nsmtp_security = \"none\"\n\
         from = \"mxwatch@lab.test\"\nto = [\"postmaster@healthy.test\"]\nmin_severity = \"info\"\n",
        jsonl = jsonl.display().to_string(),
        syslog = syslog.local_addr().unwrap(),
    );
    let cfg = config(&dir, &lab, &sinks);

    // First sight: the baseline, no alert.
    once(&cfg);
    assert!(hook_got.lock().unwrap().is_empty());
    assert!(changes(&dir).is_empty());

    // The MX set changes: two changes, each alerted once; the first webhook POST gets a 500.
    set_healthy(&lab, &changed());
    once(&cfg);
    let recorded = changes(&dir);
    assert_backup_moved(&recorded);

    // The next run retries the refused alert; nothing new is recorded.
    once(&cfg);
    assert_eq!(changes(&dir).len(), recorded.len(), "no duplicate change");
    let hooks = delivered(&hook_got);
    assert_eq!(
        hooks.len(),
        1,
        "one alert for the whole change set: {hooks:#?}"
    );
    let alert = &hooks[0];
    assert_eq!(alert["event"], "change");
    assert_eq!(alert["domain"], "healthy.test");
    assert_eq!(
        alert["mx_before"],
        "10 mx1.healthy.test, 20 mx2.healthy.test"
    );
    assert_eq!(
        alert["mx_after"],
        "10 mx1.healthy.test, 30 mx1.provider.test"
    );
    assert!(
        alert["summary"]
            .as_str()
            .unwrap()
            .contains("MX 10 mx1.healthy.test, 20 mx2.healthy.test → 10 mx1.healthy.test, 30 mx1.provider.test"),
        "{alert:#}"
    );
    let inside = alerted_changes(&hooks);
    assert_eq!(
        inside.len(),
        recorded.len(),
        "every change inside the one alert"
    );
    let mut ids: Vec<i64> = inside.iter().map(|h| h["id"].as_i64().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), recorded.len());
    let added = inside.iter().find(|h| h["kind"] == "mx-added").unwrap();
    assert_eq!(added["new"], "30");
    let removed = inside.iter().find(|h| h["kind"] == "mx-removed").unwrap();
    assert_eq!(removed["old"], "20");
    // Highest severity first, record changes before the findings they brought.
    let first_finding = inside
        .iter()
        .position(|c| c["kind"].as_str().unwrap().starts_with("finding-"))
        .unwrap_or(inside.len());
    assert!(
        inside[first_finding..]
            .iter()
            .all(|c| c["kind"].as_str().unwrap().starts_with("finding-")),
        "{inside:#?}"
    );
    for request in hook_got.lock().unwrap().iter() {
        let expected = format!("sha256={}", hmac_hex("s3cret", &request.body));
        assert_eq!(
            request.header("X-Mxwatch-Signature"),
            Some(expected.as_str()),
            "signed body"
        );
    }
    assert_eq!(slack_got.lock().unwrap().len(), 1, "one Slack message");
    let slack_text = slack_got.lock().unwrap()[0].json()["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        slack_text.contains("healthy.test") && slack_text.contains("mx-removed mx2.healthy.test"),
        "{slack_text}"
    );
    assert_eq!(teams_got.lock().unwrap().len(), 1, "one Teams message");
    assert_eq!(
        teams_got.lock().unwrap()[0].json()["attachments"][0]["content"]["type"],
        "AdaptiveCard"
    );
    let lines = std::fs::read_to_string(&jsonl).unwrap();
    assert_eq!(lines.lines().count(), 1, "one JSON line");
    let line: Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    assert_eq!(line["changes"].as_array().unwrap().len(), recorded.len());
    let mut datagram = [0u8; 65_536];
    let n = syslog.recv(&mut datagram).unwrap();
    let message = String::from_utf8_lossy(&datagram[..n]);
    assert!(
        message.starts_with('<') && message.contains(" mxwatch "),
        "{message}"
    );
    let mails = mail_got.lock().unwrap().clone();
    assert_eq!(mails.len(), 1, "one e-mail");
    assert!(mails[0].contains("Subject: mxwatch: "), "{}", mails[0]);
    // Quoted-printable soft line breaks undone.
    let body = mails[0].replace("=\r\n", "").replace("=\n", "");
    assert!(
        body.contains("What it does:")
            && body.contains(
                "CHANGE-MX-DRAIN mx2.healthy.test: safe to decommission mx2.healthy.test after "
            ),
        "the drain time is in the alert: {body}"
    );

    // A resolver outage is never "MX removed".
    lab.dns.set_behaviour(Behaviour::Silent);
    once(&cfg);
    lab.dns.set_behaviour(Behaviour::ServFail);
    once(&cfg);
    lab.dns.set_behaviour(Behaviour::Resolver);
    assert_eq!(
        changes(&dir).len(),
        recorded.len(),
        "no change from an outage"
    );
    assert_eq!(delivered(&hook_got).len(), 1, "no alert from an outage");

    // Back as it was: each change is resolved, and said so once.
    set_healthy(&lab, &healthy());
    once(&cfg);
    let after = changes(&dir);
    assert_eq!(
        after.len(),
        recorded.len(),
        "a return is a resolution, not a new change"
    );
    assert!(
        after.iter().all(|c| !c["resolved_at"].is_null()),
        "{after:#?}"
    );
    let resolved: Vec<Value> = delivered(&hook_got)
        .into_iter()
        .filter(|h| h["event"] == "resolved")
        .collect();
    assert_eq!(resolved.len(), 1, "said once: {resolved:#?}");
    assert_eq!(
        alerted_changes(&resolved).len(),
        recorded.len(),
        "{resolved:#?}"
    );

    // History and approval.
    let db = dir.path("mxwatch.db");
    let history = run(&[
        "history",
        "healthy.test",
        "--format",
        "json",
        "--db",
        db.to_str().unwrap(),
    ]);
    let history: Value = serde_json::from_slice(&history.stdout).unwrap();
    assert!(history["observations"].as_array().unwrap().len() >= 4);
    let id = after[0]["id"].as_i64().unwrap().to_string();
    let approve = run(&[
        "approve",
        &id,
        "--by",
        "alice",
        "--db",
        db.to_str().unwrap(),
    ]);
    assert_eq!(code(&approve), 0, "{}", stderr(&approve));
    assert_eq!(changes(&dir)[0]["approved_by"], "alice");
    assert_eq!(
        code(&run(&["approve", "999", "--db", db.to_str().unwrap()])),
        2
    );
}

fn hmac_hex(key: &str, body: &[u8]) -> String {
    // HMAC-SHA256 (RFC 2104) written out, so the test does not trust the code it checks.
    use sha2::{Digest, Sha256};
    let mut k = key.as_bytes().to_vec();
    k.resize(64, 0);
    let inner: Vec<u8> = k
        .iter()
        .map(|b| b ^ 0x36)
        .chain(body.iter().copied())
        .collect();
    let inner = Sha256::digest(&inner);
    let outer: Vec<u8> = k
        .iter()
        .map(|b| b ^ 0x5c)
        .chain(inner.iter().copied())
        .collect();
    Sha256::digest(&outer)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn a_flap_that_the_second_look_does_not_confirm_is_not_a_change() {
    let lab = Lab::builtin();
    let dir = Scratch::new("watch-flap");
    let (hook, hook_got) = http_receiver(0);
    let cfg = config(
        &dir,
        &lab,
        &format!("[[alert]]\nkind = \"webhook\"\nurl = {hook:?}\nmin_severity = \"info\"\n"),
    );
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("confirm_after = \"0s\"", "confirm_after = \"3s\"");
    std::fs::write(&cfg, text).unwrap();
    once(&cfg);
    set_healthy(&lab, &changed());
    let child = Command::new(BIN)
        .args(["watch", "--once", "--config", cfg.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The first look sees the change; it is gone before the second look.
    std::thread::sleep(Duration::from_millis(1200));
    set_healthy(&lab, &healthy());
    let status = wait(child, Duration::from_secs(20));
    assert_eq!(status, Some(0));
    assert!(changes(&dir).is_empty(), "{:?}", changes(&dir));
    assert!(hook_got.lock().unwrap().is_empty());
}

#[test]
fn a_change_in_a_maintenance_window_is_recorded_as_expected_and_not_alerted() {
    let lab = Lab::builtin();
    let dir = Scratch::new("watch-maintenance");
    let (hook, hook_got) = http_receiver(0);
    let window = "[[maintenance]]\ndomains = [\"healthy.test\"]\nstart = \"2020-01-01T00:00:00Z\"\nend = \"2100-01-01T00:00:00Z\"\nreason = \"provider move\"\n";
    let cfg = config(
        &dir,
        &lab,
        &format!(
            "{window}[[alert]]\nkind = \"webhook\"\nurl = {hook:?}\nmin_severity = \"info\"\n"
        ),
    );
    once(&cfg);
    set_healthy(&lab, &changed());
    once(&cfg);
    let recorded = changes(&dir);
    assert!(!recorded.is_empty());
    assert!(
        recorded.iter().all(|c| c["expected"]
            .as_str()
            .unwrap_or("")
            .contains("provider move")),
        "{recorded:#?}"
    );
    assert!(hook_got.lock().unwrap().is_empty());
}

#[test]
fn expected_mx_drift_is_a_finding_and_a_matching_change_is_expected() {
    let lab = Lab::builtin();
    let dir = Scratch::new("watch-expect");
    let cfg = config(&dir, &lab, "");
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "name = \"healthy.test\"\n",
        "name = \"healthy.test\"\nexpect_mx = [\"10 mx1.healthy.test\", \"30 mx1.provider.test\"]\n",
    );
    std::fs::write(&cfg, text).unwrap();
    once(&cfg);
    let db = dir.path("mxwatch.db");
    let history = run(&[
        "history",
        "healthy.test",
        "--format",
        "json",
        "--db",
        db.to_str().unwrap(),
    ]);
    let history: Value = serde_json::from_slice(&history.stdout).unwrap();
    assert_eq!(
        history["observations"][0]["finding_ids"][0], "MX-UNEXPECTED",
        "{history:#}"
    );
    set_healthy(&lab, &changed());
    once(&cfg);
    let recorded = changes(&dir);
    let mx: Vec<&Value> = recorded
        .iter()
        .filter(|c| c["kind"].as_str().unwrap().starts_with("mx-"))
        .collect();
    assert!(!mx.is_empty());
    assert!(
        mx.iter()
            .all(|c| c["expected"].as_str().unwrap_or("").contains("expect_mx")),
        "{recorded:#?}"
    );
}

fn wait(mut child: Child, limit: Duration) -> Option<i32> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    None
}

fn observations(db: &Path, domain: &str) -> usize {
    let output = run(&[
        "history",
        domain,
        "--format",
        "json",
        "--db",
        db.to_str().unwrap(),
    ]);
    if code(&output) != 0 {
        return 0;
    }
    serde_json::from_slice::<Value>(&output.stdout)
        .map(|v| v["observations"].as_array().map_or(0, Vec::len))
        .unwrap_or(0)
}

fn wait_for(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// Sends a signal with the shell's built-in `kill` (no procps needed).
#[cfg(unix)]
fn signal(name: &str, pid: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("kill -{name} {pid}")])
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(unix)]
#[test]
fn sigterm_stops_cleanly_and_sigkill_loses_nothing_already_recorded() {
    let lab = Lab::builtin();
    let dir = Scratch::new("watch-signals");
    let cfg = config(&dir, &lab, "");
    let db = dir.path("mxwatch.db");
    let spawn = || {
        Command::new(BIN)
            .args(["watch", "--config", cfg.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let child = spawn();
    assert!(wait_for(Duration::from_secs(20), || observations(
        &db,
        "healthy.test"
    ) >= 2));
    // A second watcher on the same database is refused while the first runs.
    let second = run(&["watch", "--once", "--config", cfg.to_str().unwrap()]);
    assert_eq!(code(&second), 2, "{}", stderr(&second));
    assert!(
        stderr(&second).contains("another `mxwatch watch`"),
        "{}",
        stderr(&second)
    );
    let pid = child.id().to_string();
    assert!(signal("TERM", &pid));
    assert_eq!(
        wait(child, Duration::from_secs(10)),
        Some(0),
        "SIGTERM: exit 0"
    );

    let child = spawn();
    let before = observations(&db, "healthy.test");
    assert!(wait_for(Duration::from_secs(20), || observations(
        &db,
        "healthy.test"
    ) > before + 1));
    let pid = child.id().to_string();
    assert!(signal("KILL", &pid));
    let _ = wait(child, Duration::from_secs(10));
    let kept = observations(&db, "healthy.test");
    assert!(
        kept > before,
        "what was recorded before the kill is still there"
    );
    once(&cfg);
    assert!(
        observations(&db, "healthy.test") > kept,
        "the next start carries on"
    );
    assert!(observations(&db, "customer1.test") >= 1);
}

#[test]
fn propagation_names_the_resolvers_still_serving_the_old_set() {
    let old = Lab::builtin();
    let new = Lab::builtin();
    set_healthy(&new, &changed());
    let (a, b) = (old.dns.addr.to_string(), new.dns.addr.to_string());
    let output = run(&[
        "propagation",
        "healthy.test",
        "--resolver",
        &a,
        "--resolver",
        &b,
        "--format",
        "json",
    ]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let value: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value["agree"], false);
    assert_eq!(
        value["answers"][0]["mx"],
        "10 mx1.healthy.test, 20 mx2.healthy.test"
    );
    assert_eq!(
        value["answers"][1]["mx"],
        "10 mx1.healthy.test, 30 mx1.provider.test"
    );
    assert_eq!(value["answers"][0]["ttl_left"], 3600);
    let same = run(&[
        "propagation",
        "healthy.test",
        "--resolver",
        &a,
        "--resolver",
        &a,
    ]);
    assert_eq!(code(&same), 0);
    assert!(stdout(&same).contains("all resolvers agree"));
}

#[test]
fn a_weaker_dmarc_policy_is_its_own_alert() {
    let lab = Lab::builtin();
    let dir = Scratch::new("watch-dmarc");
    let (hook, hook_got) = http_receiver(0);
    let cfg = config(
        &dir,
        &lab,
        &format!("[[alert]]\nkind = \"webhook\"\nurl = {hook:?}\nmin_severity = \"high\"\n"),
    );
    set_healthy(
        &lab,
        &format!(
            "{}_dmarc TXT \"v=DMARC1; p=reject; rua=mailto:dmarc@healthy.test\"\n",
            healthy_without_dmarc()
        ),
    );
    once(&cfg);
    set_healthy(
        &lab,
        &format!(
            "{}_dmarc TXT \"v=DMARC1; p=none\"\n",
            healthy_without_dmarc()
        ),
    );
    once(&cfg);
    let hooks = delivered(&hook_got);
    assert_eq!(hooks.len(), 1, "{hooks:#?}");
    let inside = alerted_changes(&hooks);
    let weakened = inside
        .iter()
        .find(|c| c["kind"] == "dmarc-weakened")
        .unwrap_or_else(|| panic!("{hooks:#?}"));
    assert_eq!(
        weakened["old"],
        "v=DMARC1; p=reject; rua=mailto:dmarc@healthy.test"
    );
    assert_eq!(weakened["new"], "v=DMARC1; p=none");
    assert_eq!(hooks[0]["severity"], "high");
}

/// An SMTP submission server with STARTTLS (a lab-CA certificate for 127.0.0.1) that keeps each message.
fn starttls_receiver(pki: &mxwatch_lab::LabPki) -> (u16, Arc<Mutex<Vec<String>>>) {
    let receiver = SubmissionReceiver::start(Some(pki)).unwrap();
    (receiver.port, receiver.got)
}

#[test]
fn the_email_sink_uses_starttls_and_verifies_the_server() {
    let lab = Lab::builtin();
    let dir = Scratch::new("watch-email");
    let pki = mxwatch_lab::LabPki::new().unwrap();
    let ca = dir.path("ca.pem");
    std::fs::write(&ca, pki.ca_pem()).unwrap();
    let (port, mail) = starttls_receiver(&pki);
    let sink = format!(
        "[[alert]]\nkind = \"email\"\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {port}\nsmtp_ca_file = {ca:?}\n\
         from = \"mxwatch@lab.test\"\nto = [\"postmaster@healthy.test\"]\nmin_severity = \"info\"\n",
        ca = ca.display().to_string()
    );
    let cfg = config(&dir, &lab, &sink);
    once(&cfg);
    set_healthy(&lab, &changed());
    once(&cfg);
    let messages = mail.lock().unwrap().clone();
    assert_eq!(
        messages.len(),
        1,
        "one message for the change set, over TLS"
    );
    assert!(
        messages.iter().any(|m| m.contains("mx-added")),
        "{messages:#?}"
    );

    // Without the CA the server is not trusted: nothing is sent, the alert stays queued.
    let untrusting = dir.path("untrusting.toml");
    std::fs::write(
        &untrusting,
        std::fs::read_to_string(&cfg).unwrap().replace(
            &format!("smtp_ca_file = {:?}\n", ca.display().to_string()),
            "",
        ),
    )
    .unwrap();
    set_healthy(&lab, &healthy());
    once(&untrusting);
    assert_eq!(
        mail.lock().unwrap().len(),
        messages.len(),
        "no mail to an unverified server"
    );
}

#[test]
fn a_part_that_keeps_failing_does_not_stop_monitoring_and_never_hides_a_change() {
    let lab = Lab::builtin();
    let dir = Scratch::new("watch-failing-part");
    let (hook, hook_got) = http_receiver(0);
    let cfg = config(
        &dir,
        &lab,
        &format!("[[alert]]\nkind = \"webhook\"\nurl = {hook:?}\nmin_severity = \"info\"\n"),
    );
    // _dmarc is delegated to a server that is not there (SERVFAIL) in the middle look.
    let with = |dmarc: &str| format!("{}{dmarc}\n", healthy_without_dmarc());
    set_healthy(&lab, &with("_dmarc TXT \"v=DMARC1; p=reject\""));
    once(&cfg);
    set_healthy(&lab, &with("_dmarc NS ns.nowhere.test."));
    once(&cfg);
    assert!(delivered(&hook_got).is_empty(), "a failure is not a change");
    set_healthy(&lab, &with("_dmarc TXT \"v=DMARC1; p=none\""));
    once(&cfg);
    let mut kinds: Vec<String> = alerted_changes(&delivered(&hook_got))
        .iter()
        .map(|h| {
            format!(
                "{} {}",
                h["kind"].as_str().unwrap(),
                h["subject"].as_str().unwrap_or_default()
            )
        })
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "dmarc-weakened _dmarc.healthy.test",
            // What p=none means, said by the checks (the lab's healthy.test also publishes BIMI).
            "finding-appeared BIMI-DMARC-NOT-ENFORCED healthy.test",
            "finding-appeared DMARC-NONE healthy.test",
        ],
        "compared with the last observed p=reject"
    );

    // A PTR zone that always fails: the domain is still monitored.
    let reverse = mxwatch_lab::zones::ZONE_FILES
        .iter()
        .find(|(f, _)| *f == "127.in-addr.arpa.zone")
        .map(|(_, t)| format!("{t}\n11.1.0 NS ns.nowhere.test.\n"))
        .unwrap();
    lab.dns
        .zones
        .write()
        .unwrap()
        .set_zone("127.in-addr.arpa.zone", &reverse)
        .unwrap();
    once(&cfg);
    set_healthy(
        &lab,
        &with("_dmarc TXT \"v=DMARC1; p=none\"").replace(
            "@\tIN\tMX\t20 mx2.healthy.test.",
            "@\tIN\tMX\t20 mx2.healthy.test.\n@ MX 40 mx1.provider.test.",
        ),
    );
    once(&cfg);
    let kinds: Vec<String> = alerted_changes(&delivered(&hook_got))
        .iter()
        .map(|h| h["kind"].as_str().unwrap().to_string())
        .collect();
    assert!(kinds.contains(&"mx-added".to_string()), "{kinds:?}");
}

/// The first half of the change story on PostgreSQL: `watch --once` records the baseline, the
/// zone changes, the next `watch --once` records the MX changes, and `changes --db postgres://…`
/// reads them back. A watcher is refused while another holds the database's watcher lock.
#[test]
fn watch_records_changes_in_postgres() {
    use mxwatch_store::testing::{TestDatabase, server_or_skip};
    let Some(server) = server_or_skip("watch_records_changes_in_postgres") else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let db = runtime.block_on(TestDatabase::create(&server, "watch"));
    let lab = Lab::builtin();
    let dir = Scratch::new("watch-postgres");
    let cfg = config_with_db(&dir, &lab, &db.url, "");

    once(&cfg);
    assert!(
        changes_in(&db.url).is_empty(),
        "the first sight is the baseline"
    );

    set_healthy(&lab, &changed());
    once(&cfg);
    let recorded = changes_in(&db.url);
    assert_backup_moved(&recorded);

    // Another watcher (here: this test) holds the lock: `watch` refuses to start.
    let held = runtime
        .block_on(mxwatch_store::try_lock_watcher(&db.url))
        .unwrap()
        .expect("no watcher is running");
    let second = run(&["watch", "--once", "--config", cfg.to_str().unwrap()]);
    assert_eq!(code(&second), 2, "{}", stderr(&second));
    assert!(
        stderr(&second).contains("another `mxwatch watch`"),
        "{}",
        stderr(&second)
    );
    drop(held);
    runtime.block_on(db.drop());
}
