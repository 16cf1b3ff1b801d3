//! The SMTP politeness budget of an `mxwatch worker`: its own limits first, then the limits
//! shared by every worker of the database (issue 13: "each worker keeps its own politeness …
//! and a shared per-address budget in the database keeps N workers from hammering one
//! provider's MX hosts").
//!
//! - [`SharedBudget`] asks the database ([`TurnLedger`], table `smtp_turns`) for each
//!   connection's turn: at most `--smtp-per-address` open at once and `--smtp-per-minute` begun
//!   in any sixty seconds to one address, counted over all workers. A granted turn is a lease
//!   this worker renews while the connection is open and ends when it closes; a killed worker's
//!   turns stop counting when their leases run out ([`LEASE`]).
//! - [`WorkerBudget`] is the worker's [`LocalBudget`] and its [`SharedBudget`] together: the
//!   local turn first (it costs no round trip, and a worker never exceeds its own limits), then
//!   the shared one within what is left of `--smtp-max-wait`; dropping the turn frees both.
//!
//! **When the database does not answer**, the shared budget lets the probe go on the worker's
//! own limits alone, says so once in the log, and asks the database again after
//! [`DATABASE_RETRY`]; it says when the database answers again. Why not skip the probe
//! instead: a database outage already pauses the worker (it can neither take lines nor write
//! results), so only the audits in hand probe meanwhile, each still under the per-worker
//! limits; skipping would write "skipped for politeness" into their reports for a reason that
//! is ours, not the host's. Never a probe failure, never a crash.

use futures_util::future::BoxFuture;
use mxwatch_probe::smtp::politeness::WINDOW;
use mxwatch_probe::smtp::{AddressBudget, Admission, LocalBudget, PolitenessLimits, Turn};
use mxwatch_store::smtp_turns::{SharedLimits, TurnAnswer, TurnLedger};
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How long an open turn counts without its holder renewing it: a killed worker's connections
/// stop counting this long after it died. Renewed every third of it.
pub const LEASE: Duration = Duration::from_secs(30);
/// How often a probe waiting for a connection to close (the concurrency limit) asks again: a
/// connection closing in another worker is not announced.
pub const POLL: Duration = Duration::from_secs(1);
/// While the database does not answer, admissions go by the local budget alone and the
/// database is asked again after this.
pub const DATABASE_RETRY: Duration = Duration::from_secs(10);
/// Turns that count for nothing any more are deleted this often, at most this many at a time.
const SWEEP_EVERY: Duration = Duration::from_secs(60);
const SWEEP_BATCH: i64 = 10_000;

/// The per-address budget shared through the database.
pub struct SharedBudget {
    ledger: Arc<dyn TurnLedger>,
    holder: String,
    limits: SharedLimits,
    max_wait: Duration,
    /// This worker's open turns, renewed by `renewer` until they end.
    held: Arc<Mutex<HashSet<i64>>>,
    /// Until when the database is not asked (it just failed), and whether that was said.
    resting_until: Mutex<Option<Instant>>,
    renewer: JoinHandle<()>,
}

impl SharedBudget {
    /// A budget holding turns as `holder` (the worker's ID) under `limits`' numbers. Starts
    /// the task renewing its turns: call within a Tokio runtime.
    pub fn new(
        ledger: Arc<dyn TurnLedger>,
        holder: String,
        limits: &PolitenessLimits,
        lease: Duration,
        window: Duration,
    ) -> SharedBudget {
        let held: Arc<Mutex<HashSet<i64>>> = Arc::default();
        let renewer = tokio::spawn(renew(ledger.clone(), held.clone(), lease, window));
        SharedBudget {
            ledger,
            holder,
            limits: SharedLimits {
                concurrent: u32::try_from(limits.concurrent.max(1)).unwrap_or(u32::MAX),
                per_minute: limits.per_minute.max(1),
                lease,
                window,
            },
            max_wait: limits.max_wait,
            held,
            resting_until: Mutex::new(None),
            renewer,
        }
    }

    /// Turns this budget holds open now.
    pub fn held(&self) -> usize {
        self.held.lock().unwrap().len()
    }

    /// Waits for the database's turn to connect to `ip`, until `deadline` at the latest (and
    /// never longer than the budget's own wait). A database that does not answer lets the
    /// probe go (see the module's notes).
    pub async fn admit_until(&self, ip: IpAddr, deadline: Instant) -> Admission {
        let started = Instant::now();
        let deadline = deadline.min(started + self.max_wait);
        let address = ip.to_string();
        loop {
            if self.resting() {
                return Admission::Go(Turn::new(started.elapsed(), Box::new(())));
            }
            let answer = match self
                .ledger
                .begin(&address, &self.holder, &self.limits)
                .await
            {
                Ok(answer) => {
                    self.answered();
                    answer
                }
                Err(e) => {
                    self.failed(&e);
                    return Admission::Go(Turn::new(started.elapsed(), Box::new(())));
                }
            };
            let now = Instant::now();
            let (window_free_in, lease_ends_in) = match answer {
                TurnAnswer::Granted(turn) => {
                    self.held.lock().unwrap().insert(turn);
                    let end = EndTurn {
                        turn,
                        held: self.held.clone(),
                        ledger: self.ledger.clone(),
                    };
                    return Admission::Go(Turn::new(now - started, Box::new(end)));
                }
                TurnAnswer::Full {
                    window_free_in,
                    lease_ends_in,
                    ..
                } => (window_free_in, lease_ends_in),
            };
            if let Some(free_in) = window_free_in
                && now + free_in > deadline
            {
                return Admission::Skip(format!(
                    "{} SMTP connections a minute to {ip} already begun by the workers sharing \
                     this database; the next turn was more than {} s away",
                    self.limits.per_minute,
                    self.max_wait.as_secs()
                ));
            }
            if now >= deadline {
                return Admission::Skip(format!(
                    "{} SMTP connections to {ip} held by the workers sharing this database \
                     stayed open for the {} s a probe may wait",
                    self.limits.concurrent,
                    self.max_wait.as_secs()
                ));
            }
            // The minute's slot frees at a known time; an open connection may close any time
            // (asked again every POLL), or its lease runs out if its holder died.
            let wait = match (window_free_in, lease_ends_in) {
                (Some(free_in), _) => free_in,
                (None, Some(ends_in)) => ends_in.min(POLL),
                (None, None) => POLL,
            };
            tokio::time::sleep_until((now + wait.max(Duration::from_millis(10))).min(deadline))
                .await;
        }
    }

    fn resting(&self) -> bool {
        let resting = self.resting_until.lock().unwrap();
        resting.is_some_and(|until| Instant::now() < until)
    }

    fn answered(&self) {
        if self.resting_until.lock().unwrap().take().is_some() {
            tracing::warn!("shared SMTP budget: the database answers again; shared limits resumed");
        }
    }

    fn failed(&self, error: &mxwatch_store::StoreError) {
        let mut resting = self.resting_until.lock().unwrap();
        if resting.is_none() {
            tracing::error!(
                "shared SMTP budget: the database does not answer; probing under this worker's \
                 own limits (--smtp-per-address, --smtp-per-minute) until it does ({error})"
            );
        } else {
            tracing::debug!("shared SMTP budget: still no answer: {error}");
        }
        *resting = Some(Instant::now() + DATABASE_RETRY);
    }
}

impl Drop for SharedBudget {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}

/// Renews this worker's open turns every third of the lease, and now and then deletes the
/// turns that count for nothing any more. Failures are left to the admissions to report (a
/// turn not renewed runs out, which errs on the side of the hosts: it stops counting).
async fn renew(
    ledger: Arc<dyn TurnLedger>,
    held: Arc<Mutex<HashSet<i64>>>,
    lease: Duration,
    window: Duration,
) {
    let mut tick = tokio::time::interval(lease / 3);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_sweep = Instant::now();
    loop {
        tick.tick().await;
        let turns: Vec<i64> = held.lock().unwrap().iter().copied().collect();
        if let Err(e) = ledger.renew(&turns, lease).await {
            tracing::debug!("shared SMTP budget: renewing {} turn(s): {e}", turns.len());
        }
        if last_sweep.elapsed() >= SWEEP_EVERY {
            last_sweep = Instant::now();
            if let Err(e) = ledger.sweep(window, SWEEP_BATCH).await {
                tracing::debug!("shared SMTP budget: sweeping old turns: {e}");
            }
        }
    }
}

/// Ends a shared turn when the connection closes: no longer renewed, and marked closed in the
/// database (if that fails, its lease runs out instead).
struct EndTurn {
    turn: i64,
    held: Arc<Mutex<HashSet<i64>>>,
    ledger: Arc<dyn TurnLedger>,
}

impl Drop for EndTurn {
    fn drop(&mut self) {
        self.held.lock().unwrap().remove(&self.turn);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (ledger, turn) = (self.ledger.clone(), self.turn);
            runtime.spawn(async move {
                if let Err(e) = ledger.end(turn).await {
                    tracing::debug!("shared SMTP budget: ending turn {turn}: {e}");
                }
            });
        }
    }
}

/// A worker's budget: its own limits, then the database's.
pub struct WorkerBudget {
    local: LocalBudget,
    shared: SharedBudget,
}

impl WorkerBudget {
    pub fn new(local: LocalBudget, shared: SharedBudget) -> WorkerBudget {
        WorkerBudget { local, shared }
    }

    /// What `mxwatch worker` uses: `limits` (the politeness settings) applied to this worker
    /// alone and, through `ledger`, to all workers together; turns held as `holder`.
    pub fn for_worker(
        ledger: Arc<dyn TurnLedger>,
        holder: &str,
        limits: &PolitenessLimits,
    ) -> WorkerBudget {
        WorkerBudget::new(
            LocalBudget::new(limits.clone()),
            SharedBudget::new(ledger, holder.to_string(), limits, LEASE, WINDOW),
        )
    }

    pub fn shared(&self) -> &SharedBudget {
        &self.shared
    }

    async fn turn(&self, ip: IpAddr) -> Admission {
        let local = match self.local.admit(ip).await {
            Admission::Go(turn) => turn,
            skip => return skip,
        };
        let left = self.local.limits().max_wait.saturating_sub(local.waited);
        match self.shared.admit_until(ip, Instant::now() + left).await {
            Admission::Go(shared) => Admission::Go(Turn::new(
                local.waited + shared.waited,
                Box::new((local, shared)),
            )),
            // The local turn is dropped here: its slot is free again.
            skip => skip,
        }
    }
}

impl AddressBudget for WorkerBudget {
    fn admit(&self, ip: IpAddr) -> BoxFuture<'_, Admission> {
        Box::pin(self.turn(ip))
    }
}

#[cfg(test)]
mod tests {
    //! The waiting and the fallback, against a scripted ledger on tokio's paused clock (the
    //! ledger's SQL is tested against PostgreSQL in tests/smtp_budget.rs).
    use super::*;
    use mxwatch_store::StoreError;
    use mxwatch_store::smtp_turns::AddressUsage;
    use std::collections::VecDeque;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Answers `begin` from a script (granting once it runs out), and counts what it is asked.
    #[derive(Default)]
    struct Script {
        answers: Mutex<VecDeque<Result<TurnAnswer, String>>>,
        begun: AtomicUsize,
        ended: Mutex<Vec<i64>>,
        renewed: Mutex<Vec<Vec<i64>>>,
    }

    #[async_trait::async_trait]
    impl TurnLedger for Script {
        async fn begin(
            &self,
            _: &str,
            _: &str,
            _: &SharedLimits,
        ) -> mxwatch_store::Result<TurnAnswer> {
            let n = self.begun.fetch_add(1, Ordering::SeqCst) as i64;
            match self.answers.lock().unwrap().pop_front() {
                Some(Ok(answer)) => Ok(answer),
                Some(Err(e)) => Err(StoreError::Url(e)),
                None => Ok(TurnAnswer::Granted(100 + n)),
            }
        }
        async fn renew(&self, turns: &[i64], _: Duration) -> mxwatch_store::Result<u64> {
            self.renewed.lock().unwrap().push(turns.to_vec());
            Ok(turns.len() as u64)
        }
        async fn end(&self, turn: i64) -> mxwatch_store::Result<()> {
            self.ended.lock().unwrap().push(turn);
            Ok(())
        }
        async fn sweep(&self, _: Duration, _: i64) -> mxwatch_store::Result<u64> {
            Ok(0)
        }
        async fn usage(&self, _: &str, _: Duration) -> mxwatch_store::Result<AddressUsage> {
            Ok(AddressUsage::default())
        }
    }

    fn limits(concurrent: usize, per_minute: u32, max_wait: u64) -> PolitenessLimits {
        PolitenessLimits {
            concurrent,
            per_minute,
            max_wait: Duration::from_secs(max_wait),
        }
    }

    fn full(window_free_in: Option<u64>, lease_ends_in: Option<u64>) -> Result<TurnAnswer, String> {
        Ok(TurnAnswer::Full {
            open: 1,
            begun_in_window: 1,
            window_free_in: window_free_in.map(Duration::from_secs),
            lease_ends_in: lease_ends_in.map(Duration::from_secs),
        })
    }

    fn budget(script: &Arc<Script>, limits: &PolitenessLimits) -> WorkerBudget {
        let ledger: Arc<dyn TurnLedger> = script.clone();
        WorkerBudget::for_worker(ledger, "w1", limits)
    }

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 9, 1));

    #[tokio::test(start_paused = true)]
    async fn a_full_minute_waits_for_the_slot_the_database_names() {
        let script = Arc::new(Script::default());
        script
            .answers
            .lock()
            .unwrap()
            .push_back(full(Some(30), None));
        let budget = budget(&script, &limits(2, 6, 120));
        let Admission::Go(turn) = budget.admit(IP).await else {
            panic!("skipped");
        };
        assert_eq!(turn.waited, Duration::from_secs(30));
        assert_eq!(script.begun.load(Ordering::SeqCst), 2);
        assert_eq!(budget.shared().held(), 1);
        drop(turn);
        // The turn is ended in the database by a task of its own: let it run.
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(budget.shared().held(), 0);
        assert_eq!(*script.ended.lock().unwrap(), vec![101]);
    }

    #[tokio::test(start_paused = true)]
    async fn an_open_turn_is_renewed_until_its_connection_closes() {
        let script = Arc::new(Script::default());
        let budget = budget(&script, &limits(2, 6, 120));
        let Admission::Go(turn) = budget.admit(IP).await else {
            panic!("skipped");
        };
        // Held for two leases: renewed every third of one, so never allowed to run out.
        tokio::time::sleep(LEASE * 2).await;
        let renewals = script
            .renewed
            .lock()
            .unwrap()
            .iter()
            .filter(|turns| turns.as_slice() == [100])
            .count();
        assert!(renewals >= 5, "renewed {renewals} times in two leases");
        drop(turn);
        tokio::time::sleep(LEASE).await;
        let renewed = script.renewed.lock().unwrap();
        assert!(
            renewed.last().is_some_and(|turns| turns.is_empty()),
            "a closed turn is still renewed: {renewed:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_minute_slot_beyond_the_wait_skips_and_frees_the_local_turn() {
        let script = Arc::new(Script::default());
        script
            .answers
            .lock()
            .unwrap()
            .push_back(full(Some(50), None));
        // One local connection at once: were the local turn kept, the next admission would wait.
        let budget = budget(&script, &limits(1, 100, 20));
        match budget.admit(IP).await {
            Admission::Skip(reason) => {
                assert!(reason.contains("workers sharing this database"), "{reason}")
            }
            Admission::Go(_) => panic!("admitted past the shared minute"),
        }
        let Admission::Go(turn) = budget.admit(IP).await else {
            panic!("the local turn of the skipped probe was not freed");
        };
        assert_eq!(turn.waited, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn open_connections_elsewhere_are_asked_about_again_until_the_wait_ends() {
        let script = Arc::new(Script::default());
        for _ in 0..100 {
            script
                .answers
                .lock()
                .unwrap()
                .push_back(full(None, Some(25)));
        }
        let budget = budget(&script, &limits(2, 100, 5));
        match budget.admit(IP).await {
            Admission::Skip(reason) => assert!(reason.contains("stayed open"), "{reason}"),
            Admission::Go(_) => panic!("admitted past the shared concurrency limit"),
        }
        // Asked at once, then every POLL until the 5 s wait was over.
        let asked = script.begun.load(Ordering::SeqCst);
        assert_eq!(asked, 1 + (5 / POLL.as_secs()) as usize, "{asked} asks");
    }

    #[tokio::test(start_paused = true)]
    async fn a_database_that_does_not_answer_leaves_the_local_limits_alone_in_charge() {
        let script = Arc::new(Script::default());
        script
            .answers
            .lock()
            .unwrap()
            .push_back(Err("connection refused".into()));
        let budget = budget(&script, &limits(1, 100, 20));
        let Admission::Go(first) = budget.admit(IP).await else {
            panic!("a database failure skipped the probe");
        };
        // The local limit still holds: one at once.
        let second = tokio::spawn(async move {
            let admitted = matches!(budget.admit(IP).await, Admission::Go(_));
            (admitted, budget)
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!second.is_finished(), "two at once past the local limit");
        drop(first);
        let (admitted, budget) = second.await.unwrap();
        assert!(admitted);
        // Not asked again while resting: one failed ask, then nothing until DATABASE_RETRY.
        assert_eq!(script.begun.load(Ordering::SeqCst), 1);
        tokio::time::sleep(DATABASE_RETRY).await;
        let Admission::Go(_turn) = budget.admit(IP).await else {
            panic!("skipped");
        };
        assert_eq!(script.begun.load(Ordering::SeqCst), 2);
        assert_eq!(budget.shared().held(), 1);
    }
}
