//! The server on the lab: a record holding `<script>` and `javascript:` renders as inert text; a
//! change made live in the lab is recorded by the watcher and approved through the API; an
//! inventory edit made in serve reaches the watcher's schedule at once.

mod common;

use axum::http::StatusCode;
use mxwatch_lab::{LabDns, LabZones};
use serde_json::json;

const HOSTILE_SPF: &str = "v=spf1 <script>alert(1)</script> javascript:alert(2) -all";

fn healthy_with(spf: &str) -> String {
    LabZones::builtin_zone_text("healthy.test.zone")
        .unwrap()
        .replace("\"v=spf1 mx -all\"", &format!("\"{spf}\""))
}

async fn once(server: &common::Server) {
    server
        .watcher
        .run_until(true, std::future::pending())
        .await
        .unwrap();
}

#[tokio::test]
async fn stranger_data_is_inert_changes_are_approved_and_inventory_edits_reach_the_watcher() {
    let lab = LabDns::start_builtin().await.unwrap();
    let server = common::server(common::config(lab.addr, &["healthy.test"])).await;
    once(&server).await;

    // Live in the lab: the SPF record now carries markup and a script URL.
    lab.zones
        .write()
        .unwrap()
        .set_zone("healthy.test.zone", &healthy_with(HOSTILE_SPF))
        .unwrap();
    once(&server).await;

    let page = server.get("/domains/healthy.test", &server.admin).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "the record is shown, escaped: {}",
        page.body
    );
    assert!(!page.body.contains("<script>alert"), "no injected element");
    // The matrix has a DANE column; this watcher runs without DNSSEC, and says so.
    assert!(page.body.contains("<th>DANE</th>"), "{}", page.body);
    assert!(
        page.body.contains("<td class=\"dane\">not checked</td>"),
        "{}",
        page.body
    );
    // The only script element is our own file; `javascript:` never becomes a link.
    assert_eq!(page.body.matches("<script").count(), 1);
    assert!(!page.body.contains("href=\"javascript:"));
    assert!(
        page.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    assert_eq!(page.headers["x-content-type-options"], "nosniff");
    assert_eq!(page.headers["x-frame-options"], "DENY");

    // The change feed holds the SPF change, unexpected; an operator approves it with a note.
    let changes = server
        .get("/api/v1/changes?unexpected=true", &server.viewer)
        .await
        .json();
    let change = changes
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["domain"] == "healthy.test")
        .unwrap_or_else(|| panic!("no change recorded: {changes}"))
        .clone();
    let feed = server.get("/changes", &server.viewer).await.body;
    assert!(!feed.contains("<script>alert"), "the feed escapes too");
    let id = change["id"].as_i64().unwrap();
    let viewer_try = server
        .json(
            "POST",
            &format!("/api/v1/changes/{id}/approve"),
            &server.viewer,
            json!({}),
        )
        .await;
    assert_eq!(viewer_try.status, StatusCode::FORBIDDEN);
    let approved = server
        .json(
            "POST",
            &format!("/api/v1/changes/{id}/approve"),
            &server.operator,
            json!({"note": "new SPF, <b>planned</b>"}),
        )
        .await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
    let approved = approved.json();
    assert_eq!(approved["approved_by"], "token:operator");
    assert_eq!(approved["note"], "new SPF, <b>planned</b>");
    assert!(approved["expected"].as_str().unwrap().contains("approved"));
    let page = server
        .get("/domains/healthy.test", &server.admin)
        .await
        .body;
    assert!(page.contains("new SPF, &lt;b&gt;planned&lt;/b&gt;"));
    // The others (the finding that came with it) are acknowledged: nothing is left unattended.
    let others: Vec<i64> = changes
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["domain"] == "healthy.test" && c["id"] != id)
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    let overview = server
        .get("/api/v1/domains?q=healthy", &server.viewer)
        .await
        .json();
    assert_eq!(
        overview["domains"][0]["open_unexpected_changes"],
        others.len(),
        "{overview}"
    );
    for other in others {
        let acked = server
            .call(
                "POST",
                &format!("/api/v1/changes/{other}/acknowledge"),
                Some(&server.operator),
                None,
            )
            .await;
        assert_eq!(acked.status, StatusCode::OK, "{}", acked.body);
        assert_eq!(acked.json()["acknowledged_by"], "token:operator");
    }
    let overview = server
        .get("/api/v1/domains?q=healthy", &server.viewer)
        .await
        .json();
    assert_eq!(
        overview["domains"][0]["open_unexpected_changes"], 0,
        "{overview}"
    );
    let target = id.to_string();
    let log = server.get("/api/v1/audit-log", &server.admin).await.json();
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "change.approve"
                && e["target"] == target.as_str()
                && e["source"] == "127.0.0.1"),
        "{log}"
    );

    // Inventory: a domain added in serve is watched at once; one removed is taken off.
    let added = server
        .json(
            "PUT",
            "/api/v1/inventory/dmarc-missing.test",
            &server.admin,
            json!({"tags": ["added"], "expect_mx": ["10 mx.example.net"]}),
        )
        .await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    assert_eq!(added.json()["source"], "store");
    let bad = server
        .json(
            "PUT",
            "/api/v1/inventory/x.test",
            &server.admin,
            json!({"preset": "no-such-provider"}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    assert_eq!(
        server
            .call(
                "DELETE",
                "/api/v1/inventory/healthy.test",
                Some(&server.admin),
                None
            )
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let names: Vec<String> = server
        .watcher
        .inventory()
        .entries
        .iter()
        .map(|e| e.domain.ascii.clone())
        .collect();
    assert_eq!(names, ["dmarc-missing.test"]);
    once(&server).await;
    let overview = server
        .get("/api/v1/domains?tag=added", &server.viewer)
        .await
        .json();
    assert_eq!(overview["total"], 1, "{overview}");
    let row = &overview["domains"][0];
    assert_eq!(row["domain"], "dmarc-missing.test");
    assert_ne!(row["status"], "unchecked", "the watcher checked it: {row}");
    let all = server.get("/api/v1/domains", &server.viewer).await.json();
    assert_eq!(all["total"], 1, "healthy.test is off the schedule: {all}");
    // The file's domain stays removed for a watcher that starts later on the same store.
    let later = mxwatch_engine::monitor::Watcher::new(
        common::config(lab.addr, &["healthy.test"]),
        server.store.clone(),
    )
    .unwrap();
    later.refresh_inventory().await.unwrap();
    let names: Vec<String> = later
        .inventory()
        .entries
        .iter()
        .map(|e| e.domain.ascii.clone())
        .collect();
    assert_eq!(names, ["dmarc-missing.test"]);

    // /metrics counts what happened, in the Prometheus text format.
    let metrics = server.get("/metrics", &server.viewer).await;
    assert!(
        metrics.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    for name in [
        "mxwatch_audits_total",
        "mxwatch_changes_total",
        "mxwatch_dns_questions_total",
        "mxwatch_findings_open",
        "mxwatch_alert_queue_depth",
    ] {
        assert!(
            metrics.body.contains(name),
            "{name} missing:\n{}",
            metrics.body
        );
    }
}
