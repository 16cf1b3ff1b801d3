//! `/api/v1/changes`: the feed across the inventory; approve (with a note) or acknowledge.

use crate::auth::{Authorized, Caller, Operator, Viewer};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, Query, State};
use mxwatch_engine::now_unix;
use mxwatch_store::AnnotatedChange;
use serde::{Deserialize, Serialize};

/// Longest approval note kept.
pub const MAX_NOTE: usize = 1000;

/// A recorded change with what was said about it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ChangeView {
    pub id: i64,
    pub domain: String,
    /// `mx-added`, `address-changed`, … (see docs/watch.md).
    pub kind: String,
    pub subject: String,
    pub severity: String,
    pub old: Option<String>,
    pub new: Option<String>,
    pub first_seen: i64,
    pub confirmed_at: i64,
    /// Why it was expected (a maintenance window, the expected MX, an approval); none: unexpected.
    pub expected: Option<String>,
    pub approved_by: Option<String>,
    pub note: Option<String>,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<i64>,
    /// When it went back to how it was; none while open.
    pub resolved_at: Option<i64>,
}

impl From<AnnotatedChange> for ChangeView {
    fn from(a: AnnotatedChange) -> ChangeView {
        let c = a.change;
        ChangeView {
            id: c.id,
            domain: c.domain,
            kind: c.kind.as_str().into(),
            subject: c.subject,
            severity: c.severity.as_str().into(),
            old: c.old,
            new: c.new,
            first_seen: c.first_seen,
            confirmed_at: c.confirmed_at,
            expected: c.expected,
            approved_by: c.approved_by,
            note: a.note,
            acknowledged_by: a.acknowledged_by,
            acknowledged_at: a.acknowledged_at,
            resolved_at: c.resolved_at,
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChangesQuery {
    /// Changes confirmed at or after this Unix time. Default: 30 days ago.
    pub since: Option<i64>,
    /// Only this domain's.
    pub domain: Option<String>,
    /// Only the unexpected ones (not expected, not approved).
    pub unexpected: Option<bool>,
    /// At most this many, newest first. Default: 200, at most 5000.
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/changes", tag = "changes", params(ChangesQuery),
    responses((status = 200, body = Vec<ChangeView>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("token" = ["viewer"])))]
pub async fn list(
    State(state): State<AppState>,
    _caller: Authorized<Viewer>,
    Query(q): Query<ChangesQuery>,
) -> ApiResult<Json<Vec<ChangeView>>> {
    Ok(Json(feed(&state, &q).await?))
}

pub async fn feed(state: &AppState, q: &ChangesQuery) -> ApiResult<Vec<ChangeView>> {
    let domain = match q.domain.as_deref().filter(|d| !d.is_empty()) {
        Some(d) => Some(crate::api::domains::domain_key(d)?),
        None => None,
    };
    let since = q.since.unwrap_or_else(|| now_unix() - 30 * 86_400);
    let limit = i64::from(q.limit.unwrap_or(200).clamp(1, 5000));
    Ok(state
        .store
        .annotated_changes(since, domain.as_deref(), limit)
        .await?
        .into_iter()
        .map(ChangeView::from)
        .filter(|c| !q.unexpected.unwrap_or(false) || c.expected.is_none())
        .collect())
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct ApproveBody {
    /// Why the change is fine (kept with it, at most 1000 characters).
    pub note: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/changes/{id}/approve", tag = "changes",
    params(("id" = i64, Path, description = "The change's ID")),
    request_body(content = ApproveBody, content_type = "application/json"),
    responses((status = 200, body = ChangeView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = ["operator"])))]
pub async fn approve(
    State(state): State<AppState>,
    caller: Authorized<Operator>,
    Path(id): Path<i64>,
    body: Option<Json<ApproveBody>>,
) -> ApiResult<Json<ChangeView>> {
    let note = body.and_then(|Json(b)| b.note);
    Ok(Json(
        approve_change(&state, &caller, id, note.as_deref()).await?,
    ))
}

pub async fn approve_change(
    state: &AppState,
    caller: &Caller,
    id: i64,
    note: Option<&str>,
) -> ApiResult<ChangeView> {
    let note = note.map(str::trim).filter(|n| !n.is_empty());
    if note.is_some_and(|n| n.chars().count() > MAX_NOTE) {
        return Err(ApiError::bad_request(format!(
            "a note has at most {MAX_NOTE} characters"
        )));
    }
    if !state.store.approve(id, &caller.actor, now_unix()).await? {
        return Err(ApiError::not_found(format!("no change #{id}")));
    }
    if let Some(note) = note {
        state.store.set_change_note(id, note).await?;
    }
    caller
        .record(
            state,
            "change.approve",
            &id.to_string(),
            note.map(str::to_string),
        )
        .await?;
    one(state, id).await
}

#[utoipa::path(post, path = "/api/v1/changes/{id}/acknowledge", tag = "changes",
    params(("id" = i64, Path, description = "The change's ID")),
    responses((status = 200, body = ChangeView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = ["operator"])))]
pub async fn acknowledge(
    State(state): State<AppState>,
    caller: Authorized<Operator>,
    Path(id): Path<i64>,
) -> ApiResult<Json<ChangeView>> {
    Ok(Json(acknowledge_change(&state, &caller, id).await?))
}

pub async fn acknowledge_change(
    state: &AppState,
    caller: &Caller,
    id: i64,
) -> ApiResult<ChangeView> {
    if !state
        .store
        .acknowledge(id, &caller.actor, now_unix())
        .await?
    {
        return Err(ApiError::not_found(format!("no change #{id}")));
    }
    caller
        .record(state, "change.acknowledge", &id.to_string(), None)
        .await?;
    one(state, id).await
}

async fn one(state: &AppState, id: i64) -> ApiResult<ChangeView> {
    state
        .store
        .annotated_change(id)
        .await?
        .map(ChangeView::from)
        .ok_or_else(|| ApiError::not_found(format!("no change #{id}")))
}
