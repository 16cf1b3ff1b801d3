//! `mxwatch check DOMAIN --zone FILE…`: pre-flight of a zone change.

use crate::cli::CheckArgs;
use crate::exit::{Code, UsageError, Verdict};
use crate::output;
use mxwatch_core::ParsedInput;
use mxwatch_engine::preflight::{load_zones, preflight};
use mxwatch_engine::{Auditor, Target, resolver};

pub async fn run(args: CheckArgs, domains: Vec<ParsedInput>) -> anyhow::Result<Code> {
    let [input] = domains.as_slice() else {
        return Err(UsageError(format!(
            "--zone checks one domain ({} given): `mxwatch check example.com --zone example.com.zone`",
            domains.len()
        ))
        .into());
    };
    // Every file read and parsed before any network traffic: a bad one is exit 2.
    let overlay = load_zones(&args.zones, &input.domain, args.offline)?;
    let resolver = if args.offline {
        // Never asked: offline, every name outside the zones is "could not determine".
        std::net::SocketAddr::from(([127, 0, 0, 1], 53))
    } else {
        resolver::choose(args.resolver.as_deref())?
    };
    let auditor = Auditor::new(Target::new(resolver, args.lab), args.audit.settings)?;
    let outcome = preflight(&auditor, &input.domain, overlay).await;
    output::preflight::print(args.audit.format, &outcome)?;
    let mut verdict = Verdict::new(args.audit.fail_on);
    verdict.add(&outcome.proposed);
    verdict.add_findings(&outcome.consequences);
    Ok(verdict.code())
}
