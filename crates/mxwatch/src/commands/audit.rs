//! What `check` and `demo` share: the engine's report stream, printed as it comes, and the
//! exit code it adds up to.

use crate::cli::AuditArgs;
use crate::exit::{Code, Verdict};
use crate::output;
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use mxwatch_core::ParsedInput;
use mxwatch_engine::{Auditor, Target};

pub async fn run(
    target: Target,
    args: AuditArgs,
    domains: Vec<ParsedInput>,
) -> anyhow::Result<Code> {
    let auditor = Auditor::new(target, args.settings)?;
    let progress = progress_bar(domains.len());
    let mut sink = output::sink(args.format)?;
    sink.begin()?;
    let mut verdict = Verdict::new(args.fail_on);
    let (collector, reports) = auditor.audit_all(domains, usize::from(args.concurrency));
    let mut reports = std::pin::pin!(reports);
    while let Some(report) = reports.next().await {
        progress.inc(1);
        verdict.add(&report);
        progress.suspend(|| sink.report(&report))?;
    }
    progress.finish_and_clear();
    sink.finish()?;
    tracing::info!(
        queries = collector.dns().queries_sent(),
        cached = collector.dns().cached_entries(),
        "audit finished"
    );
    Ok(verdict.code())
}

/// A progress bar on stderr for long runs; hidden when stderr is not a terminal.
fn progress_bar(total: usize) -> ProgressBar {
    if total < 2 {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total as u64);
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} {pos}/{len} domains {wide_bar} {eta}")
    {
        bar.set_style(style);
    }
    bar
}
