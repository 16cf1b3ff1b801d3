//! Every route walked with no credentials, and as viewer, operator and admin: 401 without
//! credentials, 403 where the role is too weak, neither where it is enough. The API's routes and
//! the role each needs come from the OpenAPI document (each operation's security scopes), the
//! pages' from the table the page router is built from: a new route cannot be left out.

mod common;

use axum::http::StatusCode;
use mxwatch_store::Role;

/// A path with its parameters filled in with values that exist (or at least parse).
fn concrete(path: &str) -> String {
    path.replace("{domain}", "a.test")
        // No such change, window or token: the walk must not revoke its own tokens.
        .replace("{id}", "999999")
        .replace("{name}", "nobody")
}

/// The least role an operation needs, from its security requirement (None: public).
fn needed(operation: &serde_json::Value) -> Option<Role> {
    let security = operation["security"]
        .as_array()
        .unwrap_or_else(|| panic!("an operation without a security requirement: {operation}"));
    let scopes: Vec<&str> = security
        .iter()
        .filter_map(|req| req.get("token"))
        .flat_map(|s| s.as_array().unwrap().iter().map(|v| v.as_str().unwrap()))
        .collect();
    match scopes.as_slice() {
        [] => None,
        [role] => Some(role.parse().unwrap()),
        more => panic!("one role per operation, got {more:?}"),
    }
}

async fn walk(
    server: &common::Server,
    method: &str,
    path: &str,
    needs: Option<Role>,
    body: Option<(&str, String)>,
) -> usize {
    let mut walked = 0;
    let anonymous = server.call(method, path, None, body.clone()).await;
    match needs {
        // A wrong password is the one 401 a public route gives.
        None if path == "/login" && method == "POST" => {
            assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
            assert!(
                anonymous.body.contains("Wrong name or password"),
                "{}",
                anonymous.body
            );
        }
        None => assert!(
            anonymous.status != StatusCode::UNAUTHORIZED
                && anonymous.status != StatusCode::FORBIDDEN,
            "{method} {path} is public but answered {}",
            anonymous.status
        ),
        Some(_) => assert_eq!(
            anonymous.status,
            StatusCode::UNAUTHORIZED,
            "{method} {path} without credentials: {}",
            anonymous.body
        ),
    }
    walked += 1;
    for (role, token) in [
        (Role::Viewer, &server.viewer),
        (Role::Operator, &server.operator),
        (Role::Admin, &server.admin),
    ] {
        let reply = server.call(method, path, Some(token), body.clone()).await;
        match needs {
            Some(needed) if role < needed => assert_eq!(
                reply.status,
                StatusCode::FORBIDDEN,
                "{method} {path} as {role} (needs {needed}): {}",
                reply.body
            ),
            None if path == "/login" => {}
            _ => assert!(
                reply.status != StatusCode::UNAUTHORIZED && reply.status != StatusCode::FORBIDDEN,
                "{method} {path} as {role}: {} {}",
                reply.status,
                reply.body
            ),
        }
        assert!(
            !reply.status.is_server_error(),
            "{method} {path} as {role}: {} {}",
            reply.status,
            reply.body
        );
        walked += 1;
    }
    walked
}

#[tokio::test]
async fn every_api_route_answers_each_role_as_its_description_says() {
    let server = common::server(common::config("127.0.0.1:9".parse().unwrap(), &["a.test"])).await;
    let document: serde_json::Value = serde_json::from_str(
        &server
            .call("GET", "/api/openapi.json", None, None)
            .await
            .body,
    )
    .unwrap();
    assert_eq!(document["openapi"].as_str().map(|v| &v[..3]), Some("3.1"));
    let paths = document["paths"].as_object().unwrap();
    let mut operations = 0;
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            let method = method.to_uppercase();
            // Bodies that parse, so that what is answered is the role's verdict, not the body's.
            let body = match (method.as_str(), path.as_str()) {
                ("POST", "/api/v1/users") => Some((
                    "application/json",
                    r#"{"name":"walker","password":"long enough password","role":"viewer"}"#
                        .to_string(),
                )),
                ("POST", "/api/v1/tokens") => Some((
                    "application/json",
                    r#"{"name":"walker","role":"viewer"}"#.to_string(),
                )),
                ("POST", "/api/v1/maintenance") => {
                    Some(("application/json", r#"{"start":1,"end":2}"#.to_string()))
                }
                ("PUT", _) => Some(("application/json", r#"{"tags":["walked"]}"#.to_string())),
                ("POST", _) => Some(("application/json", "{}".to_string())),
                _ => None,
            };
            walk(&server, &method, &concrete(path), needed(operation), body).await;
            operations += 1;
        }
    }
    assert!(
        operations >= 20,
        "only {operations} operations in the document"
    );
    // The walk itself is in the audit log (state-changing calls by the admin token).
    let log = server.get("/api/v1/audit-log", &server.admin).await.json();
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor"] == "token:admin" && e["action"] == "inventory.put"),
        "{log}"
    );
}

#[tokio::test]
async fn every_page_answers_each_role_as_its_table_says() {
    let server = common::server(common::config("127.0.0.1:9".parse().unwrap(), &["a.test"])).await;
    let mut walked = 0;
    for page in mxwatch_server::pages::page_routes() {
        let body = (page.method == "POST").then(|| {
            let form = match page.path {
                "/login" => "name=nobody&password=wrong",
                "/inventory" => "csrf=&domain=b.test&tags=walked",
                "/changes/{id}/approve" => "csrf=&note=ok",
                _ => "csrf=",
            };
            ("application/x-www-form-urlencoded", form.to_string())
        });
        walked += walk(&server, page.method, &concrete(page.path), page.role, body).await;
    }
    assert!(walked >= 60, "{walked}");
}

#[tokio::test]
async fn a_revoked_or_unknown_token_is_refused() {
    let server = common::server(common::config("127.0.0.1:9".parse().unwrap(), &["a.test"])).await;
    assert_eq!(
        server.get("/api/v1/domains", "mxw_nonsense").await.status,
        StatusCode::UNAUTHORIZED
    );
    let created = server
        .json(
            "POST",
            "/api/v1/tokens",
            &server.admin,
            serde_json::json!({"name": "ci", "role": "operator"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let created = created.json();
    let token = created["token"].as_str().unwrap().to_string();
    assert_eq!(
        server.get("/api/v1/domains", &token).await.status,
        StatusCode::OK
    );
    // Only the hash is stored.
    let listed = server.get("/api/v1/tokens", &server.admin).await.body;
    assert!(!listed.contains(&token));
    let id = created["id"].as_i64().unwrap();
    assert_eq!(
        server
            .call(
                "DELETE",
                &format!("/api/v1/tokens/{id}"),
                Some(&server.admin),
                None
            )
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        server.get("/api/v1/domains", &token).await.status,
        StatusCode::UNAUTHORIZED
    );
}
