//! `/`: every domain with its health, MX set, last and next check, open unexpected changes;
//! filter, sort, search and pages (the same query as `GET /api/v1/domains`).

use super::{PageResult, badge, page as render, when};
use crate::api::domains::overview_page;
use crate::auth::Caller;
use crate::overview::OverviewQuery;
use crate::state::AppState;
use axum::extract::{Query, State};
use maud::html;

pub async fn page_handler(state: AppState, caller: Caller, q: OverviewQuery) -> PageResult {
    let result = overview_page(&state, &q).await?;
    let pages = result.total.div_ceil(result.per_page as usize).max(1);
    let link = |n: u32| {
        let mut next = q.clone();
        next.page = Some(n);
        format!("/?{}", serde_urlencoded(&next))
    };
    let body = html! {
        h1 { "Overview" }
        form.filters method="get" action="/" {
            label { "Search" input type="search" name="q" value=(q.q.as_deref().unwrap_or("")) placeholder="domain"; }
            label { "Severity at least"
                select name="severity" {
                    option value="" { "any" }
                    @for s in ["info", "low", "medium", "high", "critical"] {
                        option value=(s) selected[q.severity.as_deref() == Some(s)] { (s) }
                    }
                }
            }
            label { "Provider" input type="text" name="provider" value=(q.provider.as_deref().unwrap_or("")); }
            label { "Tag" input type="text" name="tag" value=(q.tag.as_deref().unwrap_or("")); }
            label { "Changed in the last 7 days"
                input type="checkbox" name="changed_days" value="7" checked[q.changed_days == Some(7)];
            }
            label { "Sort"
                select name="sort" {
                    @for (value, label) in [("domain", "domain"), ("severity", "health"), ("last_check", "last check"), ("next_check", "next check"), ("changes", "unexpected changes")] {
                        option value=(value) selected[q.sort.as_deref() == Some(value)] { (label) }
                    }
                }
            }
            label { "Order"
                select name="order" {
                    option value="asc" selected[q.order.as_deref() != Some("desc")] { "ascending" }
                    option value="desc" selected[q.order.as_deref() == Some("desc")] { "descending" }
                }
            }
            button type="submit" { "Apply" }
        }
        p.count { (result.total) @if result.total == 1 { " domain" } @else { " domains" } }
        div.scroll {
            table.overview {
                thead { tr { th { "Domain" } th { "Health" } th { "MX" } th { "Last check" } th { "Next check" } th { "Unexpected changes" } th { "Tags" } } }
                tbody {
                    @for d in &result.domains {
                        tr {
                            td { a href={ "/domains/" (d.domain) } { (d.domain) } }
                            td { (badge(d.health.as_deref())) " " span.status { (d.status) } }
                            td.mx { (d.mx.as_deref().unwrap_or("—")) }
                            td { (when(d.last_check)) }
                            td { (when(Some(d.next_check))) }
                            td { @if d.open_unexpected_changes > 0 { strong.alert { (d.open_unexpected_changes) } } @else { "0" } }
                            td { (d.tags.join(", ")) }
                        }
                    }
                }
            }
        }
        nav.pages aria-label="pages" {
            @if result.page > 1 { a href=(link(result.page - 1)) { "← previous" } }
            span { "page " (result.page) " of " (pages) }
            @if (result.page as usize) < pages { a href=(link(result.page + 1)) { "next →" } }
        }
    };
    Ok(render("Overview", &caller, body))
}

/// The query string of an overview query (only the parameters set).
fn serde_urlencoded(q: &OverviewQuery) -> String {
    let value = serde_json::to_value(q).unwrap_or_default();
    let mut pairs = Vec::new();
    if let Some(map) = value.as_object() {
        for (k, v) in map {
            let text = match v {
                serde_json::Value::Null => continue,
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            pairs.push(format!("{k}={}", percent(&text)));
        }
    }
    pairs.join("&")
}

/// Percent-encodes everything but unreserved characters (RFC 3986 §2.3).
pub fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub async fn page(
    State(state): State<AppState>,
    caller: super::PageCaller<crate::auth::Viewer>,
    Query(q): Query<OverviewQuery>,
) -> PageResult {
    page_handler(state, caller.0, q).await
}
