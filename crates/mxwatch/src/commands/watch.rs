//! `mxwatch watch`: from flags or a TOML file to a running [`Watcher`].

use super::audit::{self, Audit};
use crate::cli::{AuditArgs, Format, WatchArgs};
use crate::config::{AlertConfig, Config, Defaults, DomainConfig, SinkKind, duration};
use crate::exit::{Code, UsageError};
use crate::resolver;
use crate::watch::{Entry, Watcher};
use mxwatch_core::Severity;
use mxwatch_probe::smtp::TrustRoots;
use mxwatch_store::SqliteStore;
use std::sync::Arc;

pub async fn run(args: WatchArgs) -> anyhow::Result<Code> {
    let mut config = match &args.config {
        Some(path) => Config::load(path).map_err(UsageError)?,
        None => quick_start(&args)?,
    };
    if let Some(db) = &args.db {
        config.db = db.clone();
    }
    let d = &config.defaults;
    let resolver = resolver::choose(d.resolver.as_deref())?;
    let confirm_resolver = match &d.confirm_resolver {
        Some(text) => resolver::parse_resolver(text)?,
        None => resolver,
    };
    let extra: Vec<&std::path::Path> = d.ca_file.iter().map(|p| p.as_path()).collect();
    let roots = TrustRoots::load(&extra).map_err(|e| UsageError(format!("ca_file: {e}")))?;
    let audit_args = AuditArgs {
        format: Format::Json,
        fail_on: Severity::High,
        timeout: duration(&d.dns_timeout, "dns_timeout")
            .map_err(UsageError)?
            .as_secs_f64(),
        no_probe: !d.probe,
        concurrency: 1,
        max_queries: 256,
        smtp_port: d.smtp_port,
        smtp_timeout: 20.0,
        helo: None,
        ca_file: d.ca_file.clone(),
        trust_anchor: d.trust_anchor.clone(),
        no_dnssec: !d.dnssec,
        https_port: d.https_port,
        https_timeout: 10.0,
        cert_expiry_days: 14,
        probe_relay: false,
        no_ns_check: !d.compare_nameservers,
        ns_port: d.ns_port,
        dkim_selector: vec![],
        no_dkim_guess: !d.dkim_guess,
        dnsbl: d
            .dnsbl
            .iter()
            .map(|zone| {
                crate::cli::parse_dns_label_path(zone)
                    .map_err(|e| UsageError(format!("dnsbl: {e}")))
            })
            .collect::<Result<_, _>>()?,
    };
    let lab = d.lab;
    if !d.dnssec && d.trust_anchor.is_some() {
        return Err(UsageError("trust_anchor is set but dnssec = false".into()).into());
    }
    let dnssec = if !d.dnssec {
        None
    } else {
        let anchor = match &d.trust_anchor {
            Some(path) => mxwatch_probe::dns::dnssec::TrustAnchor::from_file(path)
                .map_err(|e| UsageError(format!("trust_anchor: {e}")))?,
            None => mxwatch_probe::dns::dnssec::TrustAnchor::iana(),
        };
        Some(std::sync::Arc::new(
            mxwatch_probe::dns::dnssec::Validator::new(std::sync::Arc::new(anchor)),
        ))
    };
    let make = move |confirming: bool| {
        let audit = Audit {
            resolver: if confirming {
                confirm_resolver
            } else {
                resolver
            },
            lab,
            roots: roots.clone(),
            smtp_port: None,
            ns_port: None,
            trust_anchor: None,
            https_port: None,
        };
        audit::collector(&audit, &audit_args, dnssec.clone())
    };
    let mut entries = Vec::new();
    for domain in &config.domains {
        let parsed = mxwatch_core::parse_domain_input(&domain.name)
            .map_err(|e| UsageError(e.to_string()))?;
        let every =
            duration(domain.every.as_deref().unwrap_or(&d.every), "every").map_err(UsageError)?;
        for selector in &domain.dkim_selectors {
            crate::cli::parse_dns_label_path(selector)
                .map_err(|e| UsageError(format!("{}: dkim_selectors: {e}", domain.name)))?;
        }
        entries.push(Entry {
            config: domain.clone(),
            domain: parsed.domain,
            every,
            expectation: config
                .expectation(domain)
                .map_err(UsageError)?
                .map(Arc::new),
        });
    }
    // One watcher per database: two would record and alert every change twice.
    let lock_path = config.db.with_extension("lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| anyhow::anyhow!("opening {}: {e}", lock_path.display()))?;
    if lock.try_lock().is_err() {
        return Err(UsageError(format!(
            "another `mxwatch watch` is using {} (lock {})",
            config.db.display(),
            lock_path.display()
        ))
        .into());
    }
    let store = SqliteStore::open(&config.db)
        .await
        .map_err(|e| anyhow::anyhow!("opening {}: {e}", config.db.display()))?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(15))
        .user_agent(concat!("mxwatch/", env!("CARGO_PKG_VERSION")))
        .build()?;
    let watcher = Watcher {
        confirm_after: duration(&d.confirm_after, "confirm_after").map_err(UsageError)?,
        jitter: d.jitter,
        retention_secs: duration(&d.retention, "retention")
            .map_err(UsageError)?
            .as_secs() as i64,
        retry_after_secs: duration(&d.retry_after, "retry_after")
            .map_err(UsageError)?
            .as_secs() as i64,
        concurrency: d.concurrency.max(1),
        expiry_warning_days: 14,
        lab,
        store,
        entries,
        http,
        collector: Box::new(make),
        config,
        delivery: tokio::sync::Mutex::new(()),
    };
    watcher.run(args.once).await?;
    drop(lock);
    Ok(Code::Clean)
}

/// A configuration from the command line alone.
fn quick_start(args: &WatchArgs) -> anyhow::Result<Config> {
    if args.domains.is_empty() {
        return Err(UsageError(
            "nothing to watch: `mxwatch watch example.com …` or `--config FILE`".into(),
        )
        .into());
    }
    let mut alerts = Vec::new();
    let blank = |kind| AlertConfig {
        name: None,
        kind,
        min_severity: Severity::Low,
        url: None,
        secret: None,
        path: None,
        address: None,
        protocol: None,
        smtp_host: None,
        smtp_port: None,
        smtp_security: None,
        smtp_user: None,
        smtp_password_env: None,
        smtp_ca_file: None,
        from: None,
        to: vec![],
    };
    if let Some(url) = &args.webhook {
        alerts.push(AlertConfig {
            url: Some(url.clone()),
            secret: args.webhook_secret.clone(),
            ..blank(SinkKind::Webhook)
        });
    }
    if let Some(path) = &args.jsonl {
        alerts.push(AlertConfig {
            path: Some(path.clone()),
            ..blank(SinkKind::Jsonl)
        });
    }
    let config = Config {
        db: args.db.clone().unwrap_or_else(|| "mxwatch.db".into()),
        defaults: Defaults {
            every: args.every.clone(),
            confirm_after: args.confirm_after.clone(),
            resolver: args.resolver.clone(),
            probe: !args.no_probe,
            lab: args.lab,
            smtp_port: args.smtp_port,
            ca_file: args.ca_file.clone(),
            dnssec: !args.no_dnssec,
            trust_anchor: args.trust_anchor.clone(),
            https_port: args.https_port,
            ..Defaults::default()
        },
        domains: args
            .domains
            .iter()
            .map(|name| DomainConfig {
                name: name.clone(),
                every: None,
                expect_mx: None,
                preset: None,
                tags: vec![],
                dkim_selectors: vec![],
            })
            .collect(),
        maintenance: vec![],
        alerts,
    };
    config.validate().map_err(UsageError)?;
    Ok(config)
}
