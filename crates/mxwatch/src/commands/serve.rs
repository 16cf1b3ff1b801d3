//! `mxwatch serve`: the engine's watcher and the HTTP server (dashboard, JSON API, metrics) on
//! one store, until SIGTERM or ctrl-c: the server finishes the requests in flight, the watcher
//! abandons the cycles in flight (each is one transaction: nothing is half-written).

use crate::cli::ServeArgs;
use crate::exit::{Code, UsageError};
use anyhow::Context;
use mxwatch_engine::config::{Config, Defaults, DomainConfig, MonitorDefaults};
use mxwatch_engine::monitor::{StoreLock, Watcher, shutdown_signal};
use mxwatch_engine::{EngineError, Target, now_unix};
use mxwatch_server::{AppState, app, check_listen, credentials, metrics_handle};
use mxwatch_store::{Role, StoreUrl};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub async fn run(args: ServeArgs) -> anyhow::Result<Code> {
    // Kept alive for the whole run: the lab's servers (demo) answer while it lives.
    let mut _lab = None;
    let (config, target) = match &args.config {
        Some(path) => {
            let mut config = Config::load(path)?;
            if let Some(db) = &args.db {
                config.db = db.clone();
            }
            (config, None)
        }
        None => {
            let lab = mxwatch_lab::Lab::start()
                .await
                .context("starting the lab on 127.0.0.0/8")?;
            let (config, target) = demo_config(&lab, args.db.clone())?;
            _lab = Some(lab);
            (config, Some(target))
        }
    };
    // --no-watch: the inventory is run elsewhere (workers, or a `watch`), so no lock is held.
    let lock = match args.no_watch {
        true => None,
        false => Some(StoreLock::acquire(&config.db).await?),
    };
    let store = mxwatch_store::open(&config.db).await.map_err(|e| {
        anyhow::Error::from(EngineError::Store(e)).context(format!("opening {}", config.db))
    })?;
    if args.demo {
        let password = credentials::random_secret()[..20].to_string();
        if store
            .user_by_name("demo")
            .await
            .map_err(EngineError::Store)?
            .is_none()
        {
            let hash = credentials::hash_password(&password).map_err(|e| anyhow::anyhow!(e))?;
            store
                .add_user("demo", &hash, Role::Admin, now_unix())
                .await
                .map_err(EngineError::Store)?;
            eprintln!("mxwatch serve --demo: log in as demo / {password}");
        }
    }
    let has_credentials = store.has_credentials().await.map_err(EngineError::Store)?;
    check_listen(&args.listen, has_credentials).map_err(UsageError)?;
    let db = config.db.clone();
    let watcher = Arc::new(match target {
        Some(target) => Watcher::with_target(config, store.clone(), target)?,
        None => Watcher::new(config, store.clone())?,
    });
    // The inventory on the schedule before the first request: the overview lists every domain
    // from the start (unchecked until the watcher gets to it).
    watcher.refresh_inventory().await?;
    let running = Arc::new(AtomicBool::new(true));
    let mut state = AppState::new(store, watcher.clone(), running.clone(), metrics_handle());
    // `/workers` lists the `mxwatch worker`s of a PostgreSQL database (SQLite has none).
    if let StoreUrl::Postgres(_) = &db {
        let queue = mxwatch_store::queue::open_queue(&db).await.map_err(|e| {
            anyhow::Error::from(EngineError::Store(e)).context(format!("opening {db}"))
        })?;
        state = state.with_work_queue(Arc::new(queue));
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let address = listener.local_addr()?;
    eprintln!("mxwatch serve: http://{address}/ (store {db}); ctrl-c or SIGTERM stops it");
    if !has_credentials {
        eprintln!(
            "mxwatch serve: nobody can log in yet: `mxwatch user add NAME --role admin --db {db}` \
             or `mxwatch token create --role viewer --db {db}`"
        );
    }

    // One signal stops both: the watcher and the server each wait on the same flag.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        let _ = stop.send(true);
    });
    let until = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let watching = (!args.no_watch).then(|| {
        let watcher = watcher.clone();
        let stopped = stopped.clone();
        tokio::spawn(async move {
            let result = watcher.run_until(false, until(stopped)).await;
            running.store(false, Ordering::Relaxed);
            if let Err(e) = &result {
                tracing::error!("the watcher stopped: {e}");
            }
            result
        })
    });
    mxwatch_server::serve(listener, app(state), until(stopped))
        .await
        .context("serving HTTP")?;
    // The watcher got the same signal; give its shutdown a moment, then leave regardless.
    if let Some(watching) = watching {
        match tokio::time::timeout(Duration::from_secs(10), watching).await {
            Ok(Ok(result)) => result?,
            Ok(Err(e)) => return Err(anyhow::anyhow!("the watcher task: {e}")),
            Err(_) => tracing::warn!("the watcher did not stop within 10 s; leaving"),
        }
    }
    drop(lock);
    Ok(Code::Clean)
}

/// The lab's domains as an inventory, audited through the lab's resolver, ports and keys.
fn demo_config(lab: &mxwatch_lab::Lab, db: Option<StoreUrl>) -> anyhow::Result<(Config, Target)> {
    let db = match db {
        Some(db) => db,
        None => {
            let dir =
                std::env::temp_dir().join(format!("mxwatch-serve-demo-{}", std::process::id()));
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            StoreUrl::Sqlite(dir.join("mxwatch.db"))
        }
    };
    let config = Config {
        db,
        defaults: Defaults {
            monitor: MonitorDefaults {
                every: Duration::from_secs(120),
                confirm_after: Duration::from_secs(2),
                resolver: Some(lab.dns.addr),
                lab: true,
                ..MonitorDefaults::default()
            },
            audit: Default::default(),
        },
        domains: mxwatch_lab::lab_domains()
            .iter()
            .map(|name| DomainConfig {
                name: name.to_string(),
                every: None,
                expect_mx: None,
                preset: None,
                tags: vec!["lab".into()],
                dkim_selectors: vec![],
            })
            .collect(),
        maintenance: vec![],
        alerts: vec![],
    };
    let target = super::demo::lab_target(lab);
    Ok((config, target))
}
