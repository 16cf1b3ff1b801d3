//! `mxwatch diff OLD NEW`: what changed between two saved audits, domain by domain.
//! Each change set is followed by what it does (`consequence`: `checks::transition`).
//! Exit 0 when nothing changed, 1 when something did (like diff(1)), 2 on bad input.

use crate::cli::{DiffArgs, DiffFormat};
use crate::exit::{Code, UsageError};
use crate::output::severity_label;
use mxwatch_core::checks::transition::{beyond_diff, consequences};
use mxwatch_core::monitor::diff::{Change, diff};
use mxwatch_core::sanitize::for_terminal;
use mxwatch_core::{CheckContext, Finding, Observation, Report};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

pub fn run(args: DiffArgs) -> anyhow::Result<Code> {
    // The checks judge a bare observation against a date (certificate expiry): today's, unless
    // `--at` asks for another, so an old verdict can be reproduced.
    let now_unix = match &args.at {
        Some(text) => {
            mxwatch_engine::config::timestamp(text).map_err(|e| UsageError(format!("--at {e}")))?
        }
        None => mxwatch_engine::now_unix(),
    };
    let old = load(&args.old, now_unix)?;
    let new = load(&args.new, now_unix)?;
    let mut results: Vec<(String, Vec<Change>)> = Vec::new();
    for (domain, (obs, findings)) in &new {
        match old.get(domain) {
            Some((before, old_findings)) => {
                let mut changes = diff(before, obs, old_findings, findings);
                if changes.iter().any(|c| !c.kind.is_finding()) {
                    // What the change does, from when the new audit saw it (the drain time …).
                    let seen_at =
                        mxwatch_engine::config::timestamp(&obs.observed_at).unwrap_or(now_unix);
                    changes.extend(
                        beyond_diff(consequences(before, obs, seen_at))
                            .iter()
                            .map(Change::consequence),
                    );
                }
                results.push((domain.clone(), changes))
            }
            None => results.push((domain.clone(), vec![])),
        }
    }
    let missing: Vec<&String> = old.keys().filter(|d| !new.contains_key(*d)).collect();
    let changed = results.iter().any(|(_, c)| !c.is_empty()) || !missing.is_empty();
    let mut out = anstream::stdout().lock();
    match args.format {
        DiffFormat::Json => {
            let map: BTreeMap<&String, &Vec<Change>> =
                results.iter().map(|(d, c)| (d, c)).collect();
            serde_json::to_writer_pretty(&mut out, &map)?;
            writeln!(out)?;
        }
        DiffFormat::Table => {
            for (domain, changes) in &results {
                if changes.is_empty() {
                    continue;
                }
                writeln!(out, "{}", for_terminal(domain))?;
                for change in changes {
                    writeln!(
                        out,
                        "  {} {}",
                        severity_label(change.severity),
                        for_terminal(&change.summary())
                    )?;
                }
            }
            for domain in &missing {
                writeln!(
                    out,
                    "{}: only in {}",
                    for_terminal(domain),
                    args.old.display()
                )?;
            }
            if !changed {
                writeln!(out, "no change")?;
            }
        }
    }
    Ok(if changed { Code::Findings } else { Code::Clean })
}

type Audit = BTreeMap<String, (Observation, Vec<Finding>)>;

/// Reads a report, an array of reports, JSON lines of reports, or a bare observation.
fn load(path: &Path, now_unix: i64) -> anyhow::Result<Audit> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| UsageError(format!("cannot read {}: {e}", path.display())))?;
    let values: Vec<Value> = match serde_json::from_str::<Value>(&text) {
        Ok(Value::Array(items)) => items,
        Ok(one) => vec![one],
        Err(_) => text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(serde_json::from_str)
            .collect::<Result<_, _>>()
            .map_err(|e| UsageError(format!("{}: not JSON or JSON lines: {e}", path.display())))?,
    };
    let mut audit = Audit::new();
    for value in values {
        let (obs, findings) = if value.get("observation").is_some() {
            let report: Report = serde_json::from_value(value).map_err(|e| {
                UsageError(format!("{}: not an mxwatch report: {e}", path.display()))
            })?;
            (report.observation, report.findings)
        } else {
            let obs: Observation = serde_json::from_value(value).map_err(|e| {
                UsageError(format!(
                    "{}: not an mxwatch observation: {e}",
                    path.display()
                ))
            })?;
            let ctx = CheckContext {
                now_unix,
                ..CheckContext::default()
            };
            let findings = mxwatch_core::checks::run_all(&obs, &ctx);
            (obs, findings)
        };
        audit.insert(obs.domain.ascii.clone(), (obs, findings));
    }
    Ok(audit)
}
