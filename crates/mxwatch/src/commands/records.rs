//! `history`, `changes` and `approve`: reading and annotating what `watch` recorded.

use crate::cli::{ApproveArgs, ChangesArgs, HistoryArgs, RecordFormat};
use crate::exit::{Code, UsageError};
use crate::output::severity_label;
use mxwatch_core::sanitize::for_terminal;
use mxwatch_engine::config::rfc3339 as when;
use mxwatch_engine::now_unix;
use mxwatch_store::{Store, StoreUrl, StoredChange};
use serde_json::json;
use std::io::Write;
use std::sync::Arc;

async fn open(url: &StoreUrl) -> anyhow::Result<Arc<dyn Store>> {
    mxwatch_store::open_existing(url)
        .await
        .map_err(|e| anyhow::Error::from(e).context(format!("opening {url}")))
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
        c.kind.as_str(),
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

fn given_up_line(f: &mxwatch_store::FailedDelivery) -> String {
    format!(
        "alert #{} for {} to sink {:?} GIVEN UP {} after {} attempt(s): {}",
        f.alert_id,
        for_terminal(&f.domain),
        for_terminal(&f.sink),
        when(f.gave_up_at),
        f.attempts,
        for_terminal(f.error.as_deref().unwrap_or("(no reason recorded)"))
    )
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
    let since = args.since;
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
    let from = now_unix() - since.as_secs() as i64;
    let changes = store.changes_since(from, domain.as_deref()).await?;
    // Alerts a sink refused for good are shown with the changes, so nobody believes they went out.
    let given_up: Vec<_> = store
        .failed_deliveries(from)
        .await?
        .into_iter()
        .filter(|f| domain.as_deref().is_none_or(|d| d == f.domain))
        .collect();
    let mut out = anstream::stdout().lock();
    match args.format {
        RecordFormat::Json => {
            // The JSON stays the array of changes scripts read; given-up alerts go to stderr.
            serde_json::to_writer_pretty(&mut out, &changes)?;
            writeln!(out)?;
            for f in &given_up {
                anstream::eprintln!("warning: {}", given_up_line(f));
            }
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
            for f in &given_up {
                writeln!(out, "{}", given_up_line(f))?;
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
        Err(UsageError(format!("no change #{} in {}", args.id, args.db)).into())
    }
}
