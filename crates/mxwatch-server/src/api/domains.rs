//! `/api/v1/domains`: the overview, one domain's latest audit, its history, a diff between two
//! observations, and "check now".

use crate::auth::{Authorized, Caller, Operator, Viewer};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::overview::{self, DomainPage, OverviewQuery};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use mxwatch_core::Report;
use mxwatch_engine::now_unix;
use serde::{Deserialize, Serialize};

/// A domain named in a path, as the store keys it (ASCII, lower case, no trailing dot).
pub fn domain_key(text: &str) -> ApiResult<String> {
    mxwatch_core::parse_domain_input(text)
        .map(|p| p.domain.ascii)
        .map_err(|e| ApiError::bad_request(format!("not a domain: {e}")))
}

#[utoipa::path(get, path = "/api/v1/domains", tag = "domains", params(OverviewQuery),
    responses((status = 200, body = DomainPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("token" = ["viewer"])))]
pub async fn list(
    State(state): State<AppState>,
    _caller: Authorized<Viewer>,
    Query(q): Query<OverviewQuery>,
) -> ApiResult<Json<DomainPage>> {
    Ok(Json(overview_page(&state, &q).await?))
}

pub async fn overview_page(state: &AppState, q: &OverviewQuery) -> ApiResult<DomainPage> {
    let rows = state.store.domain_rows().await?;
    let tags = overview::tags_by_domain(&state.watcher);
    overview::page(rows, &tags, q, now_unix()).map_err(ApiError::bad_request)
}

/// One domain: its overview row, the latest audit as `mxwatch check --format json` prints it,
/// its inventory settings and its open changes.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DomainDetail {
    pub summary: overview::DomainView,
    /// The latest recorded audit (the CLI's JSON report); none before the first check.
    #[schema(value_type = Option<Object>)]
    pub report: Option<serde_json::Value>,
    pub expect_mx: Option<Vec<String>>,
    pub preset: Option<String>,
    pub open_changes: Vec<crate::api::changes::ChangeView>,
}

#[utoipa::path(get, path = "/api/v1/domains/{domain}", tag = "domains",
    params(("domain" = String, Path, description = "A watched domain")),
    responses((status = 200, body = DomainDetail), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = ["viewer"])))]
pub async fn detail(
    State(state): State<AppState>,
    _caller: Authorized<Viewer>,
    Path(domain): Path<String>,
) -> ApiResult<Json<DomainDetail>> {
    Ok(Json(domain_detail(&state, &domain).await?))
}

pub async fn domain_detail(state: &AppState, domain: &str) -> ApiResult<DomainDetail> {
    let key = domain_key(domain)?;
    let row = state
        .store
        .domain_rows()
        .await?
        .into_iter()
        .find(|r| r.domain == key)
        .ok_or_else(|| ApiError::not_found(format!("{key} is not watched")))?;
    let report = match state.store.observations(&key, 1).await?.first() {
        Some(latest) => state.store.observation(latest.id).await?,
        None => None,
    };
    let inventory = state.watcher.inventory();
    let entry = inventory.entries.iter().find(|e| e.domain.ascii == key);
    let tags = overview::tags_by_domain(&state.watcher);
    let open_changes = state
        .store
        .annotated_changes(0, Some(&key), 200)
        .await?
        .into_iter()
        .filter(|c| c.change.resolved_at.is_none())
        .map(crate::api::changes::ChangeView::from)
        .collect();
    Ok(DomainDetail {
        summary: overview::view(row, &tags),
        report,
        expect_mx: entry.and_then(|e| e.config.expect_mx.clone()),
        preset: entry.and_then(|e| e.config.preset.clone()),
        open_changes,
    })
}

/// One recorded observation, summarised.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ObservationView {
    pub id: i64,
    pub observed_at: i64,
    pub status: String,
    /// Later observations were compared with this one.
    pub baseline: bool,
    pub finding_ids: Vec<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Most observations to list (newest first). Default: 100, at most 1000.
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/domains/{domain}/history", tag = "domains",
    params(("domain" = String, Path, description = "A watched domain"), HistoryQuery),
    responses((status = 200, body = Vec<ObservationView>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("token" = ["viewer"])))]
pub async fn history(
    State(state): State<AppState>,
    _caller: Authorized<Viewer>,
    Path(domain): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> ApiResult<Json<Vec<ObservationView>>> {
    let key = domain_key(&domain)?;
    let limit = i64::from(q.limit.unwrap_or(100).clamp(1, 1000));
    Ok(Json(
        state
            .store
            .observations(&key, limit)
            .await?
            .into_iter()
            .map(|o| ObservationView {
                id: o.id,
                observed_at: o.observed_at,
                status: o.status,
                baseline: o.baseline,
                finding_ids: o.finding_ids,
            })
            .collect(),
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DiffQuery {
    /// The older observation's ID (from the history).
    pub from: i64,
    /// The newer observation's ID.
    pub to: i64,
}

/// One difference between two observations, as `mxwatch diff` reports it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DiffEntry {
    pub kind: String,
    pub severity: String,
    pub subject: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/domains/{domain}/diff", tag = "domains",
    params(("domain" = String, Path, description = "A watched domain"), DiffQuery),
    responses((status = 200, body = Vec<DiffEntry>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = ["viewer"])))]
pub async fn diff(
    State(state): State<AppState>,
    _caller: Authorized<Viewer>,
    Path(domain): Path<String>,
    Query(q): Query<DiffQuery>,
) -> ApiResult<Json<Vec<DiffEntry>>> {
    Ok(Json(diff_between(&state, &domain, q.from, q.to).await?))
}

pub async fn diff_between(
    state: &AppState,
    domain: &str,
    from: i64,
    to: i64,
) -> ApiResult<Vec<DiffEntry>> {
    let key = domain_key(domain)?;
    let load = |id: i64| {
        let store = state.store.clone();
        let key = key.clone();
        async move {
            let value = store
                .observation(id)
                .await?
                .ok_or_else(|| ApiError::not_found(format!("no observation #{id}")))?;
            let report: Report = serde_json::from_value(value).map_err(|e| {
                tracing::error!("observation #{id}: {e}");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "a stored observation does not decode",
                )
            })?;
            if report.domain != key {
                return Err(ApiError::not_found(format!(
                    "observation #{id} is not of {key}"
                )));
            }
            Ok::<Report, ApiError>(report)
        }
    };
    let (old, new) = (load(from).await?, load(to).await?);
    Ok(mxwatch_core::monitor::diff::diff(
        &old.observation,
        &new.observation,
        &old.findings,
        &new.findings,
    )
    .into_iter()
    .map(|c| DiffEntry {
        kind: c.kind.as_str().into(),
        severity: c.severity.as_str().into(),
        subject: c.subject,
        old: c.old,
        new: c.new,
    })
    .collect())
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Accepted {
    pub message: String,
}

#[utoipa::path(post, path = "/api/v1/domains/{domain}/check", tag = "domains",
    params(("domain" = String, Path, description = "A watched domain")),
    responses((status = 202, body = Accepted, description = "The watcher checks it within seconds"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("token" = ["operator"])))]
pub async fn check_now(
    State(state): State<AppState>,
    caller: Authorized<Operator>,
    Path(domain): Path<String>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let key = domain_key(&domain)?;
    request_check(&state, &caller, &key).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            message: format!("{key} is due now; the watcher checks it within seconds"),
        }),
    ))
}

/// Makes a domain due now (the watcher's loop looks at the schedule every few seconds).
pub async fn request_check(state: &AppState, caller: &Caller, key: &str) -> ApiResult<()> {
    if !state.store.check_now(key, now_unix()).await? {
        return Err(ApiError::not_found(format!("{key} is not watched")));
    }
    caller.record(state, "domain.check", key, None).await
}
