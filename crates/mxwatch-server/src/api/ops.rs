//! `/healthz` (the process answers), `/readyz` (the store answers and the watcher runs) and
//! `/metrics` (Prometheus text: the engine's counters, and gauges read from the store at
//! each scrape).

use crate::auth::{Authorized, Viewer};
use crate::error::{ApiResult, ErrorBody};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    pub status: String,
}

#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, body = Health, description = "The process answers")),
    security(()))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Readiness {
    pub ready: bool,
    pub store: bool,
    pub watcher: bool,
}

#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Readiness, description = "The store answers and the watcher runs"),
        (status = 503, body = Readiness, description = "Not ready")),
    security(()))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let store = match state.store.ping().await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!("readyz: the store does not answer: {e}");
            false
        }
    };
    let watcher = state.watcher_alive();
    let ready = store && watcher;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(Readiness {
            ready,
            store,
            watcher,
        }),
    )
}

#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, content_type = "text/plain", body = String, description = "Prometheus text format 0.0.4"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("token" = ["viewer"])))]
pub async fn metrics(
    State(state): State<AppState>,
    _caller: Authorized<Viewer>,
) -> ApiResult<Response> {
    // Gauges of the store's state, set at scrape time (they are not events the engine counts).
    let by_severity = state.store.findings_by_severity().await?;
    for severity in mxwatch_core::Severity::ALL {
        let n = by_severity.get(severity.as_str()).copied().unwrap_or(0);
        metrics::gauge!("mxwatch_findings_open", "severity" => severity.as_str()).set(n as f64);
    }
    let rows = state.store.domain_rows().await?;
    metrics::gauge!("mxwatch_domains").set(rows.len() as f64);
    let due = rows
        .iter()
        .filter(|r| r.next_due <= mxwatch_engine::now_unix())
        .count();
    metrics::gauge!("mxwatch_domains_due").set(due as f64);
    let unexpected: i64 = rows.iter().map(|r| r.open_unexpected).sum();
    metrics::gauge!("mxwatch_changes_open_unexpected").set(unexpected as f64);
    metrics::gauge!("mxwatch_alert_queue_depth").set(state.store.queue_depth().await? as f64);
    let text = state
        .metrics
        .as_ref()
        .map(|h| h.render())
        .unwrap_or_default();
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// Describes the metrics once, when the recorder is installed (HELP lines for promtool).
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "mxwatch_audits_total",
        "Audits (looks at a domain) run by the watcher, by report status"
    );
    describe_histogram!(
        "mxwatch_audit_duration_seconds",
        Unit::Seconds,
        "How long one audit took"
    );
    describe_counter!(
        "mxwatch_changes_total",
        "Changes confirmed, by kind and whether they were expected"
    );
    describe_counter!(
        "mxwatch_alert_deliveries_total",
        "Alert delivery attempts, by outcome"
    );
    describe_counter!(
        "mxwatch_dns_questions_total",
        "DNS questions put on the wire"
    );
    describe_counter!(
        "mxwatch_dns_failures_total",
        "DNS questions that failed, by failure"
    );
    describe_gauge!(
        "mxwatch_findings_open",
        "Findings of every domain's latest observation, by severity"
    );
    describe_gauge!("mxwatch_domains", "Domains watched");
    describe_gauge!(
        "mxwatch_domains_due",
        "Domains due for a check now (the watcher's backlog)"
    );
    describe_gauge!(
        "mxwatch_changes_open_unexpected",
        "Open changes nobody expected, approved or acknowledged"
    );
    describe_gauge!(
        "mxwatch_alert_queue_depth",
        "Alert deliveries waiting to be sent"
    );
    describe_counter!(
        "mxwatch_http_requests_total",
        "HTTP requests answered, by status class"
    );
}
