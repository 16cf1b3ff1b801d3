//! Logging in and out: argon2-checked passwords, a rate limit per client address, a session
//! in a Secure, HttpOnly, SameSite=Strict cookie.
//!
//! The login form carries a CSRF token too, although no session exists yet: without one, a
//! page elsewhere could log the browser in as the attacker's user (login CSRF) and read what
//! the victim then types into "their" dashboard. There is no session to tie the token to, so
//! it is a double submit: the form's hidden field must equal a cookie set with the form
//! (HttpOnly, SameSite=Strict, scoped to `/login`), which another site can neither read nor
//! set.

use super::{PageError, PageResult, layout};
use crate::auth::{SESSION_COOKIE, SESSION_SECONDS, client_address, cookie};
use crate::credentials::{digest, random_secret, same_secret, verify_password};
use crate::error::ApiError;
use crate::state::AppState;
use axum::Form;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use mxwatch_engine::now_unix;
use mxwatch_store::AuditEntry;
use serde::Deserialize;

/// The cookie holding the login form's CSRF token (see the module's comment).
const LOGIN_CSRF_COOKIE: &str = "mxwatch_login_csrf";
/// How long a login form stays usable.
const LOGIN_FORM_SECONDS: i64 = 3600;

/// The login form with a fresh CSRF token, in its field and in its cookie.
fn login_page(state: &AppState, status: StatusCode, message: Option<&str>) -> Response {
    let token = random_secret();
    let body = layout(
        "Log in",
        None,
        html! {
            h1 { "Log in" }
            @if let Some(m) = message { p.error role="alert" { (m) } }
            form.login method="post" action="/login" {
                input type="hidden" name="csrf" value=(token);
                label { "Name" input type="text" name="name" autocomplete="username" required autofocus; }
                label { "Password" input type="password" name="password" autocomplete="current-password" required; }
                button type="submit" { "Log in" }
            }
        },
    );
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    let cookie = format!(
        "{LOGIN_CSRF_COOKIE}={token}; Path=/login; HttpOnly; SameSite=Strict; Max-Age={LOGIN_FORM_SECONDS}{secure}"
    );
    let mut response = (status, body).into_response();
    // The token is hex from our own generator: always a valid header value.
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

pub async fn form(State(state): State<AppState>) -> Response {
    login_page(&state, StatusCode::OK, None)
}

#[derive(Deserialize)]
pub struct LoginForm {
    name: String,
    password: String,
    #[serde(default)]
    csrf: String,
}

pub async fn submit(
    State(state): State<AppState>,
    mut parts: Parts,
    Form(form): Form<LoginForm>,
) -> PageResult {
    let from_our_form = cookie(&parts, LOGIN_CSRF_COOKIE)
        .is_some_and(|expected| !form.csrf.is_empty() && same_secret(&expected, &form.csrf));
    if !from_our_form {
        return Ok(login_page(
            &state,
            StatusCode::FORBIDDEN,
            Some("This login form has expired or did not come from this server; try again."),
        ));
    }
    let address = client_address(&mut parts).await;
    let source = address
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into());
    if let Some(ip) = address.map(|a| a.ip())
        && state.login_limiter.check_key(&ip).is_err()
    {
        return Ok(login_page(
            &state,
            StatusCode::TOO_MANY_REQUESTS,
            Some("Too many attempts from your address; wait a minute."),
        ));
    }
    let user = state.store.user_by_name(&form.name).await?;
    // A hash is checked even for an unknown name, so the time taken does not tell which names exist.
    let hash = match &user {
        Some(u) => u.password_hash.clone(),
        None => decoy_hash(),
    };
    let password = form.password.clone();
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .unwrap_or(false)
        && user.is_some();
    let Some(user) = user.filter(|_| ok) else {
        tracing::warn!(source = %source, "failed login");
        return Ok(login_page(
            &state,
            StatusCode::UNAUTHORIZED,
            Some("Wrong name or password."),
        ));
    };
    let id = random_secret();
    let now = now_unix();
    state
        .store
        .create_session(
            &digest(&id),
            user.id,
            &random_secret(),
            now,
            now + SESSION_SECONDS,
        )
        .await?;
    state
        .store
        .audit(&AuditEntry {
            id: 0,
            at: now,
            actor: format!("user:{}", user.name),
            action: "session.login".into(),
            target: user.name.clone(),
            detail: None,
            source,
        })
        .await?;
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    let cookie = format!(
        "{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={SESSION_SECONDS}{secure}"
    );
    let mut response = Redirect::to("/").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|_| ApiError::bad_request("cookie"))?,
    );
    Ok(response)
}

/// A hash of a random password, checked when the name is unknown.
fn decoy_hash() -> String {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY
        .get_or_init(|| crate::credentials::hash_password(&random_secret()).unwrap_or_default())
        .clone()
}

pub async fn logout(
    State(state): State<AppState>,
    parts: Parts,
    caller: super::PageCaller<crate::auth::Viewer>,
    Form(form): Form<super::CsrfForm>,
) -> PageResult {
    caller.check_csrf(&form.csrf).map_err(PageError)?;
    if let Some(id) = cookie(&parts, SESSION_COOKIE) {
        state.store.delete_session(&digest(&id)).await?;
    }
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("mxwatch_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    Ok(response)
}
