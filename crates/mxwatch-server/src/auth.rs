//! Who is asking: an API token (`Authorization: Bearer …`) or a dashboard session (cookie),
//! with its role; the CSRF rule; the audit log of what they changed.

use crate::credentials::{digest, same_secret};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Method, header};
use mxwatch_engine::now_unix;
use mxwatch_store::{AuditEntry, Role};
use std::net::SocketAddr;

pub const SESSION_COOKIE: &str = "mxwatch_session";
/// The header an API client authenticated by the session cookie sends its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How long a dashboard session lasts.
pub const SESSION_SECONDS: i64 = 12 * 3600;

/// The authenticated caller of a request.
#[derive(Clone, Debug)]
pub struct Caller {
    /// `user:NAME` or `token:NAME`, as the audit log names them.
    pub actor: String,
    pub role: Role,
    /// The client's address.
    pub source: String,
    /// The session's CSRF token (None for an API token, which a browser never sends by itself).
    pub csrf: Option<String>,
}

impl Caller {
    /// 403 unless the caller's role is at least `needed`.
    pub fn require(&self, needed: Role) -> ApiResult<()> {
        if self.role >= needed {
            Ok(())
        } else {
            Err(ApiError::forbidden(needed))
        }
    }

    /// A form's CSRF token must be its session's (a token-authenticated caller has none to check).
    pub fn check_csrf(&self, given: &str) -> ApiResult<()> {
        match &self.csrf {
            Some(expected) if !same_secret(expected, given) => Err(ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "the form's CSRF token is not this session's; reload the page",
            )),
            _ => Ok(()),
        }
    }

    /// Records a state-changing action in the audit log.
    pub async fn record(
        &self,
        state: &AppState,
        action: &str,
        target: &str,
        detail: Option<String>,
    ) -> ApiResult<()> {
        state
            .store
            .audit(&AuditEntry {
                id: 0,
                at: now_unix(),
                actor: self.actor.clone(),
                action: action.into(),
                target: target.into(),
                detail,
                source: self.source.clone(),
            })
            .await?;
        Ok(())
    }
}

/// A role a route needs, as a type: `Authorized<Operator>` extracts the caller and checks the
/// role before anything else of the request (its body included) is looked at, so a caller
/// whose role is too weak always gets 403, whatever they sent.
pub trait Needs: Send + Sync + 'static {
    const ROLE: Role;
}
pub struct Viewer;
pub struct Operator;
pub struct Admin;
impl Needs for Viewer {
    const ROLE: Role = Role::Viewer;
}
impl Needs for Operator {
    const ROLE: Role = Role::Operator;
}
impl Needs for Admin {
    const ROLE: Role = Role::Admin;
}

/// The caller of an API route, with at least `R`'s role (401/403 as JSON otherwise).
pub struct Authorized<R: Needs>(pub Caller, pub std::marker::PhantomData<R>);

impl<R: Needs> std::ops::Deref for Authorized<R> {
    type Target = Caller;
    fn deref(&self) -> &Caller {
        &self.0
    }
}

impl<R: Needs> FromRequestParts<AppState> for Authorized<R> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let caller = Caller::from_request_parts(parts, state).await?;
        caller.require(R::ROLE)?;
        Ok(Authorized(caller, std::marker::PhantomData))
    }
}

/// The client's address as the connection gave it (through axum's `ConnectInfo` extractor,
/// which tests feed with `MockConnectInfo`).
pub async fn client_address(parts: &mut Parts) -> Option<SocketAddr> {
    ConnectInfo::<SocketAddr>::from_request_parts(parts, &())
        .await
        .ok()
        .map(|c| c.0)
}

/// The value of one cookie of the request.
pub fn cookie(parts: &Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn unsafe_method(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Caller> {
        let source = client_address(parts)
            .await
            .map(|a| a.ip().to_string())
            .unwrap_or_else(|| "unknown".into());
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or_else(ApiError::unauthorized)?;
            let token = state
                .store
                .token_by_hash(&digest(token.trim()))
                .await?
                .ok_or_else(ApiError::unauthorized)?;
            return Ok(Caller {
                actor: format!("token:{}", token.name),
                role: token.role,
                source,
                csrf: None,
            });
        }
        let Some(id) = cookie(parts, SESSION_COOKIE) else {
            return Err(ApiError::unauthorized());
        };
        let session = state
            .store
            .session(&digest(&id), now_unix())
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        let caller = Caller {
            actor: format!("user:{}", session.user.name),
            role: session.user.role,
            source,
            csrf: Some(session.csrf),
        };
        // A browser sends the cookie with any request, a forged one included: the API's
        // state-changing requests must also carry the session's CSRF token in a header (a
        // page of another origin cannot set it). Forms carry it in a field, checked by
        // their handlers (`check_csrf`).
        if unsafe_method(&parts.method) && parts.uri.path().starts_with("/api/") {
            let given = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            caller.check_csrf(given)?;
        }
        Ok(caller)
    }
}
