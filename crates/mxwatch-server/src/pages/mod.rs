//! The dashboard: server-rendered HTML with maud.
//!
//! Why maud: its templates are Rust expressions checked by the compiler (a typo in a field is
//! a build error, not a blank on the page), every `(value)` is HTML-escaped by construction —
//! text and attributes alike, so a TXT record holding `<script>` stays text — and there are no
//! template files to keep in step with the code. Assets are embedded (`include_str!`); the
//! Content-Security-Policy allows no inline script, so the pages work with no script at all and
//! `app.js` only adds conveniences.
//!
//! Every page is in [`page_routes`] with the least role it needs; the router is built from that
//! table, and the role walk test reads it, so a page cannot be added without being walked.

mod audit;
mod changes;
mod domain;
mod infrastructure;
mod inventory;
mod login;
mod overview;
mod workers;

use crate::auth::{Authorized, Caller, Needs};
use crate::error::ApiError;
use crate::state::AppState;
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{MethodRouter, get, post};
use maud::{DOCTYPE, Markup, html};
use mxwatch_store::Role;

pub const STYLE: &str = include_str!("../../assets/style.css");
pub const SCRIPT: &str = include_str!("../../assets/app.js");

/// One page route: its method and path, the least role it needs (None: anyone), and whether
/// it changes state (a form post: it must carry the session's CSRF token).
pub struct PageRoute {
    pub method: &'static str,
    pub path: &'static str,
    pub role: Option<Role>,
    pub router: MethodRouter<AppState>,
}

fn route(
    method: &'static str,
    path: &'static str,
    role: Option<Role>,
    router: MethodRouter<AppState>,
) -> PageRoute {
    PageRoute {
        method,
        path,
        role,
        router,
    }
}

/// Every page, with the role it needs.
pub fn page_routes() -> Vec<PageRoute> {
    use Role::{Admin, Operator, Viewer};
    vec![
        route("GET", "/assets/style.css", None, get(style)),
        route("GET", "/assets/app.js", None, get(script)),
        route("GET", "/login", None, get(login::form)),
        route("POST", "/login", None, post(login::submit)),
        route("POST", "/logout", Some(Viewer), post(login::logout)),
        route("GET", "/", Some(Viewer), get(overview::page)),
        route("GET", "/domains/{domain}", Some(Viewer), get(domain::page)),
        route(
            "POST",
            "/domains/{domain}/check",
            Some(Operator),
            post(domain::check),
        ),
        route("GET", "/changes", Some(Viewer), get(changes::page)),
        route(
            "POST",
            "/changes/{id}/approve",
            Some(Operator),
            post(changes::approve),
        ),
        route(
            "POST",
            "/changes/{id}/acknowledge",
            Some(Operator),
            post(changes::acknowledge),
        ),
        route(
            "GET",
            "/infrastructure",
            Some(Viewer),
            get(infrastructure::page),
        ),
        route("GET", "/inventory", Some(Viewer), get(inventory::page)),
        route("GET", "/workers", Some(Viewer), get(workers::page)),
        route("POST", "/inventory", Some(Admin), post(inventory::save)),
        route(
            "POST",
            "/inventory/{domain}/remove",
            Some(Admin),
            post(inventory::remove),
        ),
        route("GET", "/audit", Some(Admin), get(audit::page)),
    ]
}

pub fn router() -> Router<AppState> {
    let mut router = Router::new();
    let mut paths: Vec<(&str, MethodRouter<AppState>)> = Vec::new();
    for r in page_routes() {
        match paths.iter_mut().find(|(p, _)| *p == r.path) {
            Some((_, existing)) => *existing = std::mem::take(existing).merge(r.router),
            None => paths.push((r.path, r.router)),
        }
    }
    for (path, method_router) in paths {
        router = router.route(path, method_router);
    }
    router
}

async fn style() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE)
}

async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
}

/// An error as a page: 401 offers the login form, others say what went wrong.
pub struct PageError(pub ApiError);

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> PageError {
        PageError(e)
    }
}

impl From<mxwatch_store::StoreError> for PageError {
    fn from(e: mxwatch_store::StoreError) -> PageError {
        PageError(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.0.status;
        let body = layout(
            &status.to_string(),
            None,
            html! {
                h1 { (status.canonical_reason().unwrap_or("Error")) }
                p.error { (self.0.message) }
                @if status == StatusCode::UNAUTHORIZED {
                    p { a href="/login" { "Log in" } }
                }
            },
        );
        (status, body).into_response()
    }
}

pub type PageResult = Result<Response, PageError>;

/// The caller of a page with at least `R`'s role, checked before the form is read (401/403
/// as pages).
pub struct PageCaller<R: Needs>(pub Caller, std::marker::PhantomData<R>);

impl<R: Needs> std::ops::Deref for PageCaller<R> {
    type Target = Caller;
    fn deref(&self) -> &Caller {
        &self.0
    }
}

impl<R: Needs> axum::extract::FromRequestParts<AppState> for PageCaller<R> {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, PageError> {
        let Authorized(caller, _) = Authorized::<R>::from_request_parts(parts, state).await?;
        Ok(PageCaller(caller, std::marker::PhantomData))
    }
}

pub async fn not_found() -> PageError {
    PageError(ApiError::not_found("no such page"))
}

/// Back to a page after a form's action (303: the browser follows with GET).
pub fn back(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// Unix seconds as `2026-11-24 22:00 UTC`.
pub fn when(unix: Option<i64>) -> String {
    match unix {
        None => "never".into(),
        Some(t) => time::OffsetDateTime::from_unix_timestamp(t)
            .ok()
            .and_then(|d| {
                d.format(time::macros::format_description!(
                    "[year]-[month]-[day] [hour]:[minute] UTC"
                ))
                .ok()
            })
            .unwrap_or_else(|| t.to_string()),
    }
}

/// A severity badge (the class names are fixed words, never data).
pub fn badge(severity: Option<&str>) -> Markup {
    let class = match severity {
        Some("critical") => "sev sev-critical",
        Some("high") => "sev sev-high",
        Some("medium") => "sev sev-medium",
        Some("low") => "sev sev-low",
        Some("info") => "sev sev-info",
        _ => "sev sev-none",
    };
    html! { span class=(class) { (severity.unwrap_or("ok")) } }
}

/// A form that carries nothing but its CSRF token.
#[derive(serde::Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

/// The hidden CSRF field of a form.
pub fn csrf_field(caller: &Caller) -> Markup {
    html! { input type="hidden" name="csrf" value=(caller.csrf.as_deref().unwrap_or("")); }
}

/// Every page's frame: navigation, the logged-in user, the logout form.
pub fn layout(title: &str, caller: Option<&Caller>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · mxwatch" }
                link rel="stylesheet" href="/assets/style.css";
                script src="/assets/app.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/" { "mxwatch" }
                    @if let Some(c) = caller {
                        nav {
                            a href="/" { "Overview" }
                            a href="/changes" { "Changes" }
                            a href="/infrastructure" { "Shared infrastructure" }
                            a href="/inventory" { "Inventory" }
                            a href="/workers" { "Workers" }
                            @if c.role >= Role::Admin { a href="/audit" { "Audit log" } }
                        }
                        form.logout method="post" action="/logout" {
                            (csrf_field(c))
                            span.who { (c.actor) " (" (c.role) ")" }
                            button type="submit" { "Log out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// A full page response.
pub fn page(title: &str, caller: &Caller, body: Markup) -> Response {
    layout(title, Some(caller), body).into_response()
}

/// A meta refresh (no script needed) while a requested check is pending.
pub fn refresh_in(seconds: u32) -> Markup {
    html! { meta http-equiv="refresh" content=(seconds); }
}
