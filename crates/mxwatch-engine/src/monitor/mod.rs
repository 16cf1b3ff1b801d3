//! The monitor: the schedule, the cycles, the alert queue, shutdown.
//!
//! Each cycle of a domain (observe, compare with the baseline, confirm with a
//! second look, record) is written in one transaction, so a watch killed at any
//! moment loses nothing it had recorded and leaves nothing half-written; on the
//! next start the domain is simply due again.

mod cycle;
mod shared;

pub use cycle::{CycleOutcome, Entry};

use crate::alert::{Message, backoff};
use crate::audit::{Auditor, Target, now_unix};
use crate::config::{Config, DomainConfig, Maintenance};
use crate::error::EngineError;
use futures_util::StreamExt;
use mxwatch_store::{SharedSchedule, Store, StoreUrl};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Longest sleep between looks at the schedule (and at the alert queue).
const TICK: Duration = Duration::from_secs(5);
/// Observations are pruned this often.
const PRUNE_EVERY: i64 = 3600;

/// A running inventory: its configuration, its store, and how it audits.
pub struct Watcher {
    pub store: Arc<dyn Store>,
    /// The configuration file as loaded; the domains watched are [`Watcher::inventory`].
    pub config: Config,
    /// The file's inventory merged with the store's (`crate::inventory`), re-read each tick so
    /// that edits made in `mxwatch serve` reach the schedule without a restart.
    inventory: std::sync::RwLock<Arc<Inventory>>,
    auditor: Auditor,
    confirm_resolver: SocketAddr,
    http: reqwest::Client,
    /// One alert delivery round at a time.
    delivery: tokio::sync::Mutex<()>,
    /// When the loop last went round (Unix seconds; 0: not started): `serve`'s `/readyz`.
    pub heartbeat: std::sync::atomic::AtomicI64,
    /// The schedule has been given the inventory once.
    scheduled: std::sync::atomic::AtomicBool,
    /// Set for a worker on the shared schedule ([`Watcher::sharing`]): due domains are taken
    /// with leases and alerts with claims, beside other workers.
    shared: Option<Participant>,
}

/// A worker's part in the shared schedule (`mxwatch worker --config`, PostgreSQL).
pub struct Participant {
    pub schedule: Arc<dyn SharedSchedule>,
    /// The worker's ID (the workers table's, [`crate::worker::identity`]).
    pub worker: String,
    /// How long a lease or a claim lasts without a heartbeat.
    pub lease: Duration,
}

/// The domains a watcher runs now and the maintenance windows that apply to them.
pub struct Inventory {
    pub entries: Vec<Entry>,
    pub maintenance: Vec<Maintenance>,
}

/// What one delivery round did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DeliveryRound {
    pub delivered: usize,
    /// Kept queued, to be retried.
    pub retrying: usize,
    /// Given up: a permanent failure.
    pub given_up: usize,
}

/// Held while a watcher runs: a second watcher on the same store would record and alert every
/// change twice. SQLite: a lock file beside the database. PostgreSQL: a session advisory lock on
/// a connection of its own (several hosts reach one database, so no file can be shared).
pub struct StoreLock {
    _file: Option<std::fs::File>,
    _postgres: Option<mxwatch_store::WatcherLock>,
}

impl StoreLock {
    pub async fn acquire(url: &StoreUrl) -> Result<StoreLock, EngineError> {
        let path = match url {
            StoreUrl::Sqlite(_) => url.lock_path().expect("an SQLite store has a lock file"),
            StoreUrl::Postgres(postgres) => {
                return match mxwatch_store::try_lock_watcher(postgres).await {
                    Ok(Some(lock)) => Ok(StoreLock {
                        _file: None,
                        _postgres: Some(lock),
                    }),
                    Ok(None) => Err(EngineError::Settings(format!(
                        "another `mxwatch watch` or `serve`, or `mxwatch worker --config`s, are running the \
                         inventory of {url} (they hold the database's watcher lock); beside workers, \
                         `mxwatch serve --no-watch` serves the dashboard"
                    ))),
                    Err(e) => Err(EngineError::Operational(format!("opening {url}: {e}"))),
                };
            }
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| EngineError::Operational(format!("opening {}: {e}", path.display())))?;
        if file.try_lock().is_err() {
            return Err(EngineError::Settings(format!(
                "another `mxwatch watch` is using {url} (lock {})",
                path.display()
            )));
        }
        Ok(StoreLock {
            _file: Some(file),
            _postgres: None,
        })
    }
}

impl Watcher {
    /// A watcher of `config`'s inventory on `store`. Settings that name files (CA, trust
    /// anchor) are read here; a domain that does not parse is an error before any traffic.
    pub fn new(config: Config, store: Arc<dyn Store>) -> Result<Watcher, EngineError> {
        let d = &config.defaults;
        let resolver = match d.monitor.resolver {
            Some(addr) => addr,
            None => crate::resolver::choose(None)?,
        };
        let target = Target::new(resolver, d.monitor.lab);
        Self::with_target(config, store, target)
    }

    /// A watcher auditing through `target` (`serve --demo`: the built-in lab's ports and keys)
    /// instead of the configuration's resolver.
    pub fn with_target(
        config: Config,
        store: Arc<dyn Store>,
        target: Target,
    ) -> Result<Watcher, EngineError> {
        let d = &config.defaults;
        let resolver = target.resolver;
        let auditor = Auditor::new(target, d.audit.clone())?;
        let entries = entries_of(&config, &config.domains)?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(15))
            .user_agent(concat!("mxwatch/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| EngineError::Operational(format!("the HTTP client: {e}")))?;
        Ok(Watcher {
            confirm_resolver: d.monitor.confirm_resolver.unwrap_or(resolver),
            store,
            inventory: std::sync::RwLock::new(Arc::new(Inventory {
                entries,
                maintenance: config.maintenance.clone(),
            })),
            config,
            auditor,
            http,
            delivery: tokio::sync::Mutex::new(()),
            heartbeat: std::sync::atomic::AtomicI64::new(0),
            scheduled: std::sync::atomic::AtomicBool::new(false),
            shared: None,
        })
    }

    /// This watcher as a worker on the shared schedule: [`Watcher::run_shared`] takes due
    /// domains with leases beside other workers, and alerts are sent by whoever claims them.
    /// The same watcher, its audits asking `budget` for each SMTP connection's turn (a worker's
    /// budget, shared with its other audits and, through the database, with the other workers).
    pub fn with_smtp_budget(
        mut self,
        budget: Arc<dyn mxwatch_probe::smtp::AddressBudget>,
    ) -> Watcher {
        self.auditor = self.auditor.with_smtp_budget(budget);
        self
    }

    pub fn sharing(mut self, participant: Participant) -> Watcher {
        self.shared = Some(participant);
        self
    }

    /// The lease a cycle is written under (a worker's), or none (`watch`, `serve`).
    fn lease_holder(&self) -> Option<&str> {
        self.shared.as_ref().map(|p| p.worker.as_str())
    }

    /// The inventory as it is now (the file's merged with the store's).
    pub fn inventory(&self) -> Arc<Inventory> {
        self.inventory
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The maintenance window covering `domain` at `now` (the file's and the store's).
    pub fn maintenance_at(&self, domain: &DomainConfig, now: i64) -> Option<String> {
        crate::config::maintenance_covering(&self.inventory().maintenance, domain, now)
    }

    /// Reads the store-held inventory, merges it with the file's and puts the result on the
    /// schedule (new domains due now, removed ones taken off; their history stays).
    pub async fn refresh_inventory(&self) -> Result<Arc<Inventory>, EngineError> {
        let stored = self.store.inventory().await?;
        let windows = self.store.maintenance_windows().await?;
        let (domains, maintenance) = crate::inventory::merge(&self.config, &stored, &windows);
        let entries = entries_of(&self.config, &domains)?;
        let names: Vec<String> = entries.iter().map(|e| e.domain.ascii.clone()).collect();
        let before: Vec<String> = self
            .inventory()
            .entries
            .iter()
            .map(|e| e.domain.ascii.clone())
            .collect();
        let fresh = Arc::new(Inventory {
            entries,
            maintenance,
        });
        *self.inventory.write().unwrap_or_else(|e| e.into_inner()) = fresh.clone();
        if names != before
            || !self
                .scheduled
                .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            self.store.ensure_domains(&names).await?;
            let retired = self.store.retire_others(&names).await?;
            if retired > 0 {
                tracing::info!(
                    retired,
                    "domains no longer in the inventory taken off the schedule"
                );
            }
        }
        Ok(fresh)
    }

    /// The inventory re-read from the store; on a store error (waited out, not fatal: the
    /// daemon keeps its place) the last one.
    async fn inventory_now(&self) -> Arc<Inventory> {
        match self.refresh_inventory().await {
            Ok(inventory) => inventory,
            Err(e) => {
                tracing::error!("reading the inventory: {e}; keeping the last one");
                self.inventory()
            }
        }
    }

    /// Runs until SIGTERM/SIGINT (or, with `once`, after one cycle of every domain).
    pub async fn run(&self, once: bool) -> Result<(), EngineError> {
        self.run_until(once, shutdown_signal()).await
    }

    /// Runs until `shutdown` completes (or, with `once`, after one cycle of every domain).
    /// Cycles in flight at shutdown are abandoned: each is one transaction, so nothing is
    /// half-written.
    pub async fn run_until(
        &self,
        once: bool,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), EngineError> {
        self.refresh_inventory().await?;
        let mut shutdown = std::pin::pin!(shutdown);
        let mut last_prune = 0;
        loop {
            self.heartbeat
                .store(now_unix(), std::sync::atomic::Ordering::Relaxed);
            let now = now_unix();
            let inventory = self.inventory_now().await;
            let due: Vec<&Entry> = if once {
                inventory.entries.iter().collect()
            } else {
                // A store error is waited out, not fatal: the daemon keeps its place.
                let due = match self.store.due_domains(now, 100_000).await {
                    Ok(due) => due,
                    Err(e) => {
                        tracing::error!("reading the schedule: {e}; retrying");
                        vec![]
                    }
                };
                inventory
                    .entries
                    .iter()
                    .filter(|e| due.contains(&e.domain.ascii))
                    .collect()
            };
            if !due.is_empty() {
                tokio::select! {
                    () = self.run_cycles(due) => {}
                    () = &mut shutdown => {
                        tracing::info!("shutting down: cycles in flight are abandoned, nothing half-written");
                        return Ok(());
                    }
                }
            }
            if let Err(e) = self.deliver_due().await {
                tracing::error!("delivering alerts: {e:#}");
            }
            self.prune_if_due(now, &mut last_prune).await;
            if once {
                return Ok(());
            }
            let wait = self.until_next_due(now).await;
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = &mut shutdown => {
                    tracing::info!("shutting down");
                    return Ok(());
                }
            }
        }
    }

    /// How long to sleep before the schedule's next due domain (at least 1 s, at most [`TICK`]).
    async fn until_next_due(&self, now: i64) -> Duration {
        let next = self
            .store
            .next_due()
            .await
            .ok()
            .flatten()
            .unwrap_or(now + 60);
        Duration::from_secs(u64::try_from((next - now_unix()).max(1)).unwrap_or(1)).min(TICK)
    }

    /// Runs the cycles of `due` a few at a time, with one collector for the batch (a provider
    /// shared by many domains is asked once); alerts go out as cycles finish.
    async fn run_cycles(&self, due: Vec<&Entry>) {
        tracing::info!(domains = due.len(), "checking");
        let shared = self.auditor.collector();
        let shared = &shared;
        futures_util::stream::iter(due)
            .for_each_concurrent(
                self.config.defaults.monitor.concurrency.max(1),
                |entry| async move {
                    if let Err(e) = self.cycle(entry, shared).await {
                        self.cycle_failed(entry, e).await;
                    }
                    // Alerts go out as cycles finish, not when the whole batch is done.
                    if let Err(e) = self.deliver_due().await {
                        tracing::error!("delivering alerts: {e}");
                    }
                },
            )
            .await;
    }

    /// A cycle that failed is tried again later (a backoff, not every second); on the shared
    /// schedule its lease is given back with it. One whose lease ran out was taken over by
    /// another worker: nothing of it was written, and nothing is left to do.
    async fn cycle_failed(&self, entry: &Entry, error: EngineError) {
        let name = &entry.domain.ascii;
        if let EngineError::Store(mxwatch_store::StoreError::LeaseLost(_)) = error {
            tracing::warn!(domain = %name, "{error}");
            return;
        }
        tracing::error!(domain = %name, "cycle failed: {error:#}");
        let later = now_unix() + entry.every.as_secs().clamp(60, 3600) as i64;
        let postponed = match &self.shared {
            Some(shared) => {
                shared
                    .schedule
                    .release(&shared.worker, name, Some(later))
                    .await
            }
            None => self.store.postpone(name, later).await,
        };
        if let Err(e) = postponed {
            tracing::error!(domain = %name, "postponing: {e}");
        }
    }

    /// Prunes old observations once per [`PRUNE_EVERY`].
    async fn prune_if_due(&self, now: i64, last_prune: &mut i64) {
        if now - *last_prune < PRUNE_EVERY {
            return;
        }
        match self
            .store
            .prune(now - self.config.defaults.monitor.retention.as_secs() as i64)
            .await
        {
            Ok(0) => {}
            Ok(pruned) => tracing::info!(pruned, "old observations pruned"),
            Err(e) => tracing::error!("pruning: {e}"),
        }
        *last_prune = now;
    }

    /// Sends every queued alert that is due. A transient failure stays queued with backoff; a
    /// permanent one is given up, with its reason kept in the store and logged as an error.
    /// One delivery round at a time, so two finishing cycles never send the same alert twice.
    pub async fn deliver_due(&self) -> Result<DeliveryRound, EngineError> {
        let _round = self.delivery.lock().await;
        let mut round = DeliveryRound::default();
        let now = now_unix();
        // On the shared schedule a worker sends only the deliveries it claimed, so two workers
        // never send the same one; `watch` holds the whole database and sends what is due.
        let due = match &self.shared {
            Some(shared) => {
                shared
                    .schedule
                    .claim_alerts(&shared.worker, now, 100, shared.lease)
                    .await?
            }
            None => self.store.due_alerts(now, 1000).await?,
        };
        for pending in due {
            let Some(sink) = self
                .config
                .alerts
                .iter()
                .find(|a| a.sink_name() == pending.sink)
            else {
                // Renamed or removed from the configuration: nowhere to send it, ever.
                let why = "no such sink in the configuration";
                self.store.alert_failed(pending.id, why, now, None).await?;
                tracing::error!(sink = %pending.sink, "alert #{} given up: {why}", pending.alert.id);
                round.given_up += 1;
                continue;
            };
            let message = Message::new(pending.alert);
            match sink.sink.deliver(&self.http, &message).await {
                Ok(()) => {
                    self.store.alert_delivered(pending.id, now_unix()).await?;
                    metrics::counter!("mxwatch_alert_deliveries_total", "outcome" => "delivered")
                        .increment(1);
                    tracing::info!(sink = %pending.sink, "alert sent: {}", message.headline());
                    round.delivered += 1;
                }
                Err(e) if e.is_permanent() => {
                    self.store
                        .alert_failed(pending.id, &e.to_string(), now_unix(), None)
                        .await?;
                    tracing::error!(sink = %pending.sink, "alert given up (the sink refused it for good; see `mxwatch changes`): {e}");
                    metrics::counter!("mxwatch_alert_deliveries_total", "outcome" => "given_up")
                        .increment(1);
                    round.given_up += 1;
                }
                Err(e) => {
                    metrics::counter!("mxwatch_alert_deliveries_total", "outcome" => "retrying")
                        .increment(1);
                    let retry = self.config.defaults.monitor.retry_after.as_secs() as i64;
                    let next = now_unix() + backoff(retry, pending.attempts);
                    self.store
                        .alert_failed(pending.id, &e.to_string(), now_unix(), Some(next))
                        .await?;
                    tracing::warn!(sink = %pending.sink, attempts = pending.attempts + 1, "alert not delivered (kept queued): {e}");
                    round.retrying += 1;
                }
            }
        }
        Ok(round)
    }
}

/// The watcher's entries of `domains`: a domain that does not parse is a settings error.
fn entries_of(config: &Config, domains: &[DomainConfig]) -> Result<Vec<Entry>, EngineError> {
    let d = &config.defaults;
    domains
        .iter()
        .map(|domain| {
            let parsed = mxwatch_core::parse_domain_input(&domain.name)
                .map_err(|e| EngineError::Settings(format!("domain {:?}: {e}", domain.name)))?;
            Ok(Entry {
                config: domain.clone(),
                domain: parsed.domain,
                every: domain.every.unwrap_or(d.monitor.every),
                expectation: config
                    .expectation(domain)
                    .map_err(EngineError::Settings)?
                    .map(Arc::new),
                dkim_selectors: domain.dkim_selectors.clone(),
            })
        })
        .collect()
}

/// SIGTERM or SIGINT (Ctrl-C): the watcher and the worker finish what they hold, then stop.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => std::future::pending::<()>().await,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
