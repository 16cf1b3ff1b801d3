//! The shared SMTP turns' SQL on PostgreSQL (a fresh database on the server
//! `MXWATCH_TEST_POSTGRES_URL` names; skipped without one unless MXWATCH_REQUIRE_POSTGRES=1):
//! what counts as open and as begun, renewals, the sweep, workers with different limits. The
//! waiting on top of it is mxwatch-engine's (tests/smtp_budget.rs).

use mxwatch_store::smtp_turns::{AddressUsage, PgTurnLedger, SharedLimits, TurnAnswer, TurnLedger};
use mxwatch_store::testing::{TestDatabase, server_or_skip};
use std::time::Duration;

const MINUTE: Duration = Duration::from_secs(60);

fn limits(concurrent: u32, per_minute: u32) -> SharedLimits {
    SharedLimits {
        concurrent,
        per_minute,
        lease: Duration::from_secs(30),
        window: MINUTE,
    }
}

async fn granted(ledger: &PgTurnLedger, address: &str, limits: &SharedLimits) -> i64 {
    match ledger.begin(address, "w", limits).await.unwrap() {
        TurnAnswer::Granted(turn) => turn,
        full => panic!("refused: {full:?}"),
    }
}

#[tokio::test]
async fn turns_count_as_open_and_begun_and_the_sweep_deletes_only_what_counts_for_nothing() {
    let Some(server) = server_or_skip("turns_count_as_open_and_begun") else {
        return;
    };
    let db = TestDatabase::create(&server, "turns").await;
    let ledger = PgTurnLedger::open(&db.store_url()).await.unwrap();
    let roomy = limits(10, 10);
    let turns = [
        granted(&ledger, "192.0.2.1", &roomy).await,
        granted(&ledger, "192.0.2.1", &roomy).await,
        granted(&ledger, "192.0.2.1", &roomy).await,
    ];
    granted(&ledger, "2001:db8::1", &roomy).await;
    ledger.end(turns[0]).await.unwrap();
    let usage = ledger.usage("192.0.2.1", MINUTE).await.unwrap();
    assert_eq!(
        usage,
        AddressUsage {
            open: 2,
            begun_in_window: 3
        }
    );

    // A stricter worker counts the same rows against its own numbers: the minute is full for
    // it, and it is told when the start it waits for leaves the window.
    match ledger
        .begin("192.0.2.1", "strict", &limits(10, 2))
        .await
        .unwrap()
    {
        TurnAnswer::Full {
            open: 2,
            begun_in_window: 3,
            window_free_in: Some(free_in),
            lease_ends_in: None,
        } => assert!(free_in <= MINUTE, "{free_in:?}"),
        other => panic!("{other:?}"),
    }
    match ledger
        .begin("192.0.2.1", "strict", &limits(2, 10))
        .await
        .unwrap()
    {
        TurnAnswer::Full {
            window_free_in: None,
            lease_ends_in: Some(ends_in),
            ..
        } => assert!(ends_in <= Duration::from_secs(30), "{ends_in:?}"),
        other => panic!("{other:?}"),
    }

    // Within the minute nothing goes; with the window taken as zero, the closed turn goes and
    // the open ones stay (they still count as open).
    assert_eq!(ledger.sweep(MINUTE, 100).await.unwrap(), 0);
    assert_eq!(ledger.sweep(Duration::ZERO, 100).await.unwrap(), 1);
    assert_eq!(ledger.usage("192.0.2.1", MINUTE).await.unwrap().open, 2);

    // A lease that ran out is renewed (the connection is still open), and counts again.
    let lapsed = SharedLimits {
        lease: Duration::ZERO,
        ..roomy.clone()
    };
    let short = granted(&ledger, "192.0.2.9", &lapsed).await;
    assert_eq!(ledger.usage("192.0.2.9", MINUTE).await.unwrap().open, 0);
    assert_eq!(
        ledger
            .renew(&[short, turns[1]], Duration::from_secs(30))
            .await
            .unwrap(),
        2
    );
    assert_eq!(ledger.usage("192.0.2.9", MINUTE).await.unwrap().open, 1);
    db.drop().await;
}
