//! `/api/v1/inventory` and `/api/v1/maintenance`: the domains watched (the configuration's
//! merged with the store's) and their edits, which the watcher picks up at once.

use crate::auth::{Admin, Authorized, Caller, Viewer};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use mxwatch_core::expect::MxExpectation;
use mxwatch_engine::now_unix;
use mxwatch_store::{InventoryEntry, StoredMaintenance};
use serde::{Deserialize, Serialize};

/// Most tags on one domain, and longest tag.
const MAX_TAGS: usize = 32;
const MAX_TAG: usize = 64;

/// One domain of the inventory as the watcher runs it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct InventoryView {
    pub domain: String,
    pub expect_mx: Option<Vec<String>>,
    pub preset: Option<String>,
    pub tags: Vec<String>,
    /// Seconds between checks.
    pub every_seconds: u64,
    /// `config` (the file alone), `store` (added in serve) or `config+store` (the file's, edited in serve).
    pub source: String,
}

#[utoipa::path(get, path = "/api/v1/inventory", tag = "inventory",
    responses((status = 200, body = Vec<InventoryView>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)),
    security(("token" = ["viewer"])))]
pub async fn list(
    State(state): State<AppState>,
    _caller: Authorized<Viewer>,
) -> ApiResult<Json<Vec<InventoryView>>> {
    Ok(Json(inventory(&state).await?))
}

pub async fn inventory(state: &AppState) -> ApiResult<Vec<InventoryView>> {
    let stored = state.store.inventory().await?;
    let in_file: Vec<String> = state
        .watcher
        .config
        .domains
        .iter()
        .map(|d| mxwatch_engine::inventory::canonical(&d.name))
        .collect();
    let mut out: Vec<InventoryView> = state
        .watcher
        .inventory()
        .entries
        .iter()
        .map(|e| {
            let name = &e.domain.ascii;
            let edited = stored
                .iter()
                .any(|s| mxwatch_engine::inventory::canonical(&s.name) == *name);
            let source = match (in_file.contains(name), edited) {
                (true, false) => "config",
                (true, true) => "config+store",
                _ => "store",
            };
            InventoryView {
                domain: name.clone(),
                expect_mx: e.config.expect_mx.clone(),
                preset: e.config.preset.clone(),
                tags: e.config.tags.clone(),
                every_seconds: e.every.as_secs(),
                source: source.into(),
            }
        })
        .collect();
    out.sort_by(|a, b| a.domain.cmp(&b.domain));
    Ok(out)
}

/// A domain to add, or the fields of one to change (fields left out keep their value).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InventoryEdit {
    /// The MX set the domain must have, e.g. `["10 mx1.example.net"]` (replaces a preset).
    pub expect_mx: Option<Vec<String>>,
    /// A provider preset (google-workspace, microsoft-365, …; replaces expect_mx).
    pub preset: Option<String>,
    pub tags: Option<Vec<String>>,
}

/// Checks an edit before it is stored: a bad expectation or tag is the caller's to fix.
pub fn validate(edit: &InventoryEdit) -> ApiResult<()> {
    if edit.expect_mx.is_some() && edit.preset.is_some() {
        return Err(ApiError::bad_request("give expect_mx or preset, not both"));
    }
    if let Some(list) = &edit.expect_mx {
        MxExpectation::from_list(list)
            .map_err(|e| ApiError::bad_request(format!("expect_mx: {e}")))?;
    }
    if let Some(preset) = &edit.preset {
        MxExpectation::preset(preset).map_err(|e| ApiError::bad_request(format!("preset: {e}")))?;
    }
    if let Some(tags) = &edit.tags {
        if tags.len() > MAX_TAGS {
            return Err(ApiError::bad_request(format!("at most {MAX_TAGS} tags")));
        }
        if let Some(bad) = tags.iter().find(|t| {
            t.is_empty()
                || t.len() > MAX_TAG
                || !t
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        }) {
            return Err(ApiError::bad_request(format!(
                "tag {bad:?}: 1 to {MAX_TAG} letters, digits, '-', '_' or '.'"
            )));
        }
    }
    Ok(())
}

#[utoipa::path(put, path = "/api/v1/inventory/{domain}", tag = "inventory",
    params(("domain" = String, Path, description = "The domain to add or edit")),
    request_body(content = InventoryEdit, content_type = "application/json"),
    responses((status = 200, body = InventoryView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("token" = ["admin"])))]
pub async fn put(
    State(state): State<AppState>,
    caller: Authorized<Admin>,
    Path(domain): Path<String>,
    Json(edit): Json<InventoryEdit>,
) -> ApiResult<Json<InventoryView>> {
    let key = crate::api::domains::domain_key(&domain)?;
    save(&state, &caller, &key, edit).await?;
    inventory(&state)
        .await?
        .into_iter()
        .find(|v| v.domain == key)
        .map(Json)
        .ok_or_else(|| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the edit did not take"))
}

/// Stores an edit (keeping the fields it leaves out) and has the watcher take it up.
pub async fn save(
    state: &AppState,
    caller: &Caller,
    key: &str,
    edit: InventoryEdit,
) -> ApiResult<()> {
    validate(&edit)?;
    let previous = state
        .store
        .inventory()
        .await?
        .into_iter()
        .find(|e| e.name == key && e.present);
    let mut entry = previous.unwrap_or_else(|| InventoryEntry {
        name: key.to_string(),
        ..Default::default()
    });
    entry.present = true;
    if edit.expect_mx.is_some() {
        entry.expect_mx = edit.expect_mx.clone();
        entry.preset = None;
    }
    if edit.preset.is_some() {
        entry.preset = edit.preset.clone();
        entry.expect_mx = None;
    }
    if edit.tags.is_some() {
        entry.tags = edit.tags.clone();
    }
    entry.updated_by = caller.actor.clone();
    entry.updated_at = now_unix();
    state.store.put_inventory(&entry).await?;
    caller
        .record(
            state,
            "inventory.put",
            key,
            serde_json::to_string(&entry).ok(),
        )
        .await?;
    refresh(state).await
}

async fn refresh(state: &AppState) -> ApiResult<()> {
    state.watcher.refresh_inventory().await.map_err(|e| {
        tracing::error!("refreshing the inventory: {e}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the inventory could not be refreshed",
        )
    })?;
    Ok(())
}

#[utoipa::path(delete, path = "/api/v1/inventory/{domain}", tag = "inventory",
    params(("domain" = String, Path, description = "The domain to stop watching")),
    responses((status = 204, description = "Removed (its history stays)"), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("token" = ["admin"])))]
pub async fn remove(
    State(state): State<AppState>,
    caller: Authorized<Admin>,
    Path(domain): Path<String>,
) -> ApiResult<StatusCode> {
    let key = crate::api::domains::domain_key(&domain)?;
    remove_domain(&state, &caller, &key).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn remove_domain(state: &AppState, caller: &Caller, key: &str) -> ApiResult<()> {
    state
        .store
        .put_inventory(&InventoryEntry {
            name: key.to_string(),
            present: false,
            updated_by: caller.actor.clone(),
            updated_at: now_unix(),
            ..Default::default()
        })
        .await?;
    caller.record(state, "inventory.remove", key, None).await?;
    refresh(state).await
}

/// A maintenance window: changes inside it are recorded as expected and not alerted.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct MaintenanceView {
    pub id: i64,
    /// Domains it covers, or tags; neither: every domain.
    pub domains: Vec<String>,
    pub tags: Vec<String>,
    /// Unix seconds.
    pub start: i64,
    pub end: i64,
    pub reason: Option<String>,
    pub created_by: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMaintenance {
    #[serde(default)]
    pub domains: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Unix seconds.
    pub start: i64,
    pub end: i64,
    pub reason: Option<String>,
}

fn maintenance_view(m: StoredMaintenance) -> MaintenanceView {
    MaintenanceView {
        id: m.id,
        domains: m.domains,
        tags: m.tags,
        start: m.start,
        end: m.end,
        reason: m.reason,
        created_by: m.created_by,
    }
}

#[utoipa::path(get, path = "/api/v1/maintenance", tag = "inventory",
    responses((status = 200, body = Vec<MaintenanceView>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)),
    security(("token" = ["viewer"])))]
pub async fn list_maintenance(
    State(state): State<AppState>,
    _caller: Authorized<Viewer>,
) -> ApiResult<Json<Vec<MaintenanceView>>> {
    Ok(Json(
        state
            .store
            .maintenance_windows()
            .await?
            .into_iter()
            .map(maintenance_view)
            .collect(),
    ))
}

#[utoipa::path(post, path = "/api/v1/maintenance", tag = "inventory",
    request_body(content = NewMaintenance, content_type = "application/json"),
    responses((status = 201, body = MaintenanceView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("token" = ["admin"])))]
pub async fn add_maintenance(
    State(state): State<AppState>,
    caller: Authorized<Admin>,
    Json(new): Json<NewMaintenance>,
) -> ApiResult<(StatusCode, Json<MaintenanceView>)> {
    if new.end <= new.start {
        return Err(ApiError::bad_request("a window ends after it starts"));
    }
    let domains = new
        .domains
        .iter()
        .map(|d| crate::api::domains::domain_key(d))
        .collect::<ApiResult<Vec<_>>>()?;
    validate(&InventoryEdit {
        tags: Some(new.tags.clone()),
        ..Default::default()
    })?;
    let reason = new
        .reason
        .map(|r| r.chars().take(crate::api::changes::MAX_NOTE).collect());
    let mut window = StoredMaintenance {
        id: 0,
        domains,
        tags: new.tags,
        start: new.start,
        end: new.end,
        reason,
        created_by: caller.actor.clone(),
        created_at: now_unix(),
    };
    window.id = state.store.add_maintenance(&window).await?;
    caller
        .record(
            &state,
            "maintenance.add",
            &window.id.to_string(),
            serde_json::to_string(&window).ok(),
        )
        .await?;
    refresh(&state).await?;
    Ok((StatusCode::CREATED, Json(maintenance_view(window))))
}

#[utoipa::path(delete, path = "/api/v1/maintenance/{id}", tag = "inventory",
    params(("id" = i64, Path, description = "The window's ID")),
    responses((status = 204, description = "Removed"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = ["admin"])))]
pub async fn remove_maintenance(
    State(state): State<AppState>,
    caller: Authorized<Admin>,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    if !state.store.remove_maintenance(id).await? {
        return Err(ApiError::not_found(format!("no maintenance window #{id}")));
    }
    caller
        .record(&state, "maintenance.remove", &id.to_string(), None)
        .await?;
    refresh(&state).await?;
    Ok(StatusCode::NO_CONTENT)
}
