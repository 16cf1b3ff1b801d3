//! What every response carries and every request is held to: a strict Content-Security-Policy
//! (no inline script, nothing from another origin), no sniffing, no framing, no referrer; a
//! body limit and a time limit.

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Duration;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

/// Largest request body accepted (forms and JSON edits are small).
pub const BODY_LIMIT: usize = 64 * 1024;
/// A request that takes longer is answered 408 (the overview of 10,000 domains takes well
/// under a second; see docs/performance.md).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything the pages load comes from this server: scripts and styles only as files (no
/// inline script or style attribute can run), no frames, forms only to this origin.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The API answers errors as JSON (`{"error": …}`), its own and axum's alike: a body, path or
/// query that does not parse (axum's plain-text 400, 415 and 422) becomes a JSON 400 saying why,
/// as the OpenAPI document describes every error.
async fn json_errors(request: Request, next: Next) -> Response {
    let api = request.uri().path().starts_with("/api/");
    let response = next.run(request).await;
    let plain = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    let status = response.status();
    if !api || !plain || !status.is_client_error() {
        return response;
    }
    let status = match status {
        StatusCode::UNSUPPORTED_MEDIA_TYPE | StatusCode::UNPROCESSABLE_ENTITY => {
            StatusCode::BAD_REQUEST
        }
        other => other,
    };
    let bytes = axum::body::to_bytes(response.into_body(), 4096)
        .await
        .unwrap_or_default();
    let message = String::from_utf8_lossy(&bytes).into_owned();
    crate::error::ApiError::new(status, message).into_response()
}

pub fn harden<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    let fixed = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ];
    let mut router = router
        .layer(axum::middleware::from_fn(json_errors))
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ));
    for (name, value) in fixed {
        router = router.layer(SetResponseHeaderLayer::overriding(
            name,
            HeaderValue::from_static(value),
        ));
    }
    // Pages and answers hold what only a logged-in reader may see: no shared cache keeps them.
    router.layer(SetResponseHeaderLayer::if_not_present(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    ))
}
