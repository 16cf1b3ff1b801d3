//! `mxwatch headers FILE|-`: the Received chain of one message, the hop where it
//! entered the recipient domain's MX, and its Authentication-Results as received.
//!
//! Exit 0 when read (whatever the hops say), 1 when the message reached a host of
//! the recipient domain without passing any of its MX (a bypass), 2 for usage or
//! unreadable input, 3 when DNS could not say which hop is the MX.

use crate::cli::{HeadersArgs, RecordFormat};
use crate::exit::{Code, UsageError};
use crate::output::headers as render;
use anyhow::Context;
use mxwatch_core::headers::recipient::{self, RecipientDomain};
use mxwatch_core::headers::{self, MAX_INPUT_BYTES, MxEntry};
use mxwatch_core::sanitize::{for_terminal, json_for_terminal};
use mxwatch_engine::resolver;
use mxwatch_lab::{Behaviour, LabDns, LabZones};
use mxwatch_probe::{Dns, DnsOptions};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;

pub async fn run(args: HeadersArgs) -> anyhow::Result<Code> {
    let bytes = read_limited(&args.input)?;
    let parsed = headers::parse(&bytes).map_err(|e| UsageError(e.to_string()))?;
    let domain = match &args.domain {
        Some(text) => Some(RecipientDomain {
            domain: mxwatch_core::parse_domain_input(text)
                .map_err(|e| {
                    UsageError(format!(
                        "--domain {:?} is not a domain name: {e}",
                        for_terminal(text)
                    ))
                })?
                .domain
                .ascii,
            source: "--domain".into(),
        }),
        None => recipient::choose(&parsed.recipients),
    };
    let resolution = match (&domain, args.no_resolve) {
        (Some(domain), false) => {
            // The lab, when asked for, lives until the lookups are done.
            let (addr, _lab) = resolver_address(&args).await?;
            let mut options = DnsOptions::new(addr);
            options.timeout = args.timeout;
            let dns = Dns::new(options);
            Some(mxwatch_probe::trace::resolve_mx_hops(&dns, &domain.domain, &parsed.hops).await)
        }
        _ => None,
    };
    let analysis = headers::analyse(parsed, domain, resolution);
    let mut out = anstream::stdout().lock();
    match args.format {
        RecordFormat::Json => {
            let text = serde_json::to_string_pretty(&analysis)?;
            writeln!(out, "{}", json_for_terminal(&text))?;
        }
        RecordFormat::Table => {
            let name = if args.input.as_os_str() == "-" {
                "(stdin)".to_string()
            } else {
                args.input.display().to_string()
            };
            write!(out, "{}", render::table(&analysis, &name, args.raw))?;
        }
    }
    Ok(match analysis.mx_entry {
        MxEntry::Bypassed { .. } => Code::Findings,
        MxEntry::Indeterminate { .. } => Code::Indeterminate,
        _ => Code::Clean,
    })
}

/// The whole input, refused past the limit without reading more than one byte beyond it.
fn read_limited(path: &Path) -> anyhow::Result<Vec<u8>> {
    let reader: Box<dyn Read> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(
            std::fs::File::open(path)
                .map_err(|e| UsageError(format!("cannot read {}: {e}", path.display())))?,
        )
    };
    let mut bytes = Vec::new();
    reader
        .take(MAX_INPUT_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| UsageError(format!("cannot read {}: {e}", path.display())))?;
    if bytes.len() > MAX_INPUT_BYTES {
        return Err(UsageError(format!(
            "{} is larger than {MAX_INPUT_BYTES} bytes (10 MiB): give the message's header section only",
            path.display()
        ))
        .into());
    }
    Ok(bytes)
}

async fn resolver_address(args: &HeadersArgs) -> anyhow::Result<(SocketAddr, Option<LabDns>)> {
    if args.demo_lab {
        let zones = LabZones::builtin().context("the lab's zones")?;
        let lab = LabDns::start(zones, Behaviour::Resolver, "127.0.0.1".parse()?)
            .await
            .context("starting the lab resolver on 127.0.0.1")?;
        return Ok((lab.addr, Some(lab)));
    }
    Ok((resolver::choose(args.resolver.as_deref())?, None))
}
