//! `mxwatch explain ID | --all`: the catalogue, from the code.

use crate::cli::{ExplainArgs, ExplainFormat};
use crate::exit::{Code, UsageError};
use crate::output::severity_label;
use mxwatch_core::checks::{self, CHECKS, Check};
use std::io::Write;

pub fn run(args: ExplainArgs) -> anyhow::Result<Code> {
    let selected: Vec<&Check> = if args.all {
        CHECKS.to_vec()
    } else {
        let id = args.id.unwrap_or_default();
        match checks::find(&id) {
            Some(check) => vec![check],
            None => return Err(UsageError(unknown(&id)).into()),
        }
    };
    let mut out = anstream::stdout().lock();
    match args.format {
        ExplainFormat::Markdown if args.all => write!(out, "{}", checks::catalogue_markdown())?,
        ExplainFormat::Json => {
            let list: Vec<serde_json::Value> = selected
                .iter()
                .map(|c| {
                    serde_json::json!({
                        "id": c.id, "severity": c.severity, "title": c.title,
                        "explanation": c.explanation, "fix": c.fix, "reference": c.reference,
                    })
                })
                .collect();
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
        }
    }
    Ok(Code::Clean)
}

fn unknown(id: &str) -> String {
    let wanted = id.to_ascii_uppercase();
    let close: Vec<&str> = CHECKS
        .iter()
        .map(|c| c.id)
        .filter(|c| {
            let stem = wanted.split('-').next().unwrap_or("");
            c.contains(&wanted) || (!stem.is_empty() && c.starts_with(stem))
        })
        .collect();
    let mut msg = format!(
        "no check has the ID {:?}",
        mxwatch_core::sanitize::for_terminal(id)
    );
    if !close.is_empty() {
        msg.push_str(&format!("; did you mean {}?", close.join(", ")));
    }
    msg.push_str(" (`mxwatch explain --all` lists them)");
    msg
}
