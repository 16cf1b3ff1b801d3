//! `/workers`: the `mxwatch worker`s sharing this database and their scan jobs (the page of
//! `mxwatch workers`). On SQLite it says that workers need PostgreSQL.

use super::{PageResult, page as render, when};
use crate::api::workers::workers;
use crate::state::AppState;
use axum::extract::State;
use maud::html;

/// Unix milliseconds as a time on the page.
fn at(ms: i64) -> String {
    when(Some(ms.div_euclid(1000)))
}

pub async fn page(
    State(state): State<AppState>,
    caller: super::PageCaller<crate::auth::Viewer>,
) -> PageResult {
    let view = workers(&state).await?;
    let body = html! {
        h1 { "Workers" }
        @if !view.available {
            p.notice {
                "Workers need a PostgreSQL database: this server's store is SQLite, where one process "
                "does the work. Start " code { "mxwatch serve --db postgres://…" } " and "
                code { "mxwatch worker --db postgres://…" } " on as many machines as wanted to share it."
            }
        } @else {
            p { "The " code { "mxwatch worker" } "s of this database: their heartbeat, throughput and the lines they hold." }
            @if view.workers.is_empty() {
                p { "No worker has run against this database yet." }
            } @else {
                div.scroll { table.workers {
                    thead { tr { th { "Worker" } th { "Host" } th { "PID" } th { "State" } th { "Last heartbeat" } th { "Done" } th { "Lines/s" } th { "Leases" } th { "Started" } } }
                    tbody { @for w in &view.workers {
                        tr class=(if w.state == "silent" { "unexpected" } else { "" }) {
                            td { code { (w.id) } } td { (w.host) } td { (w.pid) }
                            td { @if w.state == "silent" { strong { (w.state) } } @else { (w.state) } }
                            td { (w.silent_for_ms / 1000) " s ago" }
                            td { (w.items_done) } td { (format!("{:.1}", w.lines_per_second)) } td { (w.leases) }
                            td { (at(w.started_at_ms)) }
                        }
                    } }
                } }
            }
            h2 { "Scan jobs" }
            @if view.jobs.is_empty() {
                p { "No scan job queued (" code { "mxwatch scan FILE --db postgres://… --enqueue" } ")." }
            } @else {
                div.scroll { table.jobs {
                    thead { tr { th { "Job" } th { "Name" } th { "State" } th { "Lines" } th { "Results" } th { "Open" } th { "Leased" } th { "Queued" } } }
                    tbody { @for j in &view.jobs {
                        tr {
                            td { (j.id) } td { (j.name) } td { (j.state) } td { (j.lines) } td { (j.results) }
                            td { (j.open) } td { (j.leased) } td { (at(j.created_at_ms)) }
                        }
                    } }
                } }
            }
        }
    };
    Ok(render("Workers", &caller, body))
}
