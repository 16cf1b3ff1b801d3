//! The audit pipeline shared by `check` and `demo`: domains in, reports out, in input order.

use crate::cli::AuditArgs;
use crate::exit::{Code, Verdict};
use crate::output;
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use mxwatch_core::{CheckContext, ParsedInput, Report};
use mxwatch_probe::{Collector, CollectorOptions, Dns, DnsOptions};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub struct Audit {
    pub resolver: SocketAddr,
    pub lab: bool,
}

pub async fn run(
    audit: Audit,
    args: &AuditArgs,
    domains: Vec<ParsedInput>,
) -> anyhow::Result<Code> {
    let mut options = DnsOptions::new(audit.resolver);
    options.timeout = Duration::from_secs_f64(args.timeout);
    options.max_in_flight = usize::from(args.max_queries);
    let collector = Collector::new(
        Arc::new(Dns::new(options)),
        CollectorOptions { lab: audit.lab },
    );
    let ctx = CheckContext { lab: audit.lab };

    let progress = progress_bar(domains.len());
    let mut sink = output::sink(args.format)?;
    sink.begin()?;
    let mut verdict = Verdict::new(args.fail_on);
    let mut reports = futures_util::stream::iter(domains)
        .map(|input| {
            let collector = collector.clone();
            async move {
                let observation = collector.observe(&input.domain).await;
                Report::new(observation, &ctx, input.notes)
            }
        })
        .buffered(usize::from(args.concurrency));
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
