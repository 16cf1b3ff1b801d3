//! `mxwatch worker --db postgres://…` (audit queued scan jobs and, with `--config`, the watch
//! inventory's due domains, alongside other workers) and `mxwatch workers --db …` (who works
//! on this database, how fast, holding what).

use crate::cli::{RecordFormat, WorkerArgs, WorkersArgs};
use crate::exit::Code;
use comfy_table::Table;
use mxwatch_core::sanitize::for_terminal;
use mxwatch_engine::config::Config;
use mxwatch_engine::monitor::{Participant, Watcher};
use mxwatch_engine::smtp_budget::WorkerBudget;
use mxwatch_engine::worker::{self, WorkerOptions};
use mxwatch_engine::{Auditor, EngineError, resolver};
use mxwatch_probe::smtp::AddressBudget;
use mxwatch_store::queue::{PgWorkQueue, WorkQueue, WorkerInfo, open_queue};
use mxwatch_store::smtp_turns::PgTurnLedger;
use mxwatch_store::{PgStore, StoreUrl, WatcherLock, try_share_watcher_lock};
use serde_json::json;
use std::io::Write;
use std::sync::Arc;

async fn open(db: &StoreUrl) -> anyhow::Result<PgWorkQueue> {
    open_queue(db)
        .await
        .map_err(|e| anyhow::Error::from(EngineError::Store(e)).context(format!("opening {db}")))
}

pub async fn run(args: WorkerArgs) -> anyhow::Result<Code> {
    let target = resolver::target(&args.resolvers, args.lab)?;
    let mut auditor = Auditor::new(target, args.settings.clone())?;
    let queue = Arc::new(open(&args.db).await?);
    let identity = worker::identity();
    // One budget for both halves of this worker (queued scans and the inventory): its own
    // limits from these flags, and the database's count across workers.
    let mut budget: Option<Arc<dyn AddressBudget>> = None;
    if (auditor.settings().probe || args.config.is_some()) && !args.no_shared_smtp_budget {
        let ledger = PgTurnLedger::open(&args.db).await.map_err(|e| {
            anyhow::Error::from(EngineError::Store(e)).context(format!("opening {}", args.db))
        })?;
        let shared: Arc<dyn AddressBudget> = Arc::new(WorkerBudget::for_worker(
            Arc::new(ledger),
            &identity.id,
            &auditor.politeness(),
        ));
        auditor = auditor.with_smtp_budget(shared.clone());
        budget = Some(shared);
    }
    // With --config: this worker's part of the shared schedule, and the lock that keeps a
    // `watch` or `serve` off the inventory while workers run it (held until the end).
    let inventory = match &args.config {
        Some(path) => Some(inventory_watcher(path, &args, &identity.id, budget).await?),
        None => None,
    };
    let options = WorkerOptions {
        concurrency: usize::from(args.concurrency),
        lease: args.lease,
        exit_when_idle: args.exit_when_idle,
        ..WorkerOptions::default()
    };

    // One signal stops both halves; the inventory's failing to start stops the scan half too.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let stop = Arc::new(stop);
    tokio::spawn({
        let stop = stop.clone();
        async move {
            worker::shutdown_signal().await;
            let _ = stop.send(true);
        }
    });
    let until = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let scans = worker::run(queue, auditor, identity, options, until(stopped.clone()));
    let watching = async {
        let Some((watcher, _lock)) = &inventory else {
            return Ok(());
        };
        let result = watcher.run_shared(until(stopped.clone())).await;
        if result.is_err() {
            let _ = stop.send(true);
        }
        result
    };
    let (stats, watched) = tokio::join!(scans, watching);
    watched?;
    let stats = stats?;
    anstream::eprintln!(
        "worker: {} line(s) finished, {} result(s) written",
        stats.finished,
        stats.written
    );
    Ok(Code::Clean)
}

/// The watcher of `--config`'s inventory as worker `me` on the shared schedule, with the shared
/// form of the database's watcher lock.
async fn inventory_watcher(
    path: &std::path::Path,
    args: &WorkerArgs,
    me: &str,
    budget: Option<Arc<dyn AddressBudget>>,
) -> anyhow::Result<(Watcher, WatcherLock)> {
    let StoreUrl::Postgres(url) = &args.db else {
        // `open` above already refused a non-PostgreSQL --db.
        unreachable!("the queue opened, so --db is PostgreSQL");
    };
    let mut config = Config::load(path)?;
    config.db = args.db.clone();
    let lock = match try_share_watcher_lock(url).await {
        Ok(Some(lock)) => lock,
        Ok(None) => {
            return Err(EngineError::Settings(format!(
                "a `mxwatch watch` or `mxwatch serve` is running the inventory of {} (it holds \
                 the database's watcher lock): stop it first, or run this worker without \
                 --config (scan jobs only)",
                args.db
            ))
            .into());
        }
        Err(e) => {
            return Err(
                anyhow::Error::from(EngineError::Store(e)).context(format!("opening {}", args.db))
            );
        }
    };
    let store = Arc::new(PgStore::open(url).await.map_err(|e| {
        anyhow::Error::from(EngineError::Store(e)).context(format!("opening {}", args.db))
    })?);
    let mut watcher = Watcher::new(config, store.clone())?.sharing(Participant {
        schedule: store,
        worker: me.to_string(),
        lease: args.lease,
    });
    if let Some(budget) = budget {
        watcher = watcher.with_smtp_budget(budget);
    }
    Ok((watcher, lock))
}

fn state(worker: &WorkerInfo) -> String {
    match worker.stopped_at_ms {
        Some(_) => "stopped".into(),
        None => format!("heartbeat {}s ago", worker.silent_for_ms / 1000),
    }
}

pub async fn list(args: WorkersArgs) -> anyhow::Result<Code> {
    let queue = open(&args.db).await?;
    let workers = queue.workers().await?;
    let jobs = queue.jobs().await?;
    // writeln!, not println!: a closed pipe (`mxwatch workers | head`) ends quietly.
    let mut out = std::io::stdout().lock();
    match args.format {
        RecordFormat::Json => {
            let workers: Vec<_> = workers
                .iter()
                .map(|w| {
                    let mut value = serde_json::to_value(w).unwrap_or_default();
                    value["lines_per_second"] = json!(w.lines_per_second());
                    value
                })
                .collect();
            writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&json!({ "workers": workers, "jobs": jobs }))?
            )?;
        }
        RecordFormat::Table => {
            let mut table = Table::new();
            table.set_header([
                "worker", "host", "pid", "state", "done", "lines/s", "leases",
            ]);
            for w in &workers {
                table.add_row([
                    for_terminal(&w.id),
                    for_terminal(&w.host),
                    w.pid.to_string(),
                    state(w),
                    w.items_done.to_string(),
                    format!("{:.1}", w.lines_per_second()),
                    w.leases.to_string(),
                ]);
            }
            writeln!(out, "{table}")?;
            let mut table = Table::new();
            table.set_header(["job", "name", "lines", "results", "open", "leased", "state"]);
            for j in &jobs {
                table.add_row([
                    j.id.to_string(),
                    for_terminal(&j.name),
                    j.lines.to_string(),
                    j.results.to_string(),
                    j.open.to_string(),
                    j.leased.to_string(),
                    j.state().to_string(),
                ]);
            }
            writeln!(out, "{table}")?;
        }
    }
    Ok(Code::Clean)
}
