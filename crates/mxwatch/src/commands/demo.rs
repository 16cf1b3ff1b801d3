//! `mxwatch demo`: the lab's domains, audited through the lab's own resolver on loopback.

use super::audit::{self, Audit};
use crate::cli::DemoArgs;
use crate::cli::Format;
use crate::exit::Code;
use anyhow::Context;
use mxwatch_core::parse_domain_input;
use mxwatch_lab::{LabDns, expectations};

pub async fn run(args: DemoArgs) -> anyhow::Result<Code> {
    let lab = LabDns::start_builtin()
        .await
        .context("starting the lab DNS server on 127.0.0.1")?;
    let domains = expectations()
        .iter()
        .map(|e| parse_domain_input(&e.domain))
        .collect::<Result<Vec<_>, _>>()
        .context("the lab's domain list")?;
    if args.audit.format == Format::Table {
        anstream::eprintln!(
            "mxwatch demo: {} lab domains, resolved through the lab resolver on {} (loopback only).\n\
             The same audit on your own domains: mxwatch check example.com\n",
            domains.len(),
            lab.addr
        );
    }
    audit::run(
        Audit {
            resolver: lab.addr,
            lab: true,
        },
        &args.audit,
        domains,
    )
    .await?;
    // The lab is broken on purpose; the demo itself succeeded.
    Ok(Code::Clean)
}
