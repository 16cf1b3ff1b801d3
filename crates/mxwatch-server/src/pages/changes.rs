//! `/changes`: the feed across the inventory, expected vs unexpected; approve (with a note)
//! or acknowledge.

use super::{CsrfForm, PageError, PageResult, badge, csrf_field, page as render, when};
use crate::api::changes::{ChangeView, ChangesQuery, acknowledge_change, approve_change, feed};
use crate::auth::Caller;
use crate::state::AppState;
use axum::Form;
use axum::extract::{Path, Query, State};
use maud::{Markup, html};
use mxwatch_store::Role;
use serde::Deserialize;

/// A table of changes, with approve and acknowledge forms for an operator.
pub fn table(caller: &Caller, changes: &[ChangeView]) -> Markup {
    if changes.is_empty() {
        return html! { p { "No changes recorded." } };
    }
    html! {
        div.scroll { table.changes {
            thead { tr { th { "Confirmed" } th { "Domain" } th { "Change" } th { "Old → new" } th { "Expected?" } th { "" } } }
            tbody { @for c in changes {
                tr class=(if c.expected.is_none() && c.resolved_at.is_none() { "unexpected" } else { "" }) id={ "change-" (c.id) } {
                    td { (when(Some(c.confirmed_at))) }
                    td { a href={ "/domains/" (c.domain) } { (c.domain) } }
                    td { (badge(Some(&c.severity))) " " (c.kind) br; small { (c.subject) } }
                    td { (c.old.as_deref().unwrap_or("—")) " → " (c.new.as_deref().unwrap_or("—")) }
                    td {
                        @match &c.expected { Some(why) => { "expected: " (why) }, None => strong { "unexpected" } }
                        @if let Some(n) = &c.note { br; small.note { "note: " (n) } }
                        @if let Some(by) = &c.acknowledged_by { br; small { "acknowledged by " (by) } }
                        @if c.resolved_at.is_some() { br; small { "went back " (when(c.resolved_at)) } }
                    }
                    td.actions {
                        @if caller.role >= Role::Operator && c.approved_by.is_none() {
                            form method="post" action={ "/changes/" (c.id) "/approve" } {
                                (csrf_field(caller))
                                input type="text" name="note" maxlength="1000" placeholder="note" aria-label="approval note";
                                button type="submit" name="approve" { "Approve" }
                            }
                            @if c.acknowledged_by.is_none() {
                                form method="post" action={ "/changes/" (c.id) "/acknowledge" } {
                                    (csrf_field(caller))
                                    button type="submit" { "Acknowledge" }
                                }
                            }
                        }
                    }
                }
            } }
        } }
    }
}

pub async fn page(
    State(state): State<AppState>,
    caller: super::PageCaller<crate::auth::Viewer>,
    Query(q): Query<ChangesQuery>,
) -> PageResult {
    let changes = feed(&state, &q).await?;
    let body = html! {
        h1 { "Changes" }
        form.filters method="get" action="/changes" {
            label { "Domain" input type="text" name="domain" value=(q.domain.as_deref().unwrap_or("")); }
            label { "Only unexpected" input type="checkbox" name="unexpected" value="true" checked[q.unexpected == Some(true)]; }
            button type="submit" { "Apply" }
        }
        (table(&caller, &changes))
    };
    Ok(render("Changes", &caller, body))
}

#[derive(Deserialize)]
pub struct ApproveForm {
    #[serde(default)]
    csrf: String,
    note: Option<String>,
}

pub async fn approve(
    State(state): State<AppState>,
    caller: super::PageCaller<crate::auth::Operator>,
    Path(id): Path<i64>,
    Form(form): Form<ApproveForm>,
) -> PageResult {
    caller.check_csrf(&form.csrf).map_err(PageError)?;
    approve_change(&state, &caller, id, form.note.as_deref()).await?;
    Ok(super::back(&format!("/changes#change-{id}")))
}

pub async fn acknowledge(
    State(state): State<AppState>,
    caller: super::PageCaller<crate::auth::Operator>,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> PageResult {
    caller.check_csrf(&form.csrf).map_err(PageError)?;
    acknowledge_change(&state, &caller, id).await?;
    Ok(super::back(&format!("/changes#change-{id}")))
}
