//! `mxwatch watch`: flags or a TOML file in, the engine's [`Watcher`] run.

use crate::cli::WatchArgs;
use crate::exit::{Code, UsageError};
use mxwatch_engine::alert::{AlertConfig, JsonlSink, SinkConfig, WebhookSink};
use mxwatch_engine::config::{Config, Defaults, DomainConfig, MonitorDefaults};
use mxwatch_engine::monitor::{StoreLock, Watcher};
use mxwatch_engine::resolver::parse_resolver;
use mxwatch_engine::{AuditSettings, EngineError};

pub async fn run(args: WatchArgs) -> anyhow::Result<Code> {
    let mut config = match &args.config {
        Some(path) => {
            if args.settings != AuditSettings::default() {
                return Err(UsageError(
                    "audit flags (--smtp-port, --no-probe, --timeout …) are for the quick start: \
                     with --config, set them in its [defaults]"
                        .into(),
                )
                .into());
            }
            Config::load(path)?
        }
        None => quick_start(&args)?,
    };
    if let Some(db) = &args.db {
        config.db = db.clone();
    }
    let lock = StoreLock::acquire(&config.db).await?;
    let store = mxwatch_store::open(&config.db).await.map_err(|e| {
        anyhow::Error::from(EngineError::Store(e)).context(format!("opening {}", config.db))
    })?;
    let watcher = Watcher::new(config, store)?;
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
    if let Some(url) = &args.webhook {
        alerts.push(AlertConfig::new(SinkConfig::Webhook(WebhookSink {
            url: url.clone(),
            secret: args.webhook_secret.clone(),
        })));
    }
    if let Some(path) = &args.jsonl {
        alerts.push(AlertConfig::new(SinkConfig::Jsonl(JsonlSink {
            path: path.clone(),
        })));
    }
    let resolver = args.resolver.as_deref().map(parse_resolver).transpose()?;
    let config = Config {
        db: args
            .db
            .clone()
            .unwrap_or_else(|| "mxwatch.db".parse().expect("a path")),
        defaults: Defaults {
            monitor: MonitorDefaults {
                every: args.every,
                confirm_after: args.confirm_after,
                resolver,
                lab: args.lab,
                ..MonitorDefaults::default()
            },
            audit: args.settings.clone(),
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
    for alert in &config.alerts {
        alert
            .sink
            .validate(&alert.sink_name())
            .map_err(UsageError)?;
    }
    Ok(config)
}
