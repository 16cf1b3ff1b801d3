//! The audit pipeline shared by `check` and `demo`: domains in, reports out, in input order.

use crate::cli::AuditArgs;
use crate::exit::{Code, Verdict};
use crate::output;
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use mxwatch_core::{CheckContext, ParsedInput, Report};
use mxwatch_probe::mta_sts::MtaStsOptions;
use mxwatch_probe::smtp::{SmtpOptions, SmtpProber, TrustRoots};
use mxwatch_probe::{Collector, CollectorOptions, Dns, DnsOptions};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub struct Audit {
    pub resolver: SocketAddr,
    pub lab: bool,
    /// Trust roots for certificate checks (web PKI plus any extra CA).
    pub roots: TrustRoots,
    /// Overrides `--smtp-port` (the lab serves its hosts on a port of its own).
    pub smtp_port: Option<u16>,
    /// Overrides `--ns-port` (the lab's nameservers).
    pub ns_port: Option<u16>,
    /// Overrides `--trust-anchor`: anchor text (the lab's root, for `demo`).
    pub trust_anchor: Option<String>,
    /// Overrides `--https-port` (the lab's MTA-STS policy hosts).
    pub https_port: Option<u16>,
}

/// The DNSSEC validator: the anchor given (or the IANA root KSKs), or none with `--no-dnssec`.
pub fn validator(
    audit: &Audit,
    args: &AuditArgs,
) -> anyhow::Result<Option<Arc<mxwatch_probe::dns::dnssec::Validator>>> {
    use mxwatch_probe::dns::dnssec::{TrustAnchor, Validator};
    if args.no_dnssec {
        return Ok(None);
    }
    let anchor = match (&audit.trust_anchor, &args.trust_anchor) {
        (Some(text), _) => TrustAnchor::parse(text, "the lab root"),
        (None, Some(path)) => TrustAnchor::from_file(path),
        (None, None) => Ok(TrustAnchor::iana()),
    }
    .map_err(|e| crate::exit::UsageError(format!("--trust-anchor: {e}")))?;
    Ok(Some(Arc::new(Validator::new(Arc::new(anchor)))))
}

/// The web PKI roots plus each `--ca-file`.
pub fn roots(args: &AuditArgs) -> anyhow::Result<TrustRoots> {
    let extra: Vec<&std::path::Path> = args.ca_file.iter().map(|p| p.as_path()).collect();
    TrustRoots::load(&extra).map_err(|e| crate::exit::UsageError(format!("--ca-file: {e}")).into())
}

pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub async fn run(
    audit: Audit,
    args: &AuditArgs,
    domains: Vec<ParsedInput>,
) -> anyhow::Result<Code> {
    let collector = collector(&audit, args, validator(&audit, args)?);
    let ctx = check_context(audit.lab, args);

    let progress = progress_bar(domains.len());
    let mut sink = output::sink(args.format)?;
    sink.begin()?;
    let mut verdict = Verdict::new(args.fail_on);
    let mut reports = futures_util::stream::iter(domains)
        .map(|input| {
            let collector = collector.clone();
            let ctx = ctx.clone();
            async move {
                let observation = collector.observe(&input.domain).await;
                Report::new(observation, &ctx, input.notes)
            }
        })
        .buffered(usize::from(args.concurrency));
    while let Some(report) = reports.next().await {
        progress.inc(1);
        verdict.add(&report);
        progress.suspend(|| sink.report(&report))?;
    }
    progress.finish_and_clear();
    sink.finish()?;
    tracing::info!(
        queries = collector.dns().queries_sent(),
        cached = collector.dns().cached_entries(),
        "audit finished"
    );
    Ok(verdict.code())
}

/// A progress bar on stderr for long runs; hidden when stderr is not a terminal.
fn progress_bar(total: usize) -> ProgressBar {
    if total < 2 {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total as u64);
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} {pos}/{len} domains {wide_bar} {eta}")
    {
        bar.set_style(style);
    }
    bar
}

/// The collector an audit (or a watch) uses: one DNS cache, one SMTP prober.
pub fn collector(
    audit: &Audit,
    args: &AuditArgs,
    dnssec: Option<Arc<mxwatch_probe::dns::dnssec::Validator>>,
) -> Collector {
    let mut options = DnsOptions::new(audit.resolver);
    options.timeout = Duration::from_secs_f64(args.timeout);
    options.max_in_flight = usize::from(args.max_queries);
    let smtp = (!args.no_probe).then(|| {
        let options = SmtpOptions {
            port: audit.smtp_port.unwrap_or(args.smtp_port),
            total_timeout: Duration::from_secs_f64(args.smtp_timeout),
            connect_timeout: Duration::from_secs_f64(args.smtp_timeout.min(10.0)),
            reply_timeout: Duration::from_secs_f64(args.smtp_timeout.min(15.0)),
            helo: args.helo.clone(),
            probe_relay: args.probe_relay,
            ..SmtpOptions::default()
        };
        Arc::new(SmtpProber::new(options, audit.roots.clone()))
    });
    Collector::new(
        Arc::new(Dns::new(options)),
        CollectorOptions {
            lab: audit.lab,
            smtp,
            nameservers: (!args.no_ns_check).then(|| audit.ns_port.unwrap_or(args.ns_port)),
            mail_auth: mxwatch_probe::mail_auth::MailAuthOptions {
                dkim_selectors: args.dkim_selector.clone(),
                guess_dkim: !args.no_dkim_guess,
                dnsbl_zones: args.dnsbl.clone(),
            },
            dnssec,
            // The policy fetch is a probe of its own: `--no-probe` skips it (MTASTS-TXT-SYNTAX still runs).
            mta_sts: (!args.no_probe).then(|| MtaStsOptions {
                port: audit.https_port.unwrap_or(args.https_port),
                connect_timeout: Duration::from_secs_f64(args.https_timeout.min(10.0)),
                total_timeout: Duration::from_secs_f64(args.https_timeout),
                roots: audit.roots.clone(),
            }),
        },
    )
}

/// The checks' context: lab mode, the clock, the expiry window.
pub fn check_context(lab: bool, args: &AuditArgs) -> CheckContext {
    CheckContext {
        expected_mx: None,
        lab,
        now_unix: now_unix(),
        expiry_warning_days: args.cert_expiry_days,
    }
}
