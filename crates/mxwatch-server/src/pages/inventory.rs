//! `/inventory`: the domains watched (the configuration's and the store's), add or edit one
//! (expected MX or a provider preset, tags), remove one. Edits persist in the store and the
//! watcher takes them up at once.

use super::{CsrfForm, PageError, PageResult, csrf_field, page as render};
use crate::api::inventory::{InventoryEdit, inventory, remove_domain};
use crate::auth::Caller;
use crate::state::AppState;
use axum::Form;
use axum::extract::{Path, State};
use maud::html;
use mxwatch_store::Role;
use serde::Deserialize;

pub async fn page(
    State(state): State<AppState>,
    caller: super::PageCaller<crate::auth::Viewer>,
) -> PageResult {
    let rows = inventory(&state).await?;
    let admin = caller.role >= Role::Admin;
    let body = html! {
        h1 { "Inventory" }
        @if admin {
            form.edit method="post" action="/inventory" {
                (csrf_field(&caller))
                label { "Domain" input type="text" name="domain" required placeholder="example.com"; }
                label { "Expected MX (comma-separated)" input type="text" name="expect_mx" placeholder="10 mx1.example.net, 20 mx2.example.net"; }
                label { "or provider preset" select name="preset" {
                    option value="" { "none" }
                    @for (name, _) in mxwatch_core::expect::PRESETS { option value=(name) { (name) } }
                } }
                label { "Tags (comma-separated)" input type="text" name="tags"; }
                button type="submit" { "Add or update" }
            }
        }
        div.scroll { table.inventory {
            thead { tr { th { "Domain" } th { "Expected MX" } th { "Tags" } th { "Every" } th { "Source" } @if admin { th { "" } } } }
            tbody { @for r in &rows {
                tr {
                    td { a href={ "/domains/" (r.domain) } { (r.domain) } }
                    td { @if let Some(mx) = &r.expect_mx { (mx.join(", ")) } @else if let Some(p) = &r.preset { "preset " (p) } @else { "—" } }
                    td { (r.tags.join(", ")) }
                    td { (r.every_seconds) " s" }
                    td { (r.source) }
                    @if admin { td { form method="post" action={ "/inventory/" (r.domain) "/remove" } {
                        (csrf_field(&caller)) button type="submit" { "Remove" }
                    } } }
                }
            } }
        } }
    };
    Ok(render("Inventory", &caller, body))
}

#[derive(Deserialize)]
pub struct EditForm {
    #[serde(default)]
    csrf: String,
    domain: String,
    #[serde(default)]
    expect_mx: String,
    #[serde(default)]
    preset: String,
    #[serde(default)]
    tags: String,
}

fn list(text: &str) -> Option<Vec<String>> {
    let items: Vec<String> = text
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    (!items.is_empty()).then_some(items)
}

pub async fn save_form(state: AppState, caller: Caller, form: EditForm) -> PageResult {
    caller.check_csrf(&form.csrf).map_err(PageError)?;
    let key = crate::api::domains::domain_key(&form.domain)?;
    let edit = InventoryEdit {
        expect_mx: list(&form.expect_mx),
        preset: Some(form.preset.trim().to_string()).filter(|p| !p.is_empty()),
        tags: Some(list(&form.tags).unwrap_or_default()),
    };
    crate::api::inventory::save(&state, &caller, &key, edit).await?;
    Ok(super::back("/inventory"))
}

pub async fn save(
    State(state): State<AppState>,
    caller: super::PageCaller<crate::auth::Admin>,
    Form(form): Form<EditForm>,
) -> PageResult {
    save_form(state, caller.0, form).await
}

pub async fn remove(
    State(state): State<AppState>,
    caller: super::PageCaller<crate::auth::Admin>,
    Path(domain): Path<String>,
    Form(form): Form<CsrfForm>,
) -> PageResult {
    caller.check_csrf(&form.csrf).map_err(PageError)?;
    let key = crate::api::domains::domain_key(&domain)?;
    remove_domain(&state, &caller, &key).await?;
    Ok(super::back("/inventory"))
}
