//! `mxwatch scan FILE --db postgres://… --enqueue [NAME]` and `mxwatch scan --job ID --db …`:
//! a list queued for `mxwatch worker`s, and its results read back from any machine.
//!
//! The list is read with the same rules as a scan here (comments, URLs reduced to their
//! domain, duplicates and malformed lines reported with their numbers); domains are queued,
//! malformed and duplicate lines are settled at once with their result. The results are
//! written with the same encoders as a scan (`--format jsonl|csv|lines|json|sarif`), in the
//! order the workers finished them.

use super::scan::{Emitter, print_summary, read_lines};
use crate::cli::{ScanArgs, ScanFormat};
use crate::exit::{Code, UsageError};
use crate::output::scan::Outputs;
use mxwatch_engine::EngineError;
use mxwatch_engine::scan::{InputReader, Outcome, ScanItem};
use mxwatch_engine::worker::Outage;
use mxwatch_store::StoreUrl;
use mxwatch_store::queue::{ItemResult, PgWorkQueue, QueuedLine, StoredResult, WorkQueue};
use mxwatch_store::scan_state::Offsets;
use std::io::Write;
use std::time::Duration;

/// Lines sent to the database per transaction when queueing.
const ENQUEUE_BATCH: usize = 2_000;
/// Results read per query when streaming.
const READ_BATCH: i64 = 1_000;
/// How often `--job` asks for new results while workers are still at it.
const POLL: Duration = Duration::from_secs(1);

async fn open(db: Option<&StoreUrl>) -> anyhow::Result<PgWorkQueue> {
    let db = db.ok_or_else(|| UsageError("--enqueue and --job need --db postgres://…".into()))?;
    mxwatch_store::queue::open_queue(db)
        .await
        .map_err(|e| anyhow::Error::from(EngineError::Store(e)).context(format!("opening {db}")))
}

/// Queues the list as a job and prints its ID on standard output.
pub async fn enqueue(args: &ScanArgs, name: &str) -> anyhow::Result<Code> {
    if args.output.is_some() || args.csv_findings.is_some() {
        return Err(UsageError(
            "--enqueue writes no results here: read them with `scan --job ID` (with --output there)"
                .into(),
        )
        .into());
    }
    let queue = open(args.db.as_ref()).await?;
    let name = match (name, &args.input) {
        ("", Some(path)) if path.as_os_str() != "-" => path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into(),
        ),
        ("", _) => "stdin".to_string(),
        (name, _) => name.to_string(),
    };
    let lines = read_lines(args.input.as_deref())?;
    let job = queue.create_job(&name).await?;
    let mut reader = InputReader::default();
    let mut batch = Vec::with_capacity(ENQUEUE_BATCH);
    let (mut domains, mut settled) = (0u64, 0u64);
    for (line, text) in lines {
        let item = match text {
            Ok(text) => match reader.item(line, &text) {
                Some(item) => item,
                None => continue,
            },
            Err(error) => ScanItem::Malformed {
                line,
                text: String::new(),
                error,
            },
        };
        let queued = queued_line(item);
        match &queued {
            QueuedLine::Domain { .. } => domains += 1,
            QueuedLine::Settled { .. } => settled += 1,
        }
        batch.push(queued);
        if batch.len() == ENQUEUE_BATCH {
            queue.add_lines(job, &batch).await?;
            batch.clear();
        }
    }
    queue.add_lines(job, &batch).await?;
    queue.seal_job(job).await?;
    anstream::eprintln!(
        "queued job {job} ({}): {domains} domain(s), {settled} malformed or duplicate line(s); \
         run `mxwatch worker --db …` to audit it, `mxwatch scan --job {job} --db …` to read it",
        mxwatch_core::sanitize::for_terminal(&name)
    );
    writeln!(std::io::stdout(), "{job}")?;
    Ok(Code::Clean)
}

fn queued_line(item: ScanItem) -> QueuedLine {
    match item {
        ScanItem::Domain { line, input } => QueuedLine::Domain {
            line,
            domain: input.domain.ascii,
            notes: input.notes,
        },
        ScanItem::Malformed { line, text, error } => QueuedLine::Settled {
            line,
            result: ItemResult::Malformed { text, error },
        },
        ScanItem::Duplicate {
            line,
            domain,
            first_line,
        } => QueuedLine::Settled {
            line,
            result: ItemResult::Duplicate { domain, first_line },
        },
    }
}

/// A stored result as the outcome a scan here would have had.
fn outcome(stored: StoredResult) -> Outcome {
    let line = stored.line;
    match stored.result {
        ItemResult::Audited { report } => Outcome::Audited { line, report },
        ItemResult::Malformed { text, error } => {
            Outcome::Skipped(ScanItem::Malformed { line, text, error })
        }
        ItemResult::Duplicate { domain, first_line } => Outcome::Skipped(ScanItem::Duplicate {
            line,
            domain,
            first_line,
        }),
        ItemResult::GaveUp { domain, attempts } => Outcome::Skipped(ScanItem::Malformed {
            line,
            text: mxwatch_core::sanitize::for_terminal(&domain),
            error: format!(
                "not audited: its workers stopped before finishing it {attempts} times in a row"
            ),
        }),
    }
}

/// Streams a job's results until every line has one.
pub async fn stream(args: &ScanArgs, job: i64, format: ScanFormat) -> anyhow::Result<Code> {
    if args.input.is_some() {
        return Err(UsageError("--job reads a queued job: give no list".into()).into());
    }
    let queue = open(args.db.as_ref()).await?;
    let Some(status) = queue.job(job).await? else {
        return Err(UsageError(format!("no job {job} in this database")).into());
    };
    let outputs = Outputs::open(
        args.output.as_deref(),
        args.csv_findings.as_deref(),
        Offsets::default(),
    )?;
    let total = status.sealed.then_some(status.lines as u64);
    let mut emitter = Emitter::begin(format, outputs, false, total, args.fail_on)?;
    let mut cursor = 0;
    // A database outage while reading pauses the stream (as it pauses the workers): the
    // reader waits, says so once, and goes on from the last result it wrote.
    let mut outage = Outage::new("reading the job's results");
    loop {
        let results = match queue.results_after(job, cursor, READ_BATCH).await {
            Ok(results) => results,
            Err(e) => {
                outage.failed(&e).await;
                continue;
            }
        };
        if let Some(last) = results.last() {
            outage.ok();
            cursor = last.seq;
            for stored in results {
                emitter.emit(&outcome(stored))?;
            }
            continue;
        }
        // Nothing new: done if every line has its result (read after the status, so none
        // written in between is missed: results only grow).
        let status = match queue.job(job).await {
            Ok(Some(status)) => status,
            Ok(None) => {
                return Err(UsageError(format!("job {job} was deleted while read")).into());
            }
            Err(e) => {
                outage.failed(&e).await;
                continue;
            }
        };
        outage.ok();
        if status.sealed {
            emitter.set_total(status.lines as u64);
        }
        if status.finished() && status.results <= cursor {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    let (summary, verdict) = emitter.finish()?;
    if args.top > 0 {
        print_summary(&summary, args.top, false);
    }
    Ok(verdict.code())
}
