//! `mxwatch demo`: the lab's domains, audited through the lab's own resolver
//! and SMTP hosts on loopback.

use super::audit;
use crate::cli::{DemoArgs, Format};
use crate::exit::Code;
use anyhow::Context;
use mxwatch_core::parse_domain_input;
use mxwatch_engine::{LabOverrides, Target};
use mxwatch_lab::{Lab, lab_domains};

pub async fn run(args: DemoArgs) -> anyhow::Result<Code> {
    let lab = Lab::start()
        .await
        .context("starting the lab on 127.0.0.0/8")?;
    let domains = lab_domains()
        .iter()
        .map(|d| parse_domain_input(d))
        .collect::<Result<Vec<_>, _>>()
        .context("the lab's domain list")?;
    if args.audit.format == Format::Table {
        anstream::eprintln!(
            "mxwatch demo: {} lab domains; DNS from the lab resolver on {}, SMTP hosts on 127.0.x.x port {}\n\
             MTA-STS policy hosts on 127.44.x.x port {}\n\
             (loopback only). Some lab hosts are slow or silent on purpose: allow {} s.\n\
             The same audit on your own domains: mxwatch check example.com\n",
            domains.len(),
            lab.dns.addr,
            lab.smtp.port,
            lab.https.port,
            args.audit.settings.smtp_timeout.as_secs_f64()
        );
    }
    let target = lab_target(&lab);
    audit::run(target, args.audit, domains).await?;
    // The lab is broken on purpose; the demo itself succeeded.
    Ok(Code::Clean)
}

/// Where an audit of the built-in lab goes: its resolver, ports, root anchor and CA
/// (`demo`, `serve --demo`).
pub(crate) fn lab_target(lab: &Lab) -> Target {
    Target {
        resolver: lab.dns.addr,
        more_resolvers: vec![],
        lab: true,
        lab_overrides: Some(LabOverrides {
            smtp_port: lab.smtp.port,
            ns_port: lab.ns_port,
            https_port: lab.https.port,
            trust_anchor: lab.dns.trust_anchor(),
            ca_der: lab.pki.ca_der().to_vec(),
            rdap_url: Some(lab.rdap.url()),
        }),
    }
}
