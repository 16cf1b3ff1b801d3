//! `mxwatch propagation DOMAIN --resolver A --resolver B …`: what each resolver
//! serves for the domain's MX right now, and how long its cached copy has left.
//! Exit 0 when every resolver agrees, 1 when they differ, 3 when one could not answer.

use crate::cli::{PropagationArgs, RecordFormat};
use crate::exit::{Code, UsageError};
use mxwatch_core::sanitize::for_terminal;
use mxwatch_engine::propagation;
use mxwatch_engine::resolver::parse_resolver;
use serde_json::json;
use std::io::Write;

pub async fn run(args: PropagationArgs) -> anyhow::Result<Code> {
    let domain = mxwatch_core::parse_domain_input(&args.domain)
        .map_err(|e| UsageError(e.to_string()))?
        .domain
        .ascii;
    let resolvers = args
        .resolvers
        .iter()
        .map(|r| parse_resolver(r))
        .collect::<Result<Vec<_>, _>>()?;
    let result = propagation::ask(&domain, &resolvers, args.timeout).await;
    let mut out = anstream::stdout().lock();
    match args.format {
        RecordFormat::Json => {
            let list: Vec<_> = result
                .answers
                .iter()
                .map(|a| json!({ "resolver": a.resolver.to_string(), "mx": a.mx, "ttl_left": a.ttl_left }))
                .collect();
            serde_json::to_writer_pretty(
                &mut out,
                &json!({ "domain": domain, "agree": result.agree(), "answers": list }),
            )?;
            writeln!(out)?;
        }
        RecordFormat::Table => {
            for a in &result.answers {
                let ttl = a
                    .ttl_left
                    .map(|t| format!("cached {t} s more"))
                    .unwrap_or_default();
                writeln!(
                    out,
                    "{:<24} {}  {ttl}",
                    a.resolver.to_string(),
                    for_terminal(&a.mx)
                )?;
            }
            if result.agree() {
                writeln!(out, "all resolvers agree")?;
            } else {
                writeln!(
                    out,
                    "{} different answers: the change has not reached every resolver",
                    result.versions
                )?;
            }
        }
    }
    Ok(if !result.agree() {
        Code::Findings
    } else if result.any_failed() {
        Code::Indeterminate
    } else {
        Code::Clean
    })
}
