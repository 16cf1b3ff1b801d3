//! `/api/v1/users`, `/api/v1/tokens` and `/api/v1/audit-log`: who may do what, and what they did.
//! Admins only.

use crate::auth::{Admin, Authorized};
use crate::credentials;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use mxwatch_engine::now_unix;
use mxwatch_store::{AuditEntry, Role};
use serde::{Deserialize, Serialize};

#[derive(Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub name: String,
    #[schema(value_type = String)]
    pub role: Role,
    pub created_at: i64,
}

#[utoipa::path(get, path = "/api/v1/users", tag = "access",
    responses((status = 200, body = Vec<UserView>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("token" = ["admin"])))]
pub async fn users(
    State(state): State<AppState>,
    _caller: Authorized<Admin>,
) -> ApiResult<Json<Vec<UserView>>> {
    Ok(Json(
        state
            .store
            .users()
            .await?
            .into_iter()
            .map(|u| UserView {
                name: u.name,
                role: u.role,
                created_at: u.created_at,
            })
            .collect(),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub name: String,
    /// At least 12 characters.
    pub password: String,
    #[schema(value_type = String)]
    pub role: Role,
}

/// A user name: what the audit log and the login form show.
pub fn check_user_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c))
    {
        return Err(format!(
            "user name {name:?}: 1 to 64 letters, digits, '-', '_', '.' or '@'"
        ));
    }
    Ok(())
}

#[utoipa::path(post, path = "/api/v1/users", tag = "access",
    request_body(content = NewUser, content_type = "application/json"),
    responses((status = 201, body = UserView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("token" = ["admin"])))]
pub async fn add_user(
    State(state): State<AppState>,
    caller: Authorized<Admin>,
    Json(new): Json<NewUser>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    check_user_name(&new.name).map_err(ApiError::bad_request)?;
    credentials::check_password_strength(&new.password).map_err(ApiError::bad_request)?;
    if state.store.user_by_name(&new.name).await?.is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("user {} exists", new.name),
        ));
    }
    let hash = credentials::hash_password(&new.password).map_err(|e| {
        tracing::error!("hashing a password: {e}");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "hashing failed")
    })?;
    let now = now_unix();
    state
        .store
        .add_user(&new.name, &hash, new.role, now)
        .await?;
    caller
        .record(
            &state,
            "user.add",
            &new.name,
            Some(format!("role {}", new.role)),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(UserView {
            name: new.name,
            role: new.role,
            created_at: now,
        }),
    ))
}

#[utoipa::path(delete, path = "/api/v1/users/{name}", tag = "access",
    params(("name" = String, Path, description = "The user's name")),
    responses((status = 204, description = "Removed, with their sessions"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = ["admin"])))]
pub async fn remove_user(
    State(state): State<AppState>,
    caller: Authorized<Admin>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    if !state.store.remove_user(&name).await? {
        return Err(ApiError::not_found(format!("no user {name:?}")));
    }
    caller.record(&state, "user.remove", &name, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenView {
    pub id: i64,
    pub name: String,
    #[schema(value_type = String)]
    pub role: Role,
    pub created_by: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/tokens", tag = "access",
    responses((status = 200, body = Vec<TokenView>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("token" = ["admin"])))]
pub async fn tokens(
    State(state): State<AppState>,
    _caller: Authorized<Admin>,
) -> ApiResult<Json<Vec<TokenView>>> {
    Ok(Json(
        state
            .store
            .tokens()
            .await?
            .into_iter()
            .map(|t| TokenView {
                id: t.id,
                name: t.name,
                role: t.role,
                created_by: t.created_by,
                created_at: t.created_at,
                revoked_at: t.revoked_at,
            })
            .collect(),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// What the token is for (shown in the audit log), 1 to 64 characters.
    pub name: String,
    #[schema(value_type = String)]
    pub role: Role,
}

/// A token as created: the only time its secret is shown.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    pub id: i64,
    pub name: String,
    #[schema(value_type = String)]
    pub role: Role,
    /// Send as `Authorization: Bearer TOKEN`. Not stored: shown this once.
    pub token: String,
}

/// Creates a token for `created_by` and returns its ID and secret (shared with `mxwatch token create`).
pub async fn create_token(
    store: &dyn mxwatch_store::Store,
    name: &str,
    role: Role,
    created_by: &str,
) -> Result<(i64, String), String> {
    check_user_name(name).map_err(|e| e.replace("user name", "token name"))?;
    let token = credentials::new_token();
    let id = store
        .add_token(
            name,
            &credentials::digest(&token),
            role,
            created_by,
            now_unix(),
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok((id, token))
}

#[utoipa::path(post, path = "/api/v1/tokens", tag = "access",
    request_body(content = NewToken, content_type = "application/json"),
    responses((status = 201, body = CreatedToken), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)),
    security(("token" = ["admin"])))]
pub async fn add_token(
    State(state): State<AppState>,
    caller: Authorized<Admin>,
    Json(new): Json<NewToken>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    let (id, token) = create_token(state.store.as_ref(), &new.name, new.role, &caller.actor)
        .await
        .map_err(ApiError::bad_request)?;
    caller
        .record(
            &state,
            "token.create",
            &new.name,
            Some(format!("role {}", new.role)),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            id,
            name: new.name,
            role: new.role,
            token,
        }),
    ))
}

#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "access",
    params(("id" = i64, Path, description = "The token's ID")),
    responses((status = 204, description = "Revoked"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = ["admin"])))]
pub async fn revoke_token(
    State(state): State<AppState>,
    caller: Authorized<Admin>,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    if !state.store.revoke_token(id, now_unix()).await? {
        return Err(ApiError::not_found(format!("no live token #{id}")));
    }
    caller
        .record(&state, "token.revoke", &id.to_string(), None)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Entries at or after this Unix time. Default: all.
    pub since: Option<i64>,
    /// At most this many, newest first. Default: 500, at most 10000.
    pub limit: Option<u32>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AuditView {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: Option<String>,
    pub source: String,
}

impl From<AuditEntry> for AuditView {
    fn from(e: AuditEntry) -> AuditView {
        AuditView {
            id: e.id,
            at: e.at,
            actor: e.actor,
            action: e.action,
            target: e.target,
            detail: e.detail,
            source: e.source,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/audit-log", tag = "access", params(AuditQuery),
    responses((status = 200, body = Vec<AuditView>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("token" = ["admin"])))]
pub async fn audit_log(
    State(state): State<AppState>,
    _caller: Authorized<Admin>,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<Vec<AuditView>>> {
    let limit = i64::from(q.limit.unwrap_or(500).clamp(1, 10_000));
    Ok(Json(
        state
            .store
            .audit_log(q.since.unwrap_or(0), limit)
            .await?
            .into_iter()
            .map(AuditView::from)
            .collect(),
    ))
}
