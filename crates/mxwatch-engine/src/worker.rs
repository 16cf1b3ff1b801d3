//! `mxwatch worker`: takes lines of queued scan jobs from the shared queue
//! ([`mxwatch_store::queue`]), audits them with the same engine as `scan`, and writes each
//! result once.
//!
//! Three tasks share one worker:
//! - the **taker** leases as many lines as there are free audit slots (`concurrency`) and starts
//!   an audit for each;
//! - the **writer** gathers finished results and writes them in batches (one transaction each);
//! - the **heartbeat** extends this worker's leases every third of the lease length, so a
//!   worker that dies (even SIGKILL) stops extending them and its lines go to another worker
//!   once the lease runs out.
//!
//! A database outage pauses work rather than ending it: every queue operation that fails is
//! logged once ("database unreachable … work paused"), retried with a growing pause, and the
//! worker says when it is back. Results finished during an outage are kept in memory and
//! written when the database returns; a result whose lease ran out meanwhile may have been
//! written by another worker, and then the late one is dropped by the queue (never written
//! twice). Nothing is marked missing for want of a database.

use crate::audit::Auditor;
use crate::error::EngineError;
use futures_util::FutureExt;
use mxwatch_core::parse_domain_input;
use mxwatch_probe::Collector;
use mxwatch_store::queue::{
    Completion, ItemResult, LeasedItem, MAX_ATTEMPTS, WorkQueue, WorkerIdentity,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc};

/// How a worker runs.
#[derive(Clone, Debug)]
pub struct WorkerOptions {
    /// Domains audited at once.
    pub concurrency: usize,
    /// How long a lease lasts without a heartbeat: after a worker dies, its lines wait this
    /// long before another worker takes them.
    pub lease: Duration,
    /// Stop when no job has a line left (for batch use and tests); otherwise wait for work.
    pub exit_when_idle: bool,
    /// How often an idle worker asks for work.
    pub poll: Duration,
}

impl Default for WorkerOptions {
    fn default() -> WorkerOptions {
        WorkerOptions {
            concurrency: 64,
            lease: Duration::from_secs(60),
            exit_when_idle: false,
            poll: Duration::from_secs(1),
        }
    }
}

/// What a worker did, when it stops.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorkerStats {
    /// Lines audited (or given up) by this worker.
    pub finished: u64,
    /// Of those, results the queue took (the rest were already written by another worker).
    pub written: u64,
}

/// Results written per transaction at most.
const WRITE_BATCH: usize = 200;
/// How long a finished result may wait for its batch to fill.
const WRITE_DELAY: Duration = Duration::from_millis(250);
/// The longest pause between tries while the database is unreachable.
const MAX_PAUSE: Duration = Duration::from_secs(30);
/// A collector's caches are dropped after this many audits: a worker runs for weeks, and an
/// answer cached on Monday should not decide Friday's audit.
const AUDITS_PER_COLLECTOR: u64 = 10_000;

/// Tells the log once when the database goes away and once when it is back, and paces the
/// retries in between (1 s doubling to [`MAX_PAUSE`]). The worker's tasks and `scan --job`'s
/// reader wait out an outage with it.
pub struct Outage {
    what: &'static str,
    down: bool,
    pause: Duration,
}

impl Outage {
    pub fn new(what: &'static str) -> Outage {
        Outage {
            what,
            down: false,
            pause: Duration::from_secs(1),
        }
    }

    pub fn ok(&mut self) {
        if self.down {
            tracing::warn!("database reachable again: {} resumed", self.what);
        }
        self.down = false;
        self.pause = Duration::from_secs(1);
    }

    /// Logs the failure (once per outage) and sleeps before the next try.
    pub async fn failed(&mut self, error: &mxwatch_store::StoreError) {
        if !self.down {
            tracing::error!(
                "database unreachable: {} paused, retrying until it is back ({error})",
                self.what
            );
        } else {
            tracing::debug!("{} still paused: {error}", self.what);
        }
        self.down = true;
        tokio::time::sleep(self.pause).await;
        self.pause = (self.pause * 2).min(MAX_PAUSE);
    }
}

/// Runs a worker until `shutdown` resolves (or, with [`WorkerOptions::exit_when_idle`], until no
/// job has a line left), then finishes the audits it holds, writes them and frees its leases.
pub async fn run<Q>(
    queue: Arc<Q>,
    auditor: Auditor,
    identity: WorkerIdentity,
    options: WorkerOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<WorkerStats, EngineError>
where
    Q: WorkQueue + 'static,
{
    let concurrency = options.concurrency.max(1);
    let me: Arc<str> = identity.id.clone().into();
    let mut outage = Outage::new("registering this worker");
    loop {
        match queue.register_worker(&identity).await {
            Ok(()) => break,
            Err(e) => outage.failed(&e).await,
        }
    }
    outage.ok();
    tracing::info!(worker = %me, concurrency, lease = ?options.lease, "worker started");

    let stopping = Arc::new(AtomicBool::new(false));
    let heartbeat = tokio::spawn(heartbeat(
        queue.clone(),
        me.clone(),
        options.lease,
        stopping.clone(),
    ));
    let (results, pending) = mpsc::unbounded_channel::<Completion>();
    let in_writer = Arc::new(AtomicU64::new(0));
    let writer = tokio::spawn(writer(
        queue.clone(),
        me.clone(),
        pending,
        in_writer.clone(),
    ));

    let slots = Arc::new(Semaphore::new(concurrency));
    let mut taking = Outage::new("taking work");
    let mut collector = auditor.collector();
    let mut audits_on_collector = 0u64;
    let mut finished = 0u64;
    let mut shutdown = std::pin::pin!(shutdown.fuse());
    loop {
        // Wait for a free slot (or the end).
        let first = tokio::select! {
            permit = slots.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let free = slots.available_permits() + 1;
        let items = match queue.take(&me, free, options.lease).await {
            Ok(items) => {
                taking.ok();
                items
            }
            Err(e) => {
                drop(first);
                tokio::select! {
                    () = taking.failed(&e) => continue,
                    () = &mut shutdown => break,
                }
            }
        };
        if items.is_empty() {
            drop(first);
            let idle =
                slots.available_permits() == concurrency && in_writer.load(Ordering::SeqCst) == 0;
            if options.exit_when_idle && idle {
                match queue.has_open_items().await {
                    Ok(false) => break,
                    Ok(true) => {}
                    Err(e) => {
                        taking.failed(&e).await;
                        continue;
                    }
                }
            }
            tokio::select! {
                () = tokio::time::sleep(options.poll) => continue,
                () = &mut shutdown => break,
            }
        }
        let mut first = Some(first);
        for item in items {
            let permit = match first.take() {
                Some(permit) => permit,
                // Only this loop takes slots, and `free` were free: this does not wait.
                None => slots
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed"),
            };
            if audits_on_collector >= AUDITS_PER_COLLECTOR {
                collector = auditor.collector();
                audits_on_collector = 0;
            }
            audits_on_collector += 1;
            finished += 1;
            in_writer.fetch_add(1, Ordering::SeqCst);
            let results = results.clone();
            let collector = collector.clone();
            let auditor = auditor.clone();
            tokio::spawn(async move {
                let result = audit(&auditor, &collector, &item).await;
                let _ = results.send(Completion {
                    job: item.job,
                    line: item.line,
                    result,
                });
                drop(permit);
            });
        }
    }

    // Finish what is held: every slot back means every audit has handed in its result.
    tracing::info!(worker = %me, "stopping: finishing the audits in hand");
    let _all = slots
        .acquire_many(concurrency as u32)
        .await
        .expect("the semaphore is never closed");
    drop(results);
    let written = writer.await.unwrap_or_default();
    stopping.store(true, Ordering::SeqCst);
    heartbeat.abort();
    let mut outage = Outage::new("stopping this worker");
    loop {
        match queue.stop_worker(&me).await {
            Ok(()) => break,
            Err(e) => outage.failed(&e).await,
        }
    }
    tracing::info!(worker = %me, finished, written, "worker stopped");
    Ok(WorkerStats { finished, written })
}

/// One leased line audited, or given up when its leases kept running out.
async fn audit(auditor: &Auditor, collector: &Collector, item: &LeasedItem) -> ItemResult {
    if item.attempts > MAX_ATTEMPTS {
        tracing::warn!(
            domain = %item.domain,
            attempts = item.attempts,
            "given up: the lease of this line ran out {MAX_ATTEMPTS} times",
        );
        return ItemResult::GaveUp {
            domain: item.domain.clone(),
            attempts: item.attempts - 1,
        };
    }
    match parse_domain_input(&item.domain) {
        Ok(input) => {
            let ctx = auditor.check_context();
            let report =
                Auditor::audit_with(collector, &input.domain, &[], &ctx, item.notes.clone()).await;
            ItemResult::Audited {
                report: Box::new(report),
            }
        }
        // Only a queue written by something other than `scan --enqueue` holds a bad name.
        Err(e) => ItemResult::Malformed {
            text: mxwatch_core::sanitize::for_terminal(&item.domain),
            error: e.to_string(),
        },
    }
}

/// Writes results in batches until the channel closes (every audit done); a batch that cannot
/// be written is kept and tried again. Returns how many results the queue took.
async fn writer<Q: WorkQueue>(
    queue: Arc<Q>,
    me: Arc<str>,
    mut pending: mpsc::UnboundedReceiver<Completion>,
    in_writer: Arc<AtomicU64>,
) -> u64 {
    let mut written = 0;
    let mut outage = Outage::new("writing results");
    let mut open = true;
    while open {
        let mut batch = Vec::new();
        match pending.recv().await {
            Some(done) => batch.push(done),
            None => break,
        }
        let deadline = tokio::time::Instant::now() + WRITE_DELAY;
        while batch.len() < WRITE_BATCH {
            match tokio::time::timeout_at(deadline, pending.recv()).await {
                Ok(Some(done)) => batch.push(done),
                Ok(None) => {
                    open = false;
                    break;
                }
                Err(_) => break,
            }
        }
        loop {
            match queue.complete(&me, &batch).await {
                Ok(n) => {
                    outage.ok();
                    written += n;
                    in_writer.fetch_sub(batch.len() as u64, Ordering::SeqCst);
                    break;
                }
                Err(e) => outage.failed(&e).await,
            }
        }
    }
    written
}

/// Extends this worker's leases every third of their length, until the worker stops.
async fn heartbeat<Q: WorkQueue>(
    queue: Arc<Q>,
    me: Arc<str>,
    lease: Duration,
    stopping: Arc<AtomicBool>,
) {
    let mut outage = Outage::new("the heartbeat");
    let mut tick = tokio::time::interval(lease / 3);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !stopping.load(Ordering::SeqCst) {
        tick.tick().await;
        match queue.heartbeat(&me, lease).await {
            Ok(_) => outage.ok(),
            Err(e) => outage.failed(&e).await,
        }
    }
}

/// A worker's identity: host, process ID and start time, unique across the machines sharing
/// a database.
pub fn identity() -> WorkerIdentity {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    let pid = std::process::id();
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    WorkerIdentity {
        id: format!("{host}-{pid}-{started:x}"),
        host,
        pid,
    }
}

/// The signal a worker stops on (SIGTERM, SIGINT).
pub async fn shutdown_signal() {
    crate::monitor::shutdown_signal().await
}
