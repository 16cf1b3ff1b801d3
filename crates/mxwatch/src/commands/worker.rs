//! `mxwatch worker --db postgres://…` (audit queued scan jobs, alongside other workers) and
//! `mxwatch workers --db …` (who works on this database, how fast, holding what).

use crate::cli::{RecordFormat, WorkerArgs, WorkersArgs};
use crate::exit::Code;
use comfy_table::Table;
use mxwatch_core::sanitize::for_terminal;
use mxwatch_engine::smtp_budget::WorkerBudget;
use mxwatch_engine::worker::{self, WorkerOptions};
use mxwatch_engine::{Auditor, EngineError, resolver};
use mxwatch_store::StoreUrl;
use mxwatch_store::queue::{PgWorkQueue, WorkQueue, WorkerInfo, open_queue};
use mxwatch_store::smtp_turns::PgTurnLedger;
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
    let mut auditor = Auditor::new(target, args.settings)?;
    let queue = Arc::new(open(&args.db).await?);
    let identity = worker::identity();
    if auditor.settings().probe && !args.no_shared_smtp_budget {
        let ledger = PgTurnLedger::open(&args.db).await.map_err(|e| {
            anyhow::Error::from(EngineError::Store(e)).context(format!("opening {}", args.db))
        })?;
        let budget =
            WorkerBudget::for_worker(Arc::new(ledger), &identity.id, &auditor.politeness());
        auditor = auditor.with_smtp_budget(Arc::new(budget));
    }
    let options = WorkerOptions {
        concurrency: usize::from(args.concurrency),
        lease: args.lease,
        exit_when_idle: args.exit_when_idle,
        ..WorkerOptions::default()
    };
    let stats = worker::run(queue, auditor, identity, options, worker::shutdown_signal()).await?;
    anstream::eprintln!(
        "worker: {} line(s) finished, {} result(s) written",
        stats.finished,
        stats.written
    );
    Ok(Code::Clean)
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
