//! mxwatch-server: `mxwatch serve` — the dashboard (server-rendered HTML), the JSON API under
//! `/api/v1` (described by `/api/openapi.json`, generated from the handlers), roles, metrics
//! and health, on the same store as `watch`, with the engine's watcher running beside it.
//!
//! Modules: [`api`] (JSON handlers, one file per area), `pages` (HTML, maud), `auth` (who
//! is asking, CSRF, the audit log), [`credentials`] (hashes and secrets), `overview` (the
//! domain list's filter/sort/page, shared by the API and the page), `security` (headers and
//! limits), [`state`].

pub mod api;
pub mod auth;
pub mod credentials;
pub mod error;
pub mod overview;
pub mod pages;
pub mod security;
pub mod state;

pub use state::AppState;

use axum::Router;
use axum::http::header;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::net::SocketAddr;
use std::sync::OnceLock;

/// The whole application: API, pages, the OpenAPI document, the hardening layers.
pub fn app(state: AppState) -> Router {
    let (api, openapi) = api::router().split_for_parts();
    let document = openapi
        .to_pretty_json()
        .expect("the OpenAPI document serialises");
    api.route(
        "/api/openapi.json",
        get(move || async move { ([(header::CONTENT_TYPE, "application/json")], document) }),
    )
    .merge(pages::router())
    .fallback(pages::not_found)
    .with_state(state)
    .pipe(security::harden)
}

/// The OpenAPI document (for tests and `mxwatch serve --openapi`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    api::router().into_openapi()
}

trait Pipe: Sized {
    fn pipe<T>(self, f: impl FnOnce(Self) -> T) -> T {
        f(self)
    }
}
impl<T> Pipe for T {}

/// The process's Prometheus recorder, installed once (the `metrics` facade has one global
/// recorder; a second server in the same process shares it).
pub fn metrics_handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            match metrics::set_global_recorder(recorder) {
                Ok(()) => {
                    api::ops::describe();
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!("metrics recorder not installed: {e}");
                    None
                }
            }
        })
        .clone()
}

/// `serve` on a non-loopback address with nobody able to log in would hand the dashboard to
/// whoever reaches it: refused.
pub fn check_listen(addr: &SocketAddr, has_credentials: bool) -> Result<(), String> {
    if addr.ip().is_loopback() || has_credentials {
        Ok(())
    } else {
        Err(format!(
            "refusing to listen on {addr} with no user or token: create one first \
             (`mxwatch user add NAME --role admin` or `mxwatch token create --role viewer`), \
             or listen on 127.0.0.1"
        ))
    }
}

/// Serves `app` on `listener` until `shutdown` completes; requests in flight are finished.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_public_address_needs_someone_to_log_in() {
        assert!(check_listen(&"127.0.0.1:8080".parse().unwrap(), false).is_ok());
        assert!(check_listen(&"[::1]:8080".parse().unwrap(), false).is_ok());
        let refused = check_listen(&"0.0.0.0:8080".parse().unwrap(), false).unwrap_err();
        assert!(refused.contains("token create"), "{refused}");
        assert!(check_listen(&"0.0.0.0:8080".parse().unwrap(), true).is_ok());
    }
}
