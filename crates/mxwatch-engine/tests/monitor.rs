//! The watch cycle in process: the lab's resolver on loopback, the in-memory store, the alert
//! receivers from mxwatch-lab. Each test drives `Watcher::run(once)` and reads the store and
//! the receivers: first sight, a confirmed change set (one alert), a flap the confirming look
//! does not see, a revert, a maintenance window, a resolver outage, and deliveries that fail
//! for a while or for good.

use mxwatch_core::monitor::diff::ChangeKind;
use mxwatch_engine::config::Config;
use mxwatch_engine::monitor::Watcher;
use mxwatch_lab::{Behaviour, HttpReceiver, LabDns, LabZones, Replies};
use mxwatch_store::{SqliteStore, Store};
use std::sync::Arc;

const ZONE: &str = "healthy.test.zone";

async fn lab() -> LabDns {
    LabDns::start(
        LabZones::builtin_unsigned().unwrap(),
        Behaviour::Resolver,
        "127.0.0.1".parse().unwrap(),
    )
    .await
    .unwrap()
}

fn healthy() -> String {
    LabZones::builtin_zone_text(ZONE).unwrap().to_string()
}

fn moved() -> String {
    LabZones::healthy_with_backup_moved()
}

fn set(lab: &LabDns, text: &str) {
    lab.zones.write().unwrap().set_zone(ZONE, text).unwrap();
}

/// A watcher of healthy.test through `lab` (and `confirm` for the second look), DNS only.
async fn watcher(lab: &LabDns, confirm: Option<&LabDns>, extra: &str) -> Watcher {
    let confirm = confirm
        .map(|c| format!("confirm_resolver = \"{}\"\n", c.addr))
        .unwrap_or_default();
    let text = format!(
        "[defaults]\nresolver = \"{}\"\n{confirm}lab = true\nprobe = false\ncompare_nameservers = false\n\
         dnssec = false\ndkim_guess = false\nconfirm_after = \"0s\"\nretry_after = \"0s\"\njitter = 0.0\n\
         dns_timeout = \"300ms\"\n\n[[domain]]\nname = \"healthy.test\"\n{extra}",
        lab.addr
    );
    let config = Config::parse(&text).unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::memory().await.unwrap());
    Watcher::new(config, store).unwrap()
}

fn hook(receiver: &HttpReceiver) -> String {
    format!(
        "[[alert]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"{}\"\nmin_severity = \"info\"\n",
        receiver.url
    )
}

async fn open_kinds(w: &Watcher) -> Vec<(ChangeKind, String)> {
    w.store
        .open_changes("healthy.test")
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.kind, c.subject))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmed_change_set_is_one_alert_and_its_revert_one_more() {
    let lab = lab().await;
    let receiver = HttpReceiver::start(Replies::FailFirst(0)).unwrap();
    let w = watcher(&lab, None, &hook(&receiver)).await;

    w.run(true).await.unwrap();
    assert!(w.store.baseline("healthy.test").await.unwrap().is_some());
    assert!(
        open_kinds(&w).await.is_empty(),
        "first sight is the reference"
    );
    assert!(receiver.all().is_empty());

    set(&lab, &moved());
    w.run(true).await.unwrap();
    let open = open_kinds(&w).await;
    assert!(
        open.contains(&(ChangeKind::MxAdded, "mx1.provider.test".into())),
        "{open:?}"
    );
    assert!(
        open.contains(&(ChangeKind::MxRemoved, "mx2.healthy.test".into())),
        "{open:?}"
    );
    let alerts = receiver.delivered();
    assert_eq!(alerts.len(), 1, "one alert for the change set");
    let alert = alerts[0].json();
    assert_eq!(alert["event"], "change");
    assert_eq!(
        alert["mx_before"],
        "10 mx1.healthy.test, 20 mx2.healthy.test"
    );
    assert_eq!(
        alert["mx_after"],
        "10 mx1.healthy.test, 30 mx1.provider.test"
    );
    assert_eq!(alert["changes"].as_array().unwrap().len(), open.len());

    // Seen again unchanged: nothing new.
    w.run(true).await.unwrap();
    assert_eq!(receiver.all().len(), 1);
    assert_eq!(open_kinds(&w).await.len(), open.len());

    // Back as it was: every change resolved, said once.
    set(&lab, &healthy());
    w.run(true).await.unwrap();
    assert!(open_kinds(&w).await.is_empty());
    let alerts = receiver.delivered();
    assert_eq!(alerts.len(), 2);
    let resolved = alerts[1].json();
    assert_eq!(resolved["event"], "resolved");
    assert_eq!(resolved["changes"].as_array().unwrap().len(), open.len());
    assert!(
        resolved["summary"]
            .as_str()
            .unwrap()
            .starts_with("RESOLVED "),
        "{resolved:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_the_confirming_look_does_not_see_is_a_flap_not_a_change() {
    let first = lab().await;
    let second = lab().await;
    let receiver = HttpReceiver::start(Replies::FailFirst(0)).unwrap();
    let w = watcher(&first, Some(&second), &hook(&receiver)).await;
    w.run(true).await.unwrap();
    // Only the first path to the truth sees the new MX set.
    set(&first, &moved());
    w.run(true).await.unwrap();
    assert!(open_kinds(&w).await.is_empty(), "a flap is not recorded");
    assert!(receiver.all().is_empty(), "nor alerted");
    // Once both see it, it is.
    set(&second, &moved());
    w.run(true).await.unwrap();
    assert!(!open_kinds(&w).await.is_empty());
    assert_eq!(receiver.delivered().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolver_outage_is_never_a_change_and_hides_nothing() {
    let lab = lab().await;
    let receiver = HttpReceiver::start(Replies::FailFirst(0)).unwrap();
    let w = watcher(&lab, None, &hook(&receiver)).await;
    w.run(true).await.unwrap();
    for outage in [Behaviour::ServFail, Behaviour::Silent, Behaviour::Refused] {
        lab.set_behaviour(outage);
        w.run(true).await.unwrap();
        assert!(open_kinds(&w).await.is_empty(), "{outage:?} is no change");
    }
    assert!(receiver.all().is_empty(), "no alert from an outage");
    // The zone changed during the outage: compared with the last observed set, it is seen.
    set(&lab, &moved());
    lab.set_behaviour(Behaviour::Resolver);
    w.run(true).await.unwrap();
    let open = open_kinds(&w).await;
    assert!(
        open.contains(&(ChangeKind::MxRemoved, "mx2.healthy.test".into())),
        "{open:?}"
    );
    assert_eq!(receiver.delivered().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_inside_a_maintenance_window_are_recorded_as_expected_and_not_alerted() {
    let lab = lab().await;
    let receiver = HttpReceiver::start(Replies::FailFirst(0)).unwrap();
    let window = "[[maintenance]]\nstart = \"2000-01-01T00:00:00Z\"\nend = \"2100-01-01T00:00:00Z\"\nreason = \"provider move\"\n";
    let w = watcher(&lab, None, &format!("{}{window}", hook(&receiver))).await;
    w.run(true).await.unwrap();
    set(&lab, &moved());
    w.run(true).await.unwrap();
    let open = w.store.open_changes("healthy.test").await.unwrap();
    assert!(!open.is_empty());
    assert!(
        open.iter().all(|c| c
            .expected
            .as_deref()
            .is_some_and(|e| e.contains("provider move"))),
        "{open:#?}"
    );
    assert!(
        receiver.all().is_empty(),
        "expected changes are not alerted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_that_refuses_for_good_is_given_up_and_one_that_fails_once_is_retried() {
    let lab = lab().await;
    let refusing = HttpReceiver::start(Replies::Always(404)).unwrap();
    let flaky = HttpReceiver::start(Replies::FailFirst(1)).unwrap();
    let sinks = format!(
        "[[alert]]\nname = \"gone\"\nkind = \"webhook\"\nurl = \"{}\"\n\n[[alert]]\nname = \"flaky\"\nkind = \"slack\"\nurl = \"{}\"\n",
        refusing.url, flaky.url
    );
    let w = watcher(&lab, None, &sinks).await;
    w.run(true).await.unwrap();
    set(&lab, &moved());
    // A run delivers after each cycle and once more at its end (retry_after = 0s): the 500
    // is retried within it, the 404 is not.
    w.run(true).await.unwrap();
    assert_eq!(
        refusing.all().len(),
        1,
        "a permanent failure is not retried"
    );
    let statuses: Vec<u16> = flaky.all().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [500, 200], "a passing failure is");
    let given_up = w.store.failed_deliveries(0).await.unwrap();
    assert_eq!(given_up.len(), 1);
    assert_eq!(given_up[0].sink, "gone");
    assert!(
        given_up[0].error.as_deref().unwrap().contains("404"),
        "{given_up:?}"
    );
    assert_eq!(w.deliver_due().await.unwrap(), Default::default());
}

/// Registration over RDAP under `watch`: a registrar lock removed is a confirmed
/// `registration-lock-changed` (high) with its alert, put back it is resolved, and an RDAP
/// server that fails (503) is no change at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registrar_lock_removed_is_a_change_and_an_rdap_failure_is_none() {
    use mxwatch_lab::rdap::{LOCKED, RdapBehaviour};
    let lab = lab().await;
    let pki = mxwatch_lab::LabPki::new().unwrap();
    let rdap = mxwatch_lab::LabRdap::start(&pki).await.unwrap();
    let ca = std::env::temp_dir().join(format!("mxwatch-monitor-rdap-{}.pem", std::process::id()));
    std::fs::write(&ca, pki.ca_pem()).unwrap();
    let receiver = HttpReceiver::start(Replies::FailFirst(0)).unwrap();
    let text = format!(
        "[defaults]\nresolver = \"{}\"\nlab = true\nprobe = false\ncompare_nameservers = false\n\
         dnssec = false\ndkim_guess = false\nconfirm_after = \"0s\"\nretry_after = \"0s\"\njitter = 0.0\n\
         dns_timeout = \"300ms\"\nrdap_server = \"{}\"\nca_file = [{:?}]\nrdap_timeout = \"2s\"\n\n\
         [[domain]]\nname = \"healthy.test\"\n{}",
        lab.addr,
        rdap.url(),
        ca.display().to_string(),
        hook(&receiver)
    );
    let store: Arc<dyn Store> = Arc::new(SqliteStore::memory().await.unwrap());
    let w = Watcher::new(Config::parse(&text).unwrap(), store).unwrap();
    w.run(true).await.unwrap();
    assert!(open_kinds(&w).await.is_empty());
    assert_eq!(rdap.requests("healthy.test"), 1, "asked on the first look");

    let unlocked = RdapBehaviour::Registered {
        expires_in_days: 400,
        status: &["active"],
    };
    rdap.set("healthy.test", unlocked);
    w.run(true).await.unwrap();
    let open = open_kinds(&w).await;
    assert!(
        open.contains(&(ChangeKind::RegistrationLockChanged, "healthy.test".into())),
        "{open:?}"
    );
    let alerts = receiver.delivered();
    assert_eq!(alerts.len(), 1);
    let alert = alerts[0].json();
    assert_eq!(alert["severity"], "high", "{alert:#}");
    let change = alert["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "registration-lock-changed")
        .unwrap_or_else(|| panic!("{alert:#}"))
        .clone();
    assert_eq!(change["new"], "(no lock)");
    assert!(
        change["old"]
            .as_str()
            .unwrap()
            .contains("client transfer prohibited")
    );

    // The RDAP server fails: nothing changes, nothing is resolved, no alert.
    rdap.set("healthy.test", RdapBehaviour::Error(503));
    w.run(true).await.unwrap();
    assert_eq!(open_kinds(&w).await, open);
    assert_eq!(receiver.delivered().len(), 1);

    // Locked again: the change is resolved.
    rdap.set(
        "healthy.test",
        RdapBehaviour::Registered {
            expires_in_days: 400,
            status: LOCKED,
        },
    );
    w.run(true).await.unwrap();
    let open = open_kinds(&w).await;
    assert!(
        !open.contains(&(ChangeKind::RegistrationLockChanged, "healthy.test".into())),
        "{open:?}"
    );
    assert_eq!(receiver.delivered().len(), 2);
    assert_eq!(receiver.delivered()[1].json()["event"], "resolved");
}
