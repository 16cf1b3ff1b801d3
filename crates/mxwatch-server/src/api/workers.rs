//! `/api/v1/workers`: the `mxwatch worker`s sharing this database — heartbeat, throughput,
//! leases held — and the scan jobs they work on; what `mxwatch workers` prints. Workers need
//! PostgreSQL: on SQLite the answer says so (`available: false`), it is not an error.

use crate::auth::{Authorized, Viewer};
use crate::error::{ApiResult, ErrorBody};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use mxwatch_store::queue::{JobStatus, WorkerInfo};
use serde::Serialize;

/// A worker that has not renewed its leases for this long is shown as silent (its leases run
/// out at the `--lease` it was started with, 60 s by default).
const SILENT_AFTER_MS: i64 = 60_000;

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct WorkersView {
    /// Whether this database can have workers (PostgreSQL); false on SQLite, with empty lists.
    pub available: bool,
    pub workers: Vec<WorkerView>,
    pub jobs: Vec<JobView>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct WorkerView {
    /// host-pid-start, unique across the machines sharing the database.
    pub id: String,
    pub host: String,
    pub pid: i64,
    /// `working`, `silent` (no heartbeat for a minute: dead or cut off) or `stopped`.
    pub state: String,
    /// Unix milliseconds (the database's clock).
    pub started_at_ms: i64,
    pub last_seen_ms: i64,
    /// Milliseconds since its last heartbeat.
    pub silent_for_ms: i64,
    pub stopped_at_ms: Option<i64>,
    /// Results it wrote.
    pub items_done: i64,
    /// Results per second over its life, to its last heartbeat.
    pub lines_per_second: f64,
    /// Lines it holds leases on now.
    pub leases: i64,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct JobView {
    pub id: i64,
    pub name: String,
    /// `queueing` (the list is still being added), `working` or `finished`.
    pub state: String,
    pub created_at_ms: i64,
    pub lines: i64,
    pub results: i64,
    /// Lines without a result yet, and of those how many a worker holds now.
    pub open: i64,
    pub leased: i64,
}

fn worker_view(w: &WorkerInfo) -> WorkerView {
    let state = match w.stopped_at_ms {
        Some(_) => "stopped",
        None if w.silent_for_ms > SILENT_AFTER_MS => "silent",
        None => "working",
    };
    WorkerView {
        id: w.id.clone(),
        host: w.host.clone(),
        pid: w.pid,
        state: state.into(),
        started_at_ms: w.started_at_ms,
        last_seen_ms: w.last_seen_ms,
        silent_for_ms: w.silent_for_ms,
        stopped_at_ms: w.stopped_at_ms,
        items_done: w.items_done,
        lines_per_second: w.lines_per_second(),
        leases: w.leases,
    }
}

fn job_view(j: &JobStatus) -> JobView {
    JobView {
        id: j.id,
        name: j.name.clone(),
        state: j.state().into(),
        created_at_ms: j.created_at_ms,
        lines: j.lines,
        results: j.results,
        open: j.open,
        leased: j.leased,
    }
}

#[utoipa::path(get, path = "/api/v1/workers", tag = "operations",
    responses((status = 200, body = WorkersView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("token" = ["viewer"])))]
pub async fn list(
    State(state): State<AppState>,
    _caller: Authorized<Viewer>,
) -> ApiResult<Json<WorkersView>> {
    Ok(Json(workers(&state).await?))
}

/// The workers and jobs of the database (empty, `available: false`, without PostgreSQL).
pub async fn workers(state: &AppState) -> ApiResult<WorkersView> {
    let Some(queue) = &state.work_queue else {
        return Ok(WorkersView {
            available: false,
            workers: vec![],
            jobs: vec![],
        });
    };
    let (workers, jobs) = (queue.workers().await?, queue.jobs().await?);
    Ok(WorkersView {
        available: true,
        workers: workers.iter().map(worker_view).collect(),
        jobs: jobs.iter().map(job_view).collect(),
    })
}
