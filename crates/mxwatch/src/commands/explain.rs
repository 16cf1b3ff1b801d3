//! `mxwatch explain ID | --all`: the catalogue, from the code: the checks
//! ([`CHECKS`]), then the notes of `mxwatch headers` ([`NOTES`]) and the consequences of a change
//! ([`RULES`]: `check --zone`, `watch`, `diff`), each in a section of their own.

use crate::cli::{ExplainArgs, ExplainFormat};
use crate::exit::{Code, UsageError};
use crate::output::severity_label;
use mxwatch_core::checks::transition::{self, RULES, Rule};
use mxwatch_core::checks::{self, CHECKS, Check};
use mxwatch_core::headers::NoteLevel;
use mxwatch_core::headers::notes::{self, NOTES, NoteKind};
use owo_colors::OwoColorize;
use std::io::Write;

pub fn run(args: ExplainArgs) -> anyhow::Result<Code> {
    let (selected, selected_notes, selected_rules): (Vec<&Check>, Vec<&NoteKind>, Vec<&Rule>) =
        if args.all {
            (CHECKS.to_vec(), NOTES.to_vec(), RULES.to_vec())
        } else {
            let id = args.id.unwrap_or_default();
            match (checks::find(&id), notes::find(&id), transition::find(&id)) {
                (Some(check), _, _) => (vec![check], vec![], vec![]),
                (None, Some(note), _) => (vec![], vec![note], vec![]),
                (None, None, Some(rule)) => (vec![], vec![], vec![rule]),
                (None, None, None) => return Err(UsageError(unknown(&id)).into()),
            }
        };
    let mut out = anstream::stdout().lock();
    match args.format {
        ExplainFormat::Markdown if args.all => write!(out, "{}", checks::catalogue_markdown())?,
        ExplainFormat::Json => {
            let mut list: Vec<serde_json::Value> = selected
                .iter()
                .map(|c| {
                    serde_json::json!({
                        "id": c.id, "severity": c.severity, "title": c.title,
                        "explanation": c.explanation, "fix": c.fix, "reference": c.reference,
                    })
                })
                .collect();
            // A note has a level, not a severity: `kind` tells the two apart.
            list.extend(selected_notes.iter().map(|n| {
                serde_json::json!({
                    "id": n.id, "kind": "headers-note", "level": n.level, "title": n.title,
                    "explanation": n.explanation, "fix": n.fix, "reference": n.reference,
                })
            }));
            // A consequence of a change is judged on two observations: `kind` says so.
            list.extend(selected_rules.iter().map(|r| {
                serde_json::json!({
                    "id": r.id, "kind": "change-consequence", "severity": r.severity, "title": r.title,
                    "explanation": r.explanation, "fix": r.fix, "reference": r.reference,
                })
            }));
            serde_json::to_writer_pretty(&mut out, &list)?;
            writeln!(out)?;
        }
        ExplainFormat::Markdown | ExplainFormat::Text => {
            for (i, check) in selected.iter().enumerate() {
                if i > 0 {
                    writeln!(out)?;
                }
                writeln!(
                    out,
                    "{} [{}] {}",
                    check.id,
                    severity_label(check.severity),
                    check.title
                )?;
                writeln!(out, "  {}", check.explanation)?;
                writeln!(out, "  fix: {}", check.fix)?;
                writeln!(out, "  reference: {}", check.reference)?;
            }
            if args.all {
                writeln!(out, "\n{}", notes::SECTION_TITLE.bold())?;
            }
            for (i, note) in selected_notes.iter().enumerate() {
                if i > 0 || args.all {
                    writeln!(out)?;
                }
                writeln!(
                    out,
                    "{} [{}] {}",
                    note.id,
                    level_label(note.level),
                    note.title
                )?;
                writeln!(out, "  {}", note.explanation)?;
                writeln!(out, "  fix: {}", note.fix)?;
                writeln!(out, "  reference: {}", note.reference)?;
            }
            if args.all {
                writeln!(
                    out,
                    "\n{}",
                    "Consequences of a change (check --zone, watch, diff)".bold()
                )?;
            }
            for (i, rule) in selected_rules.iter().enumerate() {
                if i > 0 || args.all {
                    writeln!(out)?;
                }
                writeln!(
                    out,
                    "{} [{}] {}",
                    rule.id,
                    severity_label(rule.severity),
                    rule.title
                )?;
                writeln!(out, "  {}", rule.explanation)?;
                writeln!(out, "  fix: {}", rule.fix)?;
                writeln!(out, "  reference: {}", rule.reference)?;
            }
        }
    }
    Ok(Code::Clean)
}

/// A note's level, as wide as [`severity_label`] and coloured as `mxwatch headers` shows it.
fn level_label(level: NoteLevel) -> String {
    let text = format!("{:<8}", level.as_str().to_ascii_uppercase());
    match level {
        NoteLevel::Warning => text.yellow().to_string(),
        NoteLevel::Info => text.dimmed().to_string(),
    }
}

fn unknown(id: &str) -> String {
    let wanted = id.to_ascii_uppercase();
    let stem = wanted.split('-').next().unwrap_or("");
    let close: Vec<&str> = CHECKS
        .iter()
        .map(|c| c.id)
        .chain(NOTES.iter().map(|n| n.id))
        .chain(RULES.iter().map(|r| r.id))
        .filter(|c| c.contains(&wanted) || (!stem.is_empty() && c.starts_with(stem)))
        .collect();
    let what = if stem == "HEADERS" {
        "no `headers` note has the code"
    } else {
        "no check has the ID"
    };
    let mut msg = format!("{what} {:?}", mxwatch_core::sanitize::for_terminal(id));
    if !close.is_empty() {
        msg.push_str(&format!("; did you mean {}?", close.join(", ")));
    }
    msg.push_str(" (`mxwatch explain --all` lists them)");
    msg
}
