//! A server on a private in-memory store, driven in-process (tower's `oneshot`), with a token
//! of each role.

#![allow(dead_code)]

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use mxwatch_engine::config::Config;
use mxwatch_engine::monitor::Watcher;
use mxwatch_server::AppState;
use mxwatch_store::queue::WorkQueue;
use mxwatch_store::{Role, SqliteStore, Store};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use tower::ServiceExt;

pub struct Server {
    pub app: Router,
    pub state: AppState,
    pub store: Arc<dyn Store>,
    pub watcher: Arc<Watcher>,
    pub viewer: String,
    pub operator: String,
    pub admin: String,
}

/// A configuration for `resolver` (nothing listens on port 9 of 127.0.0.1: a server that is
/// never run sends nothing anywhere else).
pub fn config(resolver: SocketAddr, domains: &[&str]) -> Config {
    let mut text = format!(
        "[defaults]\nevery = \"1h\"\njitter = 0.0\nconfirm_after = \"0s\"\nresolver = \"{resolver}\"\nlab = true\n\
         probe = false\ncompare_nameservers = false\ndnssec = false\n"
    );
    for d in domains {
        text.push_str(&format!("[[domain]]\nname = \"{d}\"\ntags = [\"lab\"]\n"));
    }
    Config::parse(&text).unwrap()
}

pub async fn server(config: Config) -> Server {
    server_with_queue(config, None).await
}

/// A server whose `/workers` reads `queue` (a PostgreSQL database's work queue).
pub async fn server_with_queue(config: Config, queue: Option<Arc<dyn WorkQueue>>) -> Server {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::memory().await.unwrap());
    let watcher = Arc::new(Watcher::new(config, store.clone()).unwrap());
    watcher.refresh_inventory().await.unwrap();
    let mut state = AppState::new(
        store.clone(),
        watcher.clone(),
        Arc::new(AtomicBool::new(true)),
        mxwatch_server::metrics_handle(),
    );
    if let Some(queue) = queue {
        state = state.with_work_queue(queue);
    }
    let app = mxwatch_server::app(state.clone())
        .layer(MockConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    let token = |role: Role| {
        let store = store.clone();
        async move {
            mxwatch_server::api::access::create_token(store.as_ref(), role.as_str(), role, "test")
                .await
                .unwrap()
                .1
        }
    };
    Server {
        viewer: token(Role::Viewer).await,
        operator: token(Role::Operator).await,
        admin: token(Role::Admin).await,
        app,
        state,
        store,
        watcher,
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

impl Server {
    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    /// A request with a bearer token (None: no credentials) and a JSON or form body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, String)>,
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            request = request.header("authorization", format!("Bearer {t}"));
        }
        let request = match body {
            Some((content_type, text)) => request
                .header("content-type", content_type)
                .body(Body::from(text)),
            None => request.body(Body::empty()),
        }
        .unwrap();
        self.send(request).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call("GET", path, Some(token), None).await
    }

    pub async fn json(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: serde_json::Value,
    ) -> Reply {
        self.call(
            method,
            path,
            Some(token),
            Some(("application/json", body.to_string())),
        )
        .await
    }
}
