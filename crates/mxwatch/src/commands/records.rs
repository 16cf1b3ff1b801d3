//! `history`, `changes` and `approve`: reading and annotating what `watch` recorded.

use crate::cli::{ApproveArgs, ChangesArgs, HistoryArgs, RecordFormat};
use crate::commands::audit::now_unix;
use crate::config::duration;
use crate::exit::{Code, UsageError};
use crate::output::severity_label;
use mxwatch_core::sanitize::for_terminal;
use mxwatch_store::{SqliteStore, Store, StoredChange};
use serde_json::json;
use std::io::Write;
use std::path::Path;

async fn open(path: &Path) -> anyhow::Result<SqliteStore> {
    if !path.exists() {
        return Err(UsageError(format!(
            "{}: no such database (run `mxwatch watch` first, or pass --db)",
            path.display()
        ))
        .into());
    }
    SqliteStore::open(path)
        .await
        .map_err(|e| anyhow::anyhow!("opening {}: {e}", path.display()))
}

fn when(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

fn change_line(c: &StoredChange) -> String {
    let values = match (&c.old, &c.new) {
        (Some(o), Some(n)) => format!("{o} → {n}"),
        (None, Some(n)) => n.clone(),
        (Some(o), None) => format!("was {o}"),
        (None, None) => String::new(),
    };
    let mut line = format!(
        "#{:<5} {} {} {} {} {}",
        c.id,
        when(c.confirmed_at),
        severity_label(c.severity),
        c.kind,
        for_terminal(&c.subject),
        for_terminal(&values)
    );
    if let Some(why) = &c.expected {
        line.push_str(&format!("  [expected: {}]", for_terminal(why)));
    }
    if let Some(at) = c.resolved_at {
        line.push_str(&format!("  [resolved {}]", when(at)));
    }
    line
}

pub async fn history(args: HistoryArgs) -> anyhow::Result<Code> {
    let domain = mxwatch_core::parse_domain_input(&args.domain)
        .map_err(|e| UsageError(e.to_string()))?
        .domain
        .ascii;
    let store = open(&args.db).await?;
    let observations = store.observations(&domain, args.limit).await?;
    let changes = store.changes_since(0, Some(&domain)).await?;
    let mut out = anstream::stdout().lock();
    match args.format {
        RecordFormat::Json => {
            serde_json::to_writer_pretty(
                &mut out,
                &json!({ "domain": domain, "observations": observations, "changes": changes }),
            )?;
            writeln!(out)?;
        }
        RecordFormat::Table => {
            writeln!(
                out,
                "{domain}: {} observation(s) shown, {} change(s)",
                observations.len(),
                changes.len()
            )?;
            for o in &observations {
                let findings = if o.finding_ids.is_empty() {
                    "no findings".to_string()
                } else {
                    o.finding_ids.join(", ")
                };
                writeln!(out, "  {} {:<13} {findings}", when(o.observed_at), o.status)?;
            }
            for c in &changes {
                writeln!(out, "  {}", change_line(c))?;
            }
        }
    }
    Ok(Code::Clean)
}

pub async fn changes(args: ChangesArgs) -> anyhow::Result<Code> {
    let since = duration(&args.since, "--since").map_err(UsageError)?;
    let domain = match &args.domain {
        Some(d) => Some(
            mxwatch_core::parse_domain_input(d)
                .map_err(|e| UsageError(e.to_string()))?
                .domain
                .ascii,
        ),
        None => None,
    };
    let store = open(&args.db).await?;
    let changes = store
        .changes_since(now_unix() - since.as_secs() as i64, domain.as_deref())
        .await?;
    let mut out = anstream::stdout().lock();
    match args.format {
        RecordFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &changes)?;
            writeln!(out)?;
        }
        RecordFormat::Table => {
            if changes.is_empty() {
                writeln!(
                    out,
                    "no change since {}",
                    when(now_unix() - since.as_secs() as i64)
                )?;
            }
            for c in &changes {
                writeln!(out, "{} {}", for_terminal(&c.domain), change_line(c))?;
            }
        }
    }
    Ok(Code::Clean)
}

pub async fn approve(args: ApproveArgs) -> anyhow::Result<Code> {
    let by = args
        .by
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".into());
    let store = open(&args.db).await?;
    if store.approve(args.id, &by, now_unix()).await? {
        anstream::println!("change #{} approved by {by}", args.id);
        Ok(Code::Clean)
    } else {
        Err(UsageError(format!("no change #{} in {}", args.id, args.db.display())).into())
    }
}
