//! What every handler shares: the store, the watcher, the metrics handle, the login limiter.

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use metrics_exporter_prometheus::PrometheusHandle;
use mxwatch_engine::monitor::Watcher;
use mxwatch_store::Store;
use mxwatch_store::queue::WorkQueue;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub store: Arc<dyn Store>,
    /// The watcher whose inventory the pages show and whose schedule "check now" moves.
    pub watcher: Arc<Watcher>,
    /// Set while the watcher's loop runs (`/readyz`).
    pub watcher_running: Arc<AtomicBool>,
    pub metrics: Option<PrometheusHandle>,
    /// Login attempts per client address.
    pub login_limiter: DefaultKeyedRateLimiter<IpAddr>,
    /// Mark the session cookie `Secure` (always, except in tests that speak plain HTTP to a
    /// non-loopback name; browsers accept Secure cookies from http://127.0.0.1 and localhost).
    pub secure_cookies: bool,
    /// The `mxwatch worker`s' queue, on PostgreSQL (`/workers`); `None` on SQLite.
    pub work_queue: Option<Arc<dyn WorkQueue>>,
}

/// Login attempts allowed per client address: a burst of 5, then one every 12 seconds.
pub fn login_quota() -> Quota {
    Quota::per_minute(NonZeroU32::new(5).expect("non-zero"))
}

impl AppState {
    pub fn new(
        store: Arc<dyn Store>,
        watcher: Arc<Watcher>,
        watcher_running: Arc<AtomicBool>,
        metrics: Option<PrometheusHandle>,
    ) -> AppState {
        AppState(Arc::new(Inner {
            store,
            watcher,
            watcher_running,
            metrics,
            login_limiter: RateLimiter::keyed(login_quota()),
            secure_cookies: true,
            work_queue: None,
        }))
    }

    /// The same state with the workers' queue of a PostgreSQL database (`/workers` lists its
    /// workers). Call while building the state, before it is shared.
    pub fn with_work_queue(mut self, queue: Arc<dyn WorkQueue>) -> AppState {
        Arc::get_mut(&mut self.0)
            .expect("the work queue is set before the state is shared")
            .work_queue = Some(queue);
        self
    }

    pub fn watcher_alive(&self) -> bool {
        self.watcher_running.load(Ordering::Relaxed)
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
