//! The SMTP budget shared by workers, on PostgreSQL (a fresh database on the server
//! `MXWATCH_TEST_POSTGRES_URL` names; skipped without one unless MXWATCH_REQUIRE_POSTGRES=1).
//! Each budget has a ledger (a connection pool) of its own, as two worker processes would.
//!
//! The database keeps its own clock (leases and the minute are the server's time), so these
//! tests run on the real clock; they count what was admitted, never how long anything took.

use mxwatch_engine::smtp_budget::{LEASE, SharedBudget, WorkerBudget};
use mxwatch_probe::smtp::politeness::WINDOW;
use mxwatch_probe::smtp::{AddressBudget, Admission, PolitenessLimits};
use mxwatch_store::smtp_turns::{PgTurnLedger, SharedLimits, TurnAnswer, TurnLedger};
use mxwatch_store::testing::{TestDatabase, server_or_skip};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::time::Instant;

const MX: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 25));

fn limits(concurrent: usize, per_minute: u32, max_wait: Duration) -> PolitenessLimits {
    PolitenessLimits {
        concurrent,
        per_minute,
        max_wait,
    }
}

async fn ledger(db: &TestDatabase) -> Arc<PgTurnLedger> {
    Arc::new(PgTurnLedger::open(&db.store_url()).await.unwrap())
}

/// A budget as one worker holds it (a ledger of its own).
async fn worker(db: &TestDatabase, name: &str, limits: &PolitenessLimits) -> Arc<SharedBudget> {
    Arc::new(SharedBudget::new(
        ledger(db).await,
        name.into(),
        limits,
        LEASE,
        WINDOW,
    ))
}

async fn admit(budget: &SharedBudget, within: Duration) -> Admission {
    budget.admit_until(MX, Instant::now() + within).await
}

fn is_go(admission: &Admission) -> bool {
    matches!(admission, Admission::Go(_))
}

fn reason(admission: Admission) -> String {
    match admission {
        Admission::Skip(reason) => reason,
        Admission::Go(_) => panic!("admitted"),
    }
}

#[tokio::test]
async fn two_workers_together_never_hold_more_than_the_connections_allowed() {
    let Some(server) = server_or_skip("two_workers_together_never_hold_more") else {
        return;
    };
    let db = TestDatabase::create(&server, "budget_open").await;
    let limits = limits(2, 1000, Duration::from_secs(60));
    let (a, b) = (
        worker(&db, "a", &limits).await,
        worker(&db, "b", &limits).await,
    );
    let usage = ledger(&db).await;

    // One each: the address is full for both.
    let Admission::Go(first) = admit(&a, Duration::ZERO).await else {
        panic!("the first turn refused");
    };
    let Admission::Go(second) = admit(&b, Duration::ZERO).await else {
        panic!("the second turn refused");
    };
    assert_eq!(usage.usage("192.0.2.25", WINDOW).await.unwrap().open, 2);
    let refused = reason(admit(&a, Duration::ZERO).await);
    assert!(refused.contains("stayed open"), "{refused}");
    assert!(!is_go(&admit(&b, Duration::ZERO).await));
    // Another address has its own budget.
    assert!(is_go(
        &a.admit_until(
            IpAddr::from([192, 0, 2, 26]),
            Instant::now() + Duration::ZERO
        )
        .await
    ));
    // A connection closing in worker A lets worker B in.
    drop(first);
    assert!(is_go(&admit(&b, Duration::from_secs(30)).await));
    drop(second);

    // Many probes of both workers at once: never more than two held together.
    let holding = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let mut probes = vec![];
    for n in 0..12 {
        let budget = if n % 2 == 0 { a.clone() } else { b.clone() };
        let (holding, most, usage) = (holding.clone(), most.clone(), usage.clone());
        probes.push(tokio::spawn(async move {
            let Admission::Go(turn) = admit(&budget, Duration::from_secs(60)).await else {
                return false;
            };
            let now = holding.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            // What the database counts while this turn is held: never past the limit.
            let open = usage.usage("192.0.2.25", WINDOW).await.unwrap().open;
            assert!(open <= 2, "{open} open in the database");
            tokio::time::sleep(Duration::from_millis(30)).await;
            holding.fetch_sub(1, Ordering::SeqCst);
            drop(turn);
            true
        }));
    }
    for probe in probes {
        assert!(probe.await.unwrap(), "a probe waited out its minute");
    }
    let most = most.load(Ordering::SeqCst);
    assert!((1..=2).contains(&most), "{most} held at once");
    db.drop().await;
}

#[tokio::test]
async fn two_workers_together_begin_no_more_connections_a_minute_than_allowed() {
    let Some(server) = server_or_skip("two_workers_together_begin_no_more") else {
        return;
    };
    let db = TestDatabase::create(&server, "budget_minute").await;
    // Waiting is allowed, but less than the minute: a full minute skips.
    let limits = limits(100, 5, Duration::from_secs(20));
    let (a, b) = (
        worker(&db, "a", &limits).await,
        worker(&db, "b", &limits).await,
    );
    let mut probes = vec![];
    for n in 0..20 {
        let budget = if n % 2 == 0 { a.clone() } else { b.clone() };
        probes.push(tokio::spawn(async move {
            match admit(&budget, Duration::from_secs(20)).await {
                Admission::Go(_) => None,
                Admission::Skip(reason) => Some(reason),
            }
        }));
    }
    let mut admitted = 0;
    for probe in probes {
        match probe.await.unwrap() {
            None => admitted += 1,
            Some(reason) => assert!(reason.contains("a minute"), "{reason}"),
        }
    }
    assert_eq!(
        admitted, 5,
        "connections begun within the minute by both workers"
    );
    let usage = ledger(&db).await.usage("192.0.2.25", WINDOW).await.unwrap();
    assert_eq!(usage.begun_in_window, 5);
    assert_eq!(usage.open, 0, "every turn ended when its probe was done");
    db.drop().await;
}

#[tokio::test]
async fn a_killed_workers_connections_stop_counting_when_their_lease_runs_out() {
    let Some(server) = server_or_skip("a_killed_workers_connections_stop_counting") else {
        return;
    };
    let db = TestDatabase::create(&server, "budget_killed").await;
    // What a worker killed while connected leaves: a turn nobody renews or ends (a short lease).
    let dead = ledger(&db).await;
    let shared = SharedLimits {
        concurrent: 1,
        per_minute: 100,
        lease: Duration::from_secs(2),
        window: WINDOW,
    };
    assert!(matches!(
        dead.begin("192.0.2.25", "killed", &shared).await.unwrap(),
        TurnAnswer::Granted(_)
    ));
    let limits = limits(1, 100, Duration::from_secs(60));
    let alive = worker(&db, "alive", &limits).await;
    // Held now…
    let refused = reason(admit(&alive, Duration::ZERO).await);
    assert!(refused.contains("stayed open"), "{refused}");
    // …and free once the lease has run out, with nobody ending it.
    assert!(is_go(&admit(&alive, Duration::from_secs(60)).await));
    db.drop().await;
}

#[tokio::test]
async fn a_database_that_goes_away_leaves_the_workers_own_limits_in_charge() {
    let Some(server) = server_or_skip("a_database_that_goes_away") else {
        return;
    };
    let db = TestDatabase::create(&server, "budget_gone").await;
    let limits = limits(1, 100, Duration::from_secs(2));
    let budget: Arc<dyn AddressBudget> = Arc::new(WorkerBudget::new(
        mxwatch_probe::smtp::LocalBudget::new(limits.clone()),
        SharedBudget::new(ledger(&db).await, "w".into(), &limits, LEASE, WINDOW),
    ));
    assert!(is_go(&budget.admit(MX).await));
    // The database is dropped under the worker's feet (its connections closed by force).
    db.drop().await;
    let Admission::Go(held) = budget.admit(MX).await else {
        panic!("a database outage skipped the probe");
    };
    // The worker's own limit still holds: one connection at once.
    match budget.admit(MX).await {
        Admission::Skip(reason) => assert!(reason.contains("stayed open"), "{reason}"),
        Admission::Go(_) => panic!("two at once past the worker's own limit"),
    }
    drop(held);
    assert!(is_go(&budget.admit(MX).await));
}
