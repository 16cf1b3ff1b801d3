//! Who may use `mxwatch serve`: users (argon2 password hashes), their sessions, API tokens
//! (stored as SHA-256 of the token) and the audit log of every state-changing action.
//!
//! The hashing itself is the server's (this crate stores what it is given); the rows are the
//! same on both backends, and the SQL is written once (`$n` parameters, which SQLite reads as
//! numbered names in order of appearance) and implemented for both by [`impl_access`].

use crate::{PgStore, Result, SqliteStore, StoreError};

/// What a user or token may do. Ordered: each role may do what the ones below it may.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything (findings, changes, the inventory).
    Viewer,
    /// Also runs checks, approves and acknowledges changes.
    Operator,
    /// Also edits the inventory, users and tokens, and reads the audit log.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(text: &str) -> std::result::Result<Role, String> {
        match text {
            "viewer" => Ok(Role::Viewer),
            "operator" => Ok(Role::Operator),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "unknown role {other:?} (viewer, operator or admin)"
            )),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

fn role(text: &str) -> Result<Role> {
    text.parse().map_err(StoreError::Corrupt)
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct User {
    pub id: i64,
    pub name: String,
    #[serde(skip)]
    pub password_hash: String,
    pub role: Role,
    pub created_at: i64,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub created_by: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// A live session: its user and the CSRF token its forms carry.
#[derive(Clone, Debug, PartialEq)]
pub struct Session {
    pub user: User,
    pub csrf: String,
    pub expires_at: i64,
}

/// One state-changing action: who, what, on what, when, from where.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    /// `user:NAME`, `token:NAME` or `cli` (a command run on the host).
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: Option<String>,
    /// The client's address (or `cli`).
    pub source: String,
}

#[async_trait::async_trait]
pub trait AccessStore: Send + Sync {
    /// Adds a user; an existing name is a database error (the unique constraint).
    async fn add_user(&self, name: &str, password_hash: &str, role: Role, now: i64) -> Result<i64>;
    async fn user_by_name(&self, name: &str) -> Result<Option<User>>;
    async fn users(&self) -> Result<Vec<User>>;
    /// Removes a user and their sessions.
    async fn remove_user(&self, name: &str) -> Result<bool>;

    async fn add_token(
        &self,
        name: &str,
        token_hash: &str,
        role: Role,
        created_by: &str,
        now: i64,
    ) -> Result<i64>;
    /// A token that is not revoked, by its hash.
    async fn token_by_hash(&self, token_hash: &str) -> Result<Option<ApiToken>>;
    async fn tokens(&self) -> Result<Vec<ApiToken>>;
    async fn revoke_token(&self, id: i64, now: i64) -> Result<bool>;

    /// Whether anyone at all can log in (serve refuses a non-loopback address otherwise).
    async fn has_credentials(&self) -> Result<bool>;

    async fn create_session(
        &self,
        id_hash: &str,
        user_id: i64,
        csrf: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<()>;
    /// A session that has not expired at `now`.
    async fn session(&self, id_hash: &str, now: i64) -> Result<Option<Session>>;
    async fn delete_session(&self, id_hash: &str) -> Result<()>;

    async fn audit(&self, entry: &AuditEntry) -> Result<()>;
    /// Entries at or after `since`, newest first, at most `limit`.
    async fn audit_log(&self, since: i64, limit: i64) -> Result<Vec<AuditEntry>>;
}

type UserRow = (i64, String, String, String, i64);
type TokenRow = (i64, String, String, String, i64, Option<i64>);
type AuditRow = (i64, i64, String, String, String, Option<String>, String);

fn user_of(r: UserRow) -> Result<User> {
    Ok(User {
        id: r.0,
        name: r.1,
        password_hash: r.2,
        role: role(&r.3)?,
        created_at: r.4,
    })
}

fn token_of(r: TokenRow) -> Result<ApiToken> {
    Ok(ApiToken {
        id: r.0,
        name: r.1,
        role: role(&r.2)?,
        created_by: r.3,
        created_at: r.4,
        revoked_at: r.5,
    })
}

fn audit_of(r: AuditRow) -> AuditEntry {
    AuditEntry {
        id: r.0,
        at: r.1,
        actor: r.2,
        action: r.3,
        target: r.4,
        detail: r.5,
        source: r.6,
    }
}

macro_rules! impl_access {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl AccessStore for $store {
            async fn add_user(&self, name: &str, password_hash: &str, role: Role, now: i64) -> Result<i64> {
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO users (name, password_hash, role, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
                )
                .bind(name)
                .bind(password_hash)
                .bind(role.as_str())
                .bind(now)
                .fetch_one(&self.pool)
                .await?;
                Ok(id)
            }

            async fn user_by_name(&self, name: &str) -> Result<Option<User>> {
                let row: Option<UserRow> = sqlx::query_as(
                    "SELECT id, name, password_hash, role, created_at FROM users WHERE name = $1",
                )
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
                row.map(user_of).transpose()
            }

            async fn users(&self) -> Result<Vec<User>> {
                let rows: Vec<UserRow> = sqlx::query_as(
                    "SELECT id, name, password_hash, role, created_at FROM users ORDER BY name",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(user_of).collect()
            }

            async fn remove_user(&self, name: &str) -> Result<bool> {
                let mut tx = self.pool.begin().await?;
                sqlx::query("DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE name = $1)")
                    .bind(name)
                    .execute(&mut *tx)
                    .await?;
                let gone = sqlx::query("DELETE FROM users WHERE name = $1")
                    .bind(name)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                Ok(gone > 0)
            }

            async fn add_token(
                &self,
                name: &str,
                token_hash: &str,
                role: Role,
                created_by: &str,
                now: i64,
            ) -> Result<i64> {
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO api_tokens (name, token_hash, role, created_by, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                )
                .bind(name)
                .bind(token_hash)
                .bind(role.as_str())
                .bind(created_by)
                .bind(now)
                .fetch_one(&self.pool)
                .await?;
                Ok(id)
            }

            async fn token_by_hash(&self, token_hash: &str) -> Result<Option<ApiToken>> {
                let row: Option<TokenRow> = sqlx::query_as(
                    "SELECT id, name, role, created_by, created_at, revoked_at FROM api_tokens \
                     WHERE token_hash = $1 AND revoked_at IS NULL",
                )
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?;
                row.map(token_of).transpose()
            }

            async fn tokens(&self) -> Result<Vec<ApiToken>> {
                let rows: Vec<TokenRow> = sqlx::query_as(
                    "SELECT id, name, role, created_by, created_at, revoked_at FROM api_tokens ORDER BY id",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(token_of).collect()
            }

            async fn revoke_token(&self, id: i64, now: i64) -> Result<bool> {
                Ok(sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                    .bind(now)
                    .bind(id)
                    .execute(&self.pool)
                    .await?
                    .rows_affected()
                    > 0)
            }

            async fn has_credentials(&self) -> Result<bool> {
                let (n,): (i64,) = sqlx::query_as(
                    "SELECT (SELECT COUNT(*) FROM users) + (SELECT COUNT(*) FROM api_tokens WHERE revoked_at IS NULL)",
                )
                .fetch_one(&self.pool)
                .await?;
                Ok(n > 0)
            }

            async fn create_session(
                &self,
                id_hash: &str,
                user_id: i64,
                csrf: &str,
                now: i64,
                expires_at: i64,
            ) -> Result<()> {
                // Expired sessions go as new ones come: no sweeper task needed.
                sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
                    .bind(now)
                    .execute(&self.pool)
                    .await?;
                sqlx::query(
                    "INSERT INTO sessions (id_hash, user_id, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(id_hash)
                .bind(user_id)
                .bind(csrf)
                .bind(now)
                .bind(expires_at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn session(&self, id_hash: &str, now: i64) -> Result<Option<Session>> {
                let row: Option<(i64, String, String, String, i64, String, i64)> = sqlx::query_as(
                    "SELECT u.id, u.name, u.password_hash, u.role, u.created_at, s.csrf, s.expires_at \
                     FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1 AND s.expires_at > $2",
                )
                .bind(id_hash)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?;
                row.map(|r| {
                    Ok(Session {
                        user: user_of((r.0, r.1, r.2, r.3, r.4))?,
                        csrf: r.5,
                        expires_at: r.6,
                    })
                })
                .transpose()
            }

            async fn delete_session(&self, id_hash: &str) -> Result<()> {
                sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
                    .bind(id_hash)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn audit(&self, e: &AuditEntry) -> Result<()> {
                sqlx::query(
                    "INSERT INTO audit_log (at, actor, action, target, detail, source) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(e.at)
                .bind(&e.actor)
                .bind(&e.action)
                .bind(&e.target)
                .bind(&e.detail)
                .bind(&e.source)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn audit_log(&self, since: i64, limit: i64) -> Result<Vec<AuditEntry>> {
                let rows: Vec<AuditRow> = sqlx::query_as(
                    "SELECT id, at, actor, action, target, detail, source FROM audit_log \
                     WHERE at >= $1 ORDER BY id DESC LIMIT $2",
                )
                .bind(since)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(audit_of).collect())
            }
        }
    };
}

impl_access!(SqliteStore);
impl_access!(PgStore);
