//! `mxwatch propagation DOMAIN --resolver A --resolver B …`: what each resolver
//! serves for the domain's MX right now, and how long its cached copy has left.
//! Exit 0 when every resolver agrees, 1 when they differ, 3 when one could not answer.

use crate::cli::{PropagationArgs, RecordFormat};
use crate::exit::{Code, UsageError};
use mxwatch_core::Lookup;
use mxwatch_core::sanitize::for_terminal;
use mxwatch_engine::resolver::parse_resolver;
use mxwatch_probe::{Dns, DnsOptions};
use serde_json::json;
use std::collections::BTreeMap;
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
    // One Dns per resolver: separate caches, so each answer is that resolver's own.
    let answers = futures_util::future::join_all(resolvers.iter().map(|addr| {
        let domain = domain.clone();
        let timeout = args.timeout;
        async move {
            let mut options = DnsOptions::new(*addr);
            options.timeout = timeout;
            (addr.to_string(), Dns::new(options).mx(&domain).await)
        }
    }))
    .await;
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut failed = false;
    let mut rows = Vec::new();
    for (resolver, lookup) in &answers {
        let (set, ttl) = match lookup {
            Lookup::Observed { value, ttl, .. } => {
                let mut set: Vec<String> = value
                    .iter()
                    .map(|r| format!("{} {}", r.preference, r.exchange))
                    .collect();
                set.sort();
                (set.join(", "), Some(*ttl))
            }
            other => {
                if other.is_failed() {
                    failed = true;
                }
                (format!("({})", other.outcome_label()), None)
            }
        };
        if !lookup.is_failed() {
            groups
                .entry(set.clone())
                .or_default()
                .push(resolver.clone());
        }
        rows.push((resolver.clone(), set, ttl));
    }
    let agree = groups.len() <= 1;
    let mut out = anstream::stdout().lock();
    match args.format {
        RecordFormat::Json => {
            let list: Vec<_> = rows
                .iter()
                .map(|(r, set, ttl)| json!({ "resolver": r, "mx": set, "ttl_left": ttl }))
                .collect();
            serde_json::to_writer_pretty(
                &mut out,
                &json!({ "domain": domain, "agree": agree, "answers": list }),
            )?;
            writeln!(out)?;
        }
        RecordFormat::Table => {
            for (resolver, set, ttl) in &rows {
                let ttl = ttl
                    .map(|t| format!("cached {t} s more"))
                    .unwrap_or_default();
                writeln!(out, "{resolver:<24} {}  {ttl}", for_terminal(set))?;
            }
            if agree {
                writeln!(out, "all resolvers agree")?;
            } else {
                writeln!(
                    out,
                    "{} different answers: the change has not reached every resolver",
                    groups.len()
                )?;
            }
        }
    }
    Ok(if !agree {
        Code::Findings
    } else if failed {
        Code::Indeterminate
    } else {
        Code::Clean
    })
}
