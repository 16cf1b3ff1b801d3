//! `mxwatch token …` and `mxwatch user …`: who may use `serve`, managed on the host (each
//! action lands in the audit log as actor `cli`).

use crate::cli::{StoreArgs, TokenCommand, UserCommand};
use crate::exit::{Code, UsageError};
use mxwatch_engine::config::Config;
use mxwatch_engine::{EngineError, now_unix};
use mxwatch_server::api::access::{check_user_name, create_token};
use mxwatch_server::credentials::{check_password_strength, hash_password};
use mxwatch_store::{AuditEntry, Store, StoreUrl};
use std::io::BufRead;
use std::sync::Arc;

/// The store a command names: `--db`, else the configuration's `db`, else `mxwatch.db`.
pub fn store_url(args: &StoreArgs) -> anyhow::Result<StoreUrl> {
    Ok(match (&args.db, &args.config) {
        (Some(db), _) => db.clone(),
        (None, Some(path)) => Config::load(path)?.db,
        (None, None) => "mxwatch.db".parse().map_err(UsageError)?,
    })
}

async fn open(args: &StoreArgs) -> anyhow::Result<Arc<dyn Store>> {
    let url = store_url(args)?;
    mxwatch_store::open(&url)
        .await
        .map_err(|e| anyhow::Error::from(EngineError::Store(e)).context(format!("opening {url}")))
}

async fn record(
    store: &dyn Store,
    action: &str,
    target: &str,
    detail: Option<String>,
) -> anyhow::Result<()> {
    store
        .audit(&AuditEntry {
            id: 0,
            at: now_unix(),
            actor: "cli".into(),
            action: action.into(),
            target: target.into(),
            detail,
            source: "cli".into(),
        })
        .await
        .map_err(EngineError::Store)?;
    Ok(())
}

pub async fn token(command: TokenCommand) -> anyhow::Result<Code> {
    match command {
        TokenCommand::Create { role, name, store } => {
            let store = open(&store).await?;
            let (id, token) = create_token(store.as_ref(), &name, role, "cli")
                .await
                .map_err(UsageError)?;
            record(
                store.as_ref(),
                "token.create",
                &name,
                Some(format!("role {role}")),
            )
            .await?;
            eprintln!("token #{id} ({role}) created; it is shown once, keep it now:");
            println!("{token}");
        }
        TokenCommand::List { store } => {
            for t in open(&store)
                .await?
                .tokens()
                .await
                .map_err(EngineError::Store)?
            {
                println!(
                    "#{}\t{}\t{}\tcreated {} by {}{}",
                    t.id,
                    t.role,
                    mxwatch_core::sanitize::for_terminal(&t.name),
                    mxwatch_engine::config::rfc3339(t.created_at),
                    t.created_by,
                    t.revoked_at
                        .map(|r| format!("\trevoked {}", mxwatch_engine::config::rfc3339(r)))
                        .unwrap_or_default()
                );
            }
        }
        TokenCommand::Revoke { id, store } => {
            let store = open(&store).await?;
            if !store
                .revoke_token(id, now_unix())
                .await
                .map_err(EngineError::Store)?
            {
                return Err(UsageError(format!("no live token #{id}")).into());
            }
            record(store.as_ref(), "token.revoke", &id.to_string(), None).await?;
            eprintln!("token #{id} revoked");
        }
    }
    Ok(Code::Clean)
}

/// The new user's password: $MXWATCH_PASSWORD, else the first line of standard input.
fn read_password() -> anyhow::Result<String> {
    if let Ok(password) = std::env::var("MXWATCH_PASSWORD") {
        return Ok(password);
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

pub async fn user(command: UserCommand) -> anyhow::Result<Code> {
    match command {
        UserCommand::Add { name, role, store } => {
            check_user_name(&name).map_err(UsageError)?;
            let password = read_password()?;
            check_password_strength(&password).map_err(UsageError)?;
            let store = open(&store).await?;
            if store
                .user_by_name(&name)
                .await
                .map_err(EngineError::Store)?
                .is_some()
            {
                return Err(UsageError(format!("user {name} exists")).into());
            }
            let hash = hash_password(&password).map_err(|e| anyhow::anyhow!("hashing: {e}"))?;
            store
                .add_user(&name, &hash, role, now_unix())
                .await
                .map_err(EngineError::Store)?;
            record(
                store.as_ref(),
                "user.add",
                &name,
                Some(format!("role {role}")),
            )
            .await?;
            eprintln!("user {name} ({role}) added");
        }
        UserCommand::List { store } => {
            for u in open(&store)
                .await?
                .users()
                .await
                .map_err(EngineError::Store)?
            {
                println!(
                    "{}\t{}\tsince {}",
                    u.name,
                    u.role,
                    mxwatch_engine::config::rfc3339(u.created_at)
                );
            }
        }
        UserCommand::Remove { name, store } => {
            let store = open(&store).await?;
            if !store.remove_user(&name).await.map_err(EngineError::Store)? {
                return Err(UsageError(format!("no user {name:?}")).into());
            }
            record(store.as_ref(), "user.remove", &name, None).await?;
            eprintln!("user {name} removed");
        }
    }
    Ok(Code::Clean)
}
