//! `mxwatch check DOMAIN…`

use super::audit;
use crate::cli::CheckArgs;
use crate::exit::{Code, UsageError};
use anyhow::Context;
use mxwatch_core::{ParsedInput, parse_domain_input};
use mxwatch_engine::{Target, resolver};
use std::io::{BufRead, BufReader, Read};

pub async fn run(args: CheckArgs) -> anyhow::Result<Code> {
    let mut raw: Vec<(String, String)> = args
        .domains
        .iter()
        .enumerate()
        .map(|(i, d)| (format!("argument {}", i + 1), d.clone()))
        .collect();
    if let Some(path) = &args.input {
        raw.extend(read_input(path)?);
    }
    if raw.is_empty() {
        return Err(UsageError(
            "no domain given: `mxwatch check example.com` (or --input FILE)".into(),
        )
        .into());
    }
    let domains = parse_all(&raw)?;
    if !args.zones.is_empty() {
        return super::preflight::run(args, domains).await;
    }
    let resolver = resolver::choose(args.resolver.as_deref())?;
    audit::run(Target::new(resolver, args.lab), args.audit, domains).await
}

/// Every input parsed before any network traffic: one bad name stops the run with exit 2.
fn parse_all(raw: &[(String, String)]) -> Result<Vec<ParsedInput>, UsageError> {
    raw.iter()
        .map(|(origin, text)| {
            parse_domain_input(text).map_err(|e| {
                UsageError(format!(
                    "{origin}: {:?} is not a domain name: {e}",
                    mxwatch_core::sanitize::for_terminal(text)
                ))
            })
        })
        .collect()
}

/// One domain per line; blank lines and `#` comments skipped.
fn read_input(path: &std::path::Path) -> anyhow::Result<Vec<(String, String)>> {
    let reader: Box<dyn Read> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(
            std::fs::File::open(path)
                .map_err(|e| UsageError(format!("cannot read {}: {e}", path.display())))?,
        )
    };
    let mut out = Vec::new();
    for (n, line) in BufReader::new(reader).lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        let text = line.split('#').next().unwrap_or("").trim();
        if !text.is_empty() {
            out.push((format!("{}:{}", path.display(), n + 1), text.to_string()));
        }
    }
    Ok(out)
}
