//! `/audit`: the audit log for admins — who changed what, when, from where (the same entries
//! as `/api/v1/audit-log`, newest first).

use super::{PageResult, page as render, when};
use crate::api::access::{AuditQuery, AuditView};
use crate::auth::Admin;
use crate::state::AppState;
use axum::extract::{Query, State};
use maud::html;

/// Entries on one page unless `limit` says otherwise (the API's default too).
const DEFAULT_LIMIT: u32 = 500;

pub async fn page(
    State(state): State<AppState>,
    caller: super::PageCaller<Admin>,
    Query(q): Query<AuditQuery>,
) -> PageResult {
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, 10_000);
    let entries: Vec<AuditView> = state
        .store
        .audit_log(q.since.unwrap_or(0), i64::from(limit))
        .await?
        .into_iter()
        .map(AuditView::from)
        .collect();
    let body = html! {
        h1 { "Audit log" }
        p { "Every state-changing action, newest first (at most " (limit) "). "
            a href="/api/v1/audit-log" { "The same as JSON" } "." }
        @if entries.is_empty() {
            p { "Nothing recorded yet." }
        } @else {
            div.scroll { table.audit {
                thead { tr { th { "When" } th { "Who" } th { "Action" } th { "On" } th { "Detail" } th { "From" } } }
                tbody { @for e in &entries {
                    tr {
                        td { (when(Some(e.at))) }
                        td { (e.actor) }
                        td { code { (e.action) } }
                        td { (e.target) }
                        td { (e.detail.as_deref().unwrap_or("")) }
                        td { (e.source) }
                    }
                } }
            } }
        }
    };
    Ok(render("Audit log", &caller, body))
}
