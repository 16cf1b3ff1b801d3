//! `/infrastructure`: MX hosts, addresses and certificates with the domains that use each,
//! riskiest first.

use super::{PageResult, page as render, when};
use crate::api::infrastructure::shared;
use crate::state::AppState;
use axum::extract::State;
use maud::html;

pub async fn page(
    State(state): State<AppState>,
    caller: super::PageCaller<crate::auth::Viewer>,
) -> PageResult {
    let items = shared(&state).await?;
    let body = html! {
        h1 { "Shared infrastructure" }
        p { "MX hosts, addresses and certificates across the inventory, with the domains that depend on each." }
        div.scroll { table.shared {
            thead { tr { th { "Kind" } th { "Name" } th { "Domains" } th { "Risk" } th { "Expires" } th { "Used by" } } }
            tbody { @for i in items.iter().take(500) {
                tr {
                    td { (i.kind) } td { (i.name) } td { (i.domain_count) }
                    td { @if let Some(r) = &i.risk { strong { (r) } } @else { "—" } }
                    td { @if i.not_after.is_some() { (when(i.not_after)) } @else { "—" } }
                    td { @for (n, d) in i.domains.iter().enumerate() {
                        @if n > 0 { ", " } a href={ "/domains/" (d) } { (d) }
                    } @if i.domain_count > i.domains.len() { " …" } }
                }
            } }
        } }
    };
    Ok(render("Shared infrastructure", &caller, body))
}
