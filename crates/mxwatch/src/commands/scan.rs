//! `mxwatch scan [FILE|-]`: a list of any length, audited as a stream.
//!
//! Lines are read as they are needed (the list is never held whole); each result is written as
//! its domain completes. With `--state`, each written record is committed ("line N done, the
//! output ends at byte B") after it is written, and a restart cuts the output back to the last
//! commit: killed at any moment, the scan finishes on the next start without auditing a done
//! domain again, and, writing to a file, without a lost or repeated record. Writing to standard
//! output, a record written just before a SIGKILL may appear once more after the restart
//! (nothing can cut back what a pipe already took).

use crate::cli::{Format, ScanArgs, ScanFormat};
use crate::exit::{Code, UsageError, Verdict};
use crate::output::scan::{self as records, Outputs};
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use mxwatch_core::sanitize::for_terminal;
use mxwatch_engine::scan::{InputReader, Outcome, ScanItem, Summary, audit_items};
use mxwatch_engine::{Auditor, resolver};
use mxwatch_store::scan_state::{Offsets, ScanState};
use std::collections::HashSet;
use std::io::{BufRead, BufReader, IsTerminal, Read};
use std::path::Path;

pub async fn run(args: ScanArgs) -> anyhow::Result<Code> {
    let format = args.format.unwrap_or(
        if args.output.is_some() || !std::io::stdout().is_terminal() {
            ScanFormat::Jsonl
        } else {
            ScanFormat::Lines
        },
    );
    check_combinations(&args, format)?;
    if let Some(job) = args.job {
        return super::scan_job::stream(&args, job, format).await;
    }
    if let Some(name) = &args.enqueue {
        return super::scan_job::enqueue(&args, name).await;
    }
    let input_name = match &args.input {
        Some(path) if path.as_os_str() != "-" => path.display().to_string(),
        _ => "-".to_string(),
    };
    let state = match &args.state {
        Some(path) => {
            let state = ScanState::open(path).await.map_err(|e| {
                anyhow::Error::from(e).context(format!("opening {}", path.display()))
            })?;
            state.check_meta("input", &input_name).await?;
            state.check_meta("format", &format!("{format:?}")).await?;
            Some(state)
        }
        None => None,
    };
    let (done, committed) = match &state {
        Some(state) => (state.done_lines().await?, state.offsets().await?),
        None => (HashSet::new(), Offsets::default()),
    };
    let resuming = !done.is_empty();
    if resuming {
        tracing::info!(done = done.len(), "resuming: done lines are skipped");
    }
    let outputs = Outputs::open(
        args.output.as_deref(),
        args.csv_findings.as_deref(),
        committed,
    )?;
    let total = match &args.input {
        Some(path) if path.as_os_str() != "-" => count_lines(path).ok(),
        _ => None,
    };
    let lines = read_lines(args.input.as_deref())?;
    let target = resolver::target(&args.resolvers, args.lab)?;
    let auditor = Auditor::new(target, args.settings)?;

    // The reader sees every line (a done line still makes a later one a duplicate); done lines
    // are then left out.
    let mut reader = InputReader::default();
    let items = futures_util::stream::iter(lines.filter_map(move |(line, text)| {
        let item = match text {
            Ok(text) => reader.item(line, &text)?,
            Err(error) => ScanItem::Malformed {
                line,
                text: String::new(),
                error,
            },
        };
        (!done.contains(&item.line())).then_some(item)
    }));
    let (collector, outcomes) = audit_items(&auditor, items, usize::from(args.concurrency));
    let mut outcomes = std::pin::pin!(outcomes);

    let mut emitter = Emitter::begin(format, outputs, resuming, total, args.fail_on)?;
    while let Some(outcome) = outcomes.next().await {
        emitter.emit(&outcome)?;
        let (line, domain) = match &outcome {
            Outcome::Audited { line, report } => (*line, Some(report.domain.as_str())),
            Outcome::Skipped(item) => (item.line(), None),
        };
        if let Some(state) = &state {
            state.done(line, domain, emitter.outputs.offsets()).await?;
        }
    }
    let (summary, verdict) = emitter.finish()?;
    tracing::info!(queries = collector.dns().queries_sent(), "scan finished");
    if args.top > 0 {
        print_summary(&summary, args.top, resuming);
    }
    Ok(verdict.code())
}

/// Writes each outcome in the chosen format (to the outputs, or to a whole-document sink) and
/// keeps the summary, the verdict and the progress bar: one definition for a scan run here and
/// for a queued job's results (`--job`).
pub(super) struct Emitter {
    format: ScanFormat,
    sink: Option<Box<dyn crate::output::Sink>>,
    pub(super) outputs: Outputs,
    progress: ProgressBar,
    summary: Summary,
    verdict: Verdict,
}

impl Emitter {
    pub(super) fn begin(
        format: ScanFormat,
        mut outputs: Outputs,
        resuming: bool,
        total: Option<u64>,
        fail_on: mxwatch_core::Severity,
    ) -> anyhow::Result<Emitter> {
        let mut sink = match format {
            ScanFormat::Json => Some(crate::output::sink(Format::Json)?),
            ScanFormat::Sarif => Some(crate::output::sink(Format::Sarif)?),
            _ => None,
        };
        if let Some(sink) = &mut sink {
            sink.begin()?;
        }
        if format == ScanFormat::Csv {
            // A header once per file: never again on a resume (the file keeps the first one; on
            // standard output, the first run printed it).
            if outputs.is_new() && !resuming {
                outputs.write(&records::csv_header(false)?, &[])?;
            }
            if outputs.findings_is_new() {
                outputs.write(&[], &records::csv_header(true)?)?;
            }
        }
        Ok(Emitter {
            format,
            sink,
            outputs,
            progress: progress_bar(total),
            summary: Summary::default(),
            verdict: Verdict::new(fail_on),
        })
    }

    pub(super) fn emit(&mut self, outcome: &Outcome) -> anyhow::Result<()> {
        let (record, findings): (Vec<u8>, Vec<u8>) = match self.format {
            ScanFormat::Jsonl => (records::jsonl(outcome)?, vec![]),
            ScanFormat::Csv => records::csv(outcome)?,
            ScanFormat::Lines => (format!("{}\n", records::line(outcome)).into_bytes(), vec![]),
            ScanFormat::Json | ScanFormat::Sarif => (vec![], vec![]),
        };
        let (sink, outputs) = (&mut self.sink, &mut self.outputs);
        self.progress.suspend(|| -> anyhow::Result<()> {
            match (sink, outcome) {
                (Some(sink), Outcome::Audited { report, .. }) => sink.report(report)?,
                (Some(_), Outcome::Skipped(_)) => {
                    anstream::eprintln!("{}", records::line(outcome))
                }
                (None, _) => {
                    outputs.write(&record, &findings)?;
                }
            }
            Ok(())
        })?;
        match outcome {
            Outcome::Audited { report, .. } => {
                self.summary.add(report);
                self.verdict.add(report);
            }
            Outcome::Skipped(ScanItem::Duplicate { .. }) => self.summary.duplicates += 1,
            Outcome::Skipped(_) => self.summary.malformed += 1,
        }
        self.progress.inc(1);
        self.progress.set_message(status_counts(&self.summary));
        Ok(())
    }

    pub(super) fn set_total(&self, total: u64) {
        self.progress.set_length(total);
    }

    /// Closes the document (json, sarif) and the progress bar.
    pub(super) fn finish(mut self) -> anyhow::Result<(Summary, Verdict)> {
        self.progress.finish_and_clear();
        if let Some(sink) = &mut self.sink {
            sink.finish()?;
        }
        Ok((self.summary, self.verdict))
    }
}

fn check_combinations(args: &ScanArgs, format: ScanFormat) -> Result<(), UsageError> {
    let whole = matches!(format, ScanFormat::Json | ScanFormat::Sarif);
    if whole && (args.state.is_some() || args.output.is_some()) {
        return Err(UsageError(
            "--format json and sarif write one document to standard output and cannot be resumed: \
             use --format jsonl or csv with --output and --state"
                .into(),
        ));
    }
    if args.csv_findings.is_some() && format != ScanFormat::Csv {
        return Err(UsageError("--csv-findings goes with --format csv".into()));
    }
    if let (Some(a), Some(b)) = (&args.output, &args.csv_findings)
        && a == b
    {
        return Err(UsageError(
            "--output and --csv-findings must be two files".into(),
        ));
    }
    Ok(())
}

/// Lines with their numbers (1-based), read as needed. A line that is not UTF-8 is an error
/// item, not the end of the scan.
pub(super) fn read_lines(
    path: Option<&Path>,
) -> anyhow::Result<impl Iterator<Item = (u64, Result<String, String>)> + Send + 'static> {
    let reader: Box<dyn Read + Send> = match path {
        Some(path) if path.as_os_str() != "-" => Box::new(
            std::fs::File::open(path)
                .map_err(|e| UsageError(format!("cannot read {}: {e}", path.display())))?,
        ),
        _ => Box::new(std::io::stdin()),
    };
    let mut reader = BufReader::new(reader);
    let mut number = 0u64;
    Ok(std::iter::from_fn(move || {
        let mut bytes = Vec::new();
        match reader.read_until(b'\n', &mut bytes) {
            Ok(0) => None,
            Ok(_) => {
                number += 1;
                let text = String::from_utf8(bytes)
                    .map(|t| t.trim_end_matches(['\n', '\r']).to_string())
                    .map_err(|_| "the line is not UTF-8".to_string());
                Some((number, text))
            }
            Err(e) => {
                tracing::error!("reading the input stopped at line {}: {e}", number + 1);
                None
            }
        }
    }))
}

fn count_lines(path: &Path) -> std::io::Result<u64> {
    let mut reader = BufReader::new(std::fs::File::open(path)?);
    let mut count = 0;
    let mut buffer = Vec::new();
    while reader.read_until(b'\n', &mut buffer)? > 0 {
        count += 1;
        buffer.clear();
    }
    Ok(count)
}

/// On a terminal: done/total (lines), rate, ETA, and counts by status. Hidden otherwise.
fn progress_bar(total: Option<u64>) -> ProgressBar {
    let bar = match total {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::no_length(),
    };
    let template = if total.is_some() {
        "{spinner} {pos}/{len} lines {per_sec} {wide_bar} {eta} {msg}"
    } else {
        "{spinner} {pos} lines {per_sec} {msg}"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}

fn status_counts(summary: &Summary) -> String {
    let mut parts: Vec<String> = summary
        .by_status
        .iter()
        .map(|(status, n)| format!("{status} {n}"))
        .collect();
    if summary.malformed > 0 {
        parts.push(format!("malformed {}", summary.malformed));
    }
    parts.join(" · ")
}

/// The closing summary on standard error: domains by status, the commonest findings, and the
/// MX hosts the most domains depend on with the worst problem of each.
pub(super) fn print_summary(summary: &Summary, top: usize, resumed: bool) {
    let scope = if resumed { " (this run)" } else { "" };
    anstream::eprintln!(
        "\nscan{scope}: {} domains ({}), {} malformed line(s), {} duplicate(s)",
        summary.domains(),
        status_counts(summary),
        summary.malformed,
        summary.duplicates
    );
    let findings = summary.top_findings(top);
    if !findings.is_empty() {
        anstream::eprintln!("findings, by domains affected:");
        for (id, severity, n) in findings {
            anstream::eprintln!("  {n:>9}  {} {id}", crate::output::severity_label(severity));
        }
    }
    let hosts = summary.top_hosts(top);
    if !hosts.is_empty() {
        anstream::eprintln!("shared infrastructure (MX hosts by domains using them):");
        for (name, host) in hosts {
            let worst = match &host.worst {
                Some((severity, id, detail)) => format!(
                    " — {} {id}: {}",
                    crate::output::severity_label(*severity),
                    for_terminal(detail)
                ),
                None => String::new(),
            };
            anstream::eprintln!(
                "  {}: {} domain(s){worst}",
                for_terminal(name),
                host.domains
            );
        }
        if summary.hosts_floor > 0 {
            anstream::eprintln!(
                "  (hosts used by {} domain(s) or fewer were let go to bound memory: a count may be short by as much)",
                summary.hosts_floor
            );
        }
    }
}
