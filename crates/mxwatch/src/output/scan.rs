//! `scan`'s records (JSON lines, CSV, a line for a person) and the files they go to.
//!
//! [`Outputs`] appends one record at a time and says where each file ends afterwards, which
//! the scan state commits; on a resume it first cuts each file back to the committed end, so
//! a record written but not committed before a SIGKILL is written again exactly once.

use mxwatch_core::sanitize::for_terminal;
use mxwatch_core::{Report, Severity};
use mxwatch_engine::scan::{Outcome, ScanItem};
use mxwatch_store::scan_state::Offsets;
use serde_json::json;
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The worst definite severity, as a word (`none` when clean).
fn worst(report: &Report) -> String {
    report
        .worst_definite()
        .map_or_else(|| "none".to_string(), |s| s.as_str().to_string())
}

fn ids(report: &Report) -> Vec<String> {
    let mut ids: Vec<String> = report.findings.iter().map(|f| f.id.to_string()).collect();
    ids.dedup();
    ids
}

/// `10 mx1.example.net; 20 mx2.example.net` (by preference), or the outcome (`(NXDOMAIN)` …).
fn mx_set(report: &Report) -> String {
    match report.observation.mx.value() {
        Some(records) => {
            let mut records: Vec<_> = records.iter().collect();
            records.sort_by(|a, b| (a.preference, &a.exchange).cmp(&(b.preference, &b.exchange)));
            records
                .iter()
                .map(|r| format!("{} {}", r.preference, r.exchange))
                .collect::<Vec<_>>()
                .join("; ")
        }
        None => format!("({})", report.observation.mx.outcome_label()),
    }
}

/// Who receives the mail: the registrable domain of the best-preference exchange.
fn provider(report: &Report) -> String {
    report
        .observation
        .mx
        .value()
        .and_then(|records| records.iter().min_by_key(|r| r.preference))
        .filter(|r| r.exchange != ".")
        .and_then(|r| mxwatch_core::name::registrable_domain(r.exchange.trim_end_matches('.')))
        .map(|(registrable, _)| registrable)
        .unwrap_or_default()
}

/// One JSON line: the report with its input `line` first, or what was wrong with the line.
///
/// The report is written straight from its structure, in the order `check --format json`
/// uses: building a `serde_json::Value` of it first (to insert `line`) cost a tree of maps
/// and strings per domain, 7 % of a bulk scan's CPU.
pub fn jsonl(outcome: &Outcome) -> io::Result<Vec<u8>> {
    #[derive(serde::Serialize)]
    struct Audited<'a> {
        line: u64,
        #[serde(flatten)]
        report: &'a Report,
    }
    let mut bytes = match outcome {
        Outcome::Audited { line, report } => serde_json::to_vec(&Audited {
            line: *line,
            report,
        })?,
        Outcome::Skipped(ScanItem::Malformed { line, text, error }) => {
            serde_json::to_vec(&json!({ "line": line, "input": text, "error": error }))?
        }
        Outcome::Skipped(ScanItem::Duplicate {
            line,
            domain,
            first_line,
        }) => serde_json::to_vec(
            &json!({ "line": line, "domain": domain, "duplicate_of_line": first_line }),
        )?,
        Outcome::Skipped(ScanItem::Domain { line, input }) => serde_json::to_vec(
            &json!({ "line": line, "domain": input.domain.ascii, "error": "not audited" }),
        )?,
    };
    bytes.push(b'\n');
    Ok(bytes)
}

pub const CSV_HEADER: &[&str] = &[
    "line",
    "domain",
    "status",
    "worst_severity",
    "finding_ids",
    "mx",
    "provider",
    "error",
];
pub const CSV_FINDINGS_HEADER: &[&str] = &["line", "domain", "id", "severity", "subject", "detail"];

fn csv_bytes<I, S>(rows: I) -> io::Result<Vec<u8>>
where
    I: IntoIterator<Item = Vec<S>>,
    S: AsRef<[u8]>,
{
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        writer.write_record(row).map_err(io::Error::other)?;
    }
    writer
        .into_inner()
        .map_err(|e| io::Error::other(e.to_string()))
}

pub fn csv_header(findings: bool) -> io::Result<Vec<u8>> {
    csv_bytes([if findings {
        CSV_FINDINGS_HEADER.to_vec()
    } else {
        CSV_HEADER.to_vec()
    }])
}

/// One row per domain (or bad line), and the rows of its findings.
pub fn csv(outcome: &Outcome) -> io::Result<(Vec<u8>, Vec<u8>)> {
    match outcome {
        Outcome::Audited { line, report } => {
            let status = serde_json::to_value(report.status)?
                .as_str()
                .unwrap_or_default()
                .to_string();
            let row = vec![
                line.to_string(),
                report.domain.clone(),
                status,
                worst(report),
                ids(report).join(" "),
                mx_set(report),
                provider(report),
                String::new(),
            ];
            let findings = report.findings.iter().map(|f| {
                vec![
                    line.to_string(),
                    report.domain.clone(),
                    f.id.to_string(),
                    f.severity.as_str().to_string(),
                    f.subject.clone(),
                    f.detail.clone(),
                ]
            });
            Ok((csv_bytes([row])?, csv_bytes(findings)?))
        }
        Outcome::Skipped(item) => {
            let (line, domain, error) = match item {
                ScanItem::Malformed { line, text, error } => {
                    (*line, text.clone(), format!("malformed: {error}"))
                }
                ScanItem::Duplicate {
                    line,
                    domain,
                    first_line,
                } => (
                    *line,
                    domain.clone(),
                    format!("duplicate of line {first_line}"),
                ),
                ScanItem::Domain { line, input } => {
                    (*line, input.domain.ascii.clone(), "not audited".into())
                }
            };
            let row = vec![
                line.to_string(),
                domain,
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                error,
            ];
            Ok((csv_bytes([row])?, Vec::new()))
        }
    }
}

/// One line for a person.
pub fn line(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Audited { report, .. } => {
            let ids = ids(report);
            let worst = report
                .worst_definite()
                .filter(|s| *s > Severity::Info)
                .map(super::severity_label)
                .unwrap_or_default();
            format!(
                "{:<40} {:<13} {worst} {}",
                for_terminal(&report.domain),
                format!("{:?}", report.status).to_ascii_lowercase(),
                ids.join(" ")
            )
        }
        Outcome::Skipped(ScanItem::Malformed { line, text, error }) => {
            format!("line {line}: {text:?} skipped: {error}")
        }
        Outcome::Skipped(ScanItem::Duplicate {
            line,
            domain,
            first_line,
        }) => format!("line {line}: {domain} is a duplicate of line {first_line}"),
        Outcome::Skipped(ScanItem::Domain { line, .. }) => format!("line {line}: not audited"),
    }
}

/// Where records go: standard output, or a file (and a second CSV file) that a resume cuts back
/// to the committed end.
pub struct Outputs {
    main: Target,
    findings: Option<Target>,
}

enum Target {
    Stdout,
    File { file: File, path: PathBuf, end: u64 },
}

impl Target {
    /// Opens `path` for appending, cut back to `committed` (a resume) or emptied (a new scan).
    fn file(path: &Path, committed: u64) -> io::Result<Target> {
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        let length = file.metadata()?.len();
        if length < committed {
            return Err(io::Error::other(format!(
                "{} is {length} bytes, but the scan state says {committed} were written: \
                 it was changed since; start again with a new --state",
                path.display()
            )));
        }
        file.set_len(committed)?;
        file.seek(SeekFrom::Start(committed))?;
        Ok(Target::File {
            file,
            path: path.to_path_buf(),
            end: committed,
        })
    }

    fn end(&self) -> u64 {
        match self {
            Target::Stdout => 0,
            Target::File { end, .. } => *end,
        }
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Target::Stdout => {
                let mut out = io::stdout().lock();
                out.write_all(bytes)?;
                out.flush()
            }
            Target::File { file, path, end } => {
                // One write of the whole record, then the kernel has it: a SIGKILL after this
                // loses nothing, and the state's commit comes next.
                file.write_all(bytes)
                    .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
                *end += bytes.len() as u64;
                Ok(())
            }
        }
    }
}

impl Outputs {
    pub fn open(
        output: Option<&Path>,
        findings: Option<&Path>,
        committed: Offsets,
    ) -> io::Result<Outputs> {
        Ok(Outputs {
            main: match output {
                Some(path) => Target::file(path, committed.output)?,
                None => Target::Stdout,
            },
            findings: findings
                .map(|path| Target::file(path, committed.findings))
                .transpose()?,
        })
    }

    /// Whether nothing has been written yet (a header is due).
    pub fn is_new(&self) -> bool {
        self.main.end() == 0
    }

    pub fn findings_is_new(&self) -> bool {
        self.findings.as_ref().is_some_and(|f| f.end() == 0)
    }

    /// Appends a record (and its findings rows); returns where the files now end.
    pub fn write(&mut self, record: &[u8], findings: &[u8]) -> io::Result<Offsets> {
        self.main.write(record)?;
        if let Some(target) = &mut self.findings
            && !findings.is_empty()
        {
            target.write(findings)?;
        }
        Ok(self.offsets())
    }

    pub fn offsets(&self) -> Offsets {
        Offsets {
            output: self.main.end(),
            findings: self.findings.as_ref().map_or(0, Target::end),
        }
    }
}
