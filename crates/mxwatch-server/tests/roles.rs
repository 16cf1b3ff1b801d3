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
        // A login post that did not come with our form's CSRF cookie is the one 403 a public
        // route gives (the whole login flow: `logging_in_takes_the_forms_csrf_token_and_a_password`).
        None if path == "/login" && method == "POST" => {
            assert_eq!(anonymous.status, StatusCode::FORBIDDEN);
            assert!(
                anonymous.body.contains("login form has expired"),
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

/// The `mxwatch_login_csrf` cookie a reply sets, and the form's hidden `csrf` field.
fn login_form_token(reply: &common::Reply) -> (String, String) {
    let cookie = reply
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("mxwatch_login_csrf="))
        .and_then(|v| v.split(';').next())
        .expect("the login form sets its CSRF cookie")
        .to_string();
    let field = reply
        .body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the login form has a csrf field")
        .to_string();
    (cookie, field)
}

async fn post_login(server: &common::Server, cookie: Option<&str>, form: &str) -> common::Reply {
    let mut request = axum::http::Request::builder()
        .method("POST")
        .uri("/login")
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some(c) = cookie {
        request = request.header("cookie", format!("mxwatch_login_csrf={c}"));
    }
    server
        .send(
            request
                .body(axum::body::Body::from(form.to_string()))
                .unwrap(),
        )
        .await
}

#[tokio::test]
async fn logging_in_takes_the_forms_csrf_token_and_a_password() {
    let server = common::server(common::config("127.0.0.1:9".parse().unwrap(), &["a.test"])).await;
    let hash = mxwatch_server::credentials::hash_password("a long enough password").unwrap();
    server
        .store
        .add_user("alice", &hash, Role::Viewer, 0)
        .await
        .unwrap();
    let form = server.call("GET", "/login", None, None).await;
    assert_eq!(form.status, StatusCode::OK);
    let (cookie, field) = login_form_token(&form);
    assert_eq!(
        cookie, field,
        "double submit: the cookie and the field agree"
    );
    assert!(cookie.len() >= 32, "{cookie}");
    let set_cookie = form.headers.get("set-cookie").unwrap().to_str().unwrap();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"),
        "{set_cookie}"
    );

    // A page elsewhere can post the field it guessed, but not set our cookie: refused, even
    // with the right password, and no session is made.
    let good = format!("name=alice&password=a+long+enough+password&csrf={field}");
    for (cookie, form) in [
        (None, good.clone()),
        (Some("0123456789abcdef0123456789abcdef"), good.clone()),
        (
            Some(cookie.as_str()),
            "name=alice&password=a+long+enough+password".to_string(),
        ),
    ] {
        let refused = post_login(&server, cookie, &form).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
        assert!(
            !refused
                .headers
                .get_all("set-cookie")
                .iter()
                .any(|v| v.to_str().unwrap().starts_with("mxwatch_session=")),
            "no session without the form's token"
        );
    }

    let wrong = post_login(
        &server,
        Some(&cookie),
        &format!("name=alice&password=wrong&csrf={field}"),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(
        wrong.body.contains("Wrong name or password"),
        "{}",
        wrong.body
    );
    let (again, _) = login_form_token(&wrong);
    assert_ne!(again, cookie, "each form gets a fresh token");

    let ok = post_login(&server, Some(&cookie), &good).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    let session = ok
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("mxwatch_session="))
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_string();
    let overview = server
        .send(
            axum::http::Request::builder()
                .uri("/")
                .header("cookie", format!("mxwatch_session={session}"))
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(overview.status, StatusCode::OK);
    assert!(overview.body.contains("alice"), "{}", overview.body);
}

#[tokio::test]
async fn the_audit_log_page_is_for_admins_and_shows_what_was_done() {
    let server = common::server(common::config("127.0.0.1:9".parse().unwrap(), &["a.test"])).await;
    server
        .store
        .audit(&mxwatch_store::AuditEntry {
            id: 0,
            at: 1_795_392_000,
            actor: "user:<b>mallory</b>".into(),
            action: "inventory.remove".into(),
            target: "a.test".into(),
            detail: Some("<script>alert(1)</script>".into()),
            source: "127.0.0.1".into(),
        })
        .await
        .unwrap();
    assert_eq!(
        server.get("/audit", &server.operator).await.status,
        StatusCode::FORBIDDEN
    );
    let page = server.get("/audit", &server.admin).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("inventory.remove") && page.body.contains("2026-11-23 00:00 UTC"));
    assert!(
        page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("<script>alert") && !page.body.contains("<b>mallory"));
    assert!(
        server
            .get("/", &server.admin)
            .await
            .body
            .contains("href=\"/audit\"")
    );
    assert!(
        !server
            .get("/", &server.operator)
            .await
            .body
            .contains("href=\"/audit\"")
    );
}
