//! Politeness towards each MX address: at most N SMTP connections to it at once and at most M
//! begun in any sixty seconds, however many domains point at it.
//!
//! A probe asks an [`AddressBudget`] for its turn before it connects. This process's budget is
//! [`LocalBudget`]; a deployment where several processes probe the same internet (the
//! PostgreSQL worker queue) can put a shared budget behind the same trait. A turn that would
//! come later than the wait allowed is refused with a reason, and the collector records the
//! probe as skipped for politeness, never as a failure of the host.

use futures_util::future::BoxFuture;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// The per-address limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolitenessLimits {
    /// SMTP connections to one address open at once.
    pub concurrent: usize,
    /// SMTP connections to one address begun within any sixty seconds.
    pub per_minute: u32,
    /// The longest a probe waits for its turn before it is skipped.
    pub max_wait: Duration,
}

impl Default for PolitenessLimits {
    /// Two at once and six a minute: less than one ordinary sending MTA retrying a queue, which
    /// a large provider's rate limits (hundreds of connections a minute per client) never see.
    fn default() -> Self {
        PolitenessLimits {
            concurrent: 2,
            per_minute: 6,
            max_wait: Duration::from_secs(120),
        }
    }
}

/// The window the per-minute limit counts over.
pub const WINDOW: Duration = Duration::from_secs(60);

/// The answer to "may I connect to this address now?".
pub enum Admission {
    /// Connect; hold the turn for as long as the connection is open.
    Go(Turn),
    /// Do not connect: why (said to the user as the reason the probe was skipped).
    Skip(String),
}

/// A granted turn: how long it was waited for, and whatever must be held until the connection
/// closes (dropping it frees the slot).
pub struct Turn {
    pub waited: Duration,
    _release: Box<dyn Send + Sync>,
}

impl Turn {
    pub fn new(waited: Duration, release: Box<dyn Send + Sync>) -> Turn {
        Turn {
            waited,
            _release: release,
        }
    }
}

/// Who decides when an MX address may be connected to.
pub trait AddressBudget: Send + Sync {
    /// Waits for a turn to connect to `ip` (at most the budget's own wait limit).
    fn admit(&self, ip: IpAddr) -> BoxFuture<'_, Admission>;
}

/// The budget of one process: per-address counters in memory.
pub struct LocalBudget {
    limits: PolitenessLimits,
    addresses: Arc<Mutex<HashMap<IpAddr, AddressState>>>,
    /// Sweep idle addresses when the table reaches this size (doubles with what stays).
    sweep_at: Mutex<usize>,
}

#[derive(Default)]
struct AddressState {
    open: usize,
    /// When the connections of the last sixty seconds began, oldest first (at most `per_minute`).
    begun: VecDeque<Instant>,
    freed: Arc<Notify>,
}

impl AddressState {
    fn forget_before(&mut self, now: Instant) {
        while self.begun.front().is_some_and(|t| *t + WINDOW <= now) {
            self.begun.pop_front();
        }
    }

    fn idle(&self) -> bool {
        self.open == 0 && self.begun.is_empty()
    }
}

const FIRST_SWEEP: usize = 1024;

impl LocalBudget {
    pub fn new(limits: PolitenessLimits) -> LocalBudget {
        LocalBudget {
            limits: PolitenessLimits {
                concurrent: limits.concurrent.max(1),
                per_minute: limits.per_minute.max(1),
                ..limits
            },
            addresses: Arc::default(),
            sweep_at: Mutex::new(FIRST_SWEEP),
        }
    }

    pub fn limits(&self) -> &PolitenessLimits {
        &self.limits
    }

    /// Addresses with a connection open or begun within the window (the rest are forgotten).
    pub fn tracked(&self) -> usize {
        self.addresses.lock().unwrap().len()
    }

    async fn wait_for_turn(&self, ip: IpAddr) -> Admission {
        let started = Instant::now();
        let deadline = started + self.limits.max_wait;
        loop {
            let now = Instant::now();
            let freed;
            let next_minute_slot;
            {
                let mut addresses = self.addresses.lock().unwrap();
                self.sweep(&mut addresses, now);
                let state = addresses.entry(ip).or_default();
                state.forget_before(now);
                let per_minute = self.limits.per_minute as usize;
                if state.open < self.limits.concurrent && state.begun.len() < per_minute {
                    state.open += 1;
                    state.begun.push_back(now);
                    let release = Release {
                        ip,
                        addresses: self.addresses.clone(),
                    };
                    return Admission::Go(Turn::new(now - started, Box::new(release)));
                }
                next_minute_slot =
                    (state.begun.len() >= per_minute).then(|| state.begun[0] + WINDOW);
                if let Some(at) = next_minute_slot
                    && at > deadline
                {
                    return Admission::Skip(format!(
                        "{per_minute} SMTP connections a minute to {ip} already begun; the next turn was more than {} s away",
                        self.limits.max_wait.as_secs()
                    ));
                }
                freed = state.freed.clone();
            }
            if now >= deadline {
                return Admission::Skip(format!(
                    "{} SMTP connections to {ip} stayed open for the {} s a probe may wait",
                    self.limits.concurrent,
                    self.limits.max_wait.as_secs()
                ));
            }
            // Woken by a connection closing, by the oldest start leaving the window, or the deadline.
            let wake_at = next_minute_slot.unwrap_or(deadline).min(deadline);
            let notified = freed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            // Re-check after registering: a release between the unlock and `enable` is not lost,
            // because the loop looks at the counters again whenever it wakes.
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep_until(wake_at) => {}
            }
        }
    }

    /// Forgets idle addresses once the table has grown, so a scan of a million MX hosts keeps
    /// only the ones touched in the last minute.
    fn sweep(&self, addresses: &mut HashMap<IpAddr, AddressState>, now: Instant) {
        let mut sweep_at = self.sweep_at.lock().unwrap();
        if addresses.len() < *sweep_at {
            return;
        }
        addresses.retain(|_, state| {
            state.forget_before(now);
            !state.idle()
        });
        *sweep_at = (addresses.len() * 2).max(FIRST_SWEEP);
    }
}

impl AddressBudget for LocalBudget {
    fn admit(&self, ip: IpAddr) -> BoxFuture<'_, Admission> {
        Box::pin(self.wait_for_turn(ip))
    }
}

/// Frees the connection slot when the probe is done with the address.
struct Release {
    ip: IpAddr,
    addresses: Arc<Mutex<HashMap<IpAddr, AddressState>>>,
}

impl Drop for Release {
    fn drop(&mut self) {
        let mut addresses = self.addresses.lock().unwrap();
        if let Some(state) = addresses.get_mut(&self.ip) {
            state.open -= 1;
            state.freed.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 9, last])
    }

    fn go(admission: Admission) -> Turn {
        match admission {
            Admission::Go(turn) => turn,
            Admission::Skip(reason) => panic!("skipped: {reason}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_minute_skips_when_the_next_turn_is_beyond_the_wait() {
        let budget = LocalBudget::new(PolitenessLimits {
            concurrent: 5,
            per_minute: 2,
            max_wait: Duration::from_secs(10),
        });
        drop(go(budget.admit(ip(1)).await));
        drop(go(budget.admit(ip(1)).await));
        match budget.admit(ip(1)).await {
            Admission::Skip(reason) => assert!(reason.contains("a minute"), "{reason}"),
            Admission::Go(_) => panic!("a third connection within the minute"),
        }
        // Another address has its own budget.
        drop(go(budget.admit(ip(2)).await));
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_minute_delays_when_the_wait_allows() {
        let budget = LocalBudget::new(PolitenessLimits {
            concurrent: 5,
            per_minute: 1,
            max_wait: Duration::from_secs(120),
        });
        drop(go(budget.admit(ip(1)).await));
        let second = go(budget.admit(ip(1)).await);
        // The paused clock advanced exactly to the slot's release.
        assert_eq!(second.waited, WINDOW);
    }

    #[tokio::test(start_paused = true)]
    async fn a_closed_connection_lets_the_next_one_in_and_idle_addresses_are_forgotten() {
        let budget = Arc::new(LocalBudget::new(PolitenessLimits {
            concurrent: 1,
            per_minute: 100,
            max_wait: Duration::from_secs(30),
        }));
        let first = go(budget.admit(ip(1)).await);
        let waiting = tokio::spawn({
            let budget = budget.clone();
            async move { matches!(budget.admit(ip(1)).await, Admission::Go(_)) }
        });
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(
            !waiting.is_finished(),
            "a second connection while one is open"
        );
        drop(first);
        assert!(waiting.await.unwrap());
        // With nobody waiting past the window, a sweep forgets the address.
        tokio::time::sleep(WINDOW * 2).await;
        for last in 0..=255u8 {
            for third in 0..5u8 {
                drop(go(budget.admit(IpAddr::from([127, 1, third, last])).await));
            }
            tokio::time::sleep(WINDOW / 100).await;
        }
        assert!(
            budget.tracked() <= FIRST_SWEEP,
            "{} tracked",
            budget.tracked()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_open_connection_past_the_wait_skips() {
        let budget = LocalBudget::new(PolitenessLimits {
            concurrent: 1,
            per_minute: 100,
            max_wait: Duration::from_secs(3),
        });
        let _held = go(budget.admit(ip(1)).await);
        match budget.admit(ip(1)).await {
            Admission::Skip(reason) => assert!(reason.contains("stayed open"), "{reason}"),
            Admission::Go(_) => panic!("over the concurrency limit"),
        }
    }
}
