//! The overview's rows: every watched domain with its health, filtered, sorted and paged —
//! the same for the JSON API and the page.

use mxwatch_engine::monitor::Watcher;
use mxwatch_store::DomainRow;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Most rows one page may ask for.
pub const MAX_PER_PAGE: usize = 500;

#[derive(Clone, Debug, Default, Deserialize, Serialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OverviewQuery {
    /// Part of the domain name.
    pub q: Option<String>,
    /// Only domains whose worst open finding is at least this severity (info, low, medium, high, critical).
    pub severity: Option<String>,
    /// Only domains whose most preferred MX is under this registrable domain (e.g. `google.com`).
    pub provider: Option<String>,
    /// Only domains with this tag.
    pub tag: Option<String>,
    /// Only domains with a change recorded in the last N days.
    pub changed_days: Option<u32>,
    /// domain (default), severity, last_check, next_check, changes.
    pub sort: Option<String>,
    /// asc (default) or desc.
    pub order: Option<String>,
    /// 1-based page number. Default: 1.
    pub page: Option<u32>,
    /// Rows per page, at most 500. Default: 50.
    pub per_page: Option<u32>,
}

/// One domain as the overview shows it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct DomainView {
    pub domain: String,
    /// `healthy`, `findings`, `indeterminate`, or `unchecked` (no observation yet).
    pub status: String,
    /// The worst open finding's severity; none when there is no finding.
    pub health: Option<String>,
    pub findings: i64,
    /// `10 mx1.example.net, 20 mx2.example.net`; none when not determined.
    pub mx: Option<String>,
    pub provider: Option<String>,
    pub tags: Vec<String>,
    /// Unix seconds.
    pub last_check: Option<i64>,
    pub next_check: i64,
    /// Open changes nobody approved or acknowledged and no rule expected.
    pub open_unexpected_changes: i64,
    pub last_change: Option<i64>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct DomainPage {
    /// Domains matching the filter (all pages).
    pub total: usize,
    pub page: u32,
    pub per_page: u32,
    pub domains: Vec<DomainView>,
}

fn rank(severity: &str) -> Option<i64> {
    let s: mxwatch_core::Severity = severity.parse().ok()?;
    Some(mxwatch_store::dashboard::severity_rank(Some(s)))
}

/// The tags of every domain of the watcher's inventory.
pub fn tags_by_domain(watcher: &Watcher) -> HashMap<String, Vec<String>> {
    watcher
        .inventory()
        .entries
        .iter()
        .map(|e| (e.domain.ascii.clone(), e.config.tags.clone()))
        .collect()
}

pub fn view(row: DomainRow, tags: &HashMap<String, Vec<String>>) -> DomainView {
    DomainView {
        tags: tags.get(&row.domain).cloned().unwrap_or_default(),
        status: match row.status.as_deref() {
            None => "unchecked".into(),
            Some("ok") => "healthy".into(),
            Some(other) => other.into(),
        },
        health: row.worst,
        findings: row.findings,
        mx: row.mx,
        provider: row.provider,
        last_check: row.observed_at,
        next_check: row.next_due,
        open_unexpected_changes: row.open_unexpected,
        last_change: row.last_change_at,
        domain: row.domain,
    }
}

/// Filters, sorts and pages `rows`. A bad parameter is an error naming it.
pub fn page(
    rows: Vec<DomainRow>,
    tags: &HashMap<String, Vec<String>>,
    q: &OverviewQuery,
    now: i64,
) -> Result<DomainPage, String> {
    let min_rank =
        match q.severity.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => Some(rank(s).ok_or_else(|| {
                format!("severity {s:?}: one of info, low, medium, high, critical")
            })?),
            None => None,
        };
    let sort = q.sort.as_deref().unwrap_or("domain");
    if !["domain", "severity", "last_check", "next_check", "changes"].contains(&sort) {
        return Err(format!(
            "sort {sort:?}: one of domain, severity, last_check, next_check, changes"
        ));
    }
    let descending = match q.order.as_deref().unwrap_or("asc") {
        "asc" => false,
        "desc" => true,
        other => return Err(format!("order {other:?}: asc or desc")),
    };
    let per_page = q.per_page.unwrap_or(50).clamp(1, MAX_PER_PAGE as u32);
    let page = q.page.unwrap_or(1).max(1);
    let needle = q.q.as_deref().unwrap_or("").trim().to_ascii_lowercase();
    let since = q.changed_days.map(|d| now - i64::from(d) * 86_400);
    let mut rows: Vec<DomainRow> = rows
        .into_iter()
        .filter(|r| needle.is_empty() || r.domain.contains(&needle))
        .filter(|r| min_rank.is_none_or(|m| r.worst_rank >= m && r.worst_rank > 0))
        .filter(|r| {
            q.provider
                .as_deref()
                .filter(|p| !p.is_empty())
                .is_none_or(|p| {
                    r.provider
                        .as_deref()
                        .is_some_and(|have| have.eq_ignore_ascii_case(p))
                })
        })
        .filter(|r| {
            q.tag.as_deref().filter(|t| !t.is_empty()).is_none_or(|t| {
                tags.get(&r.domain)
                    .is_some_and(|have| have.iter().any(|h| h == t))
            })
        })
        .filter(|r| since.is_none_or(|s| r.last_change_at.is_some_and(|at| at >= s)))
        .collect();
    match sort {
        "severity" => rows.sort_by(|a, b| {
            a.worst_rank
                .cmp(&b.worst_rank)
                .then_with(|| a.domain.cmp(&b.domain))
        }),
        "last_check" => rows.sort_by(|a, b| {
            a.observed_at
                .cmp(&b.observed_at)
                .then_with(|| a.domain.cmp(&b.domain))
        }),
        "next_check" => rows.sort_by(|a, b| {
            a.next_due
                .cmp(&b.next_due)
                .then_with(|| a.domain.cmp(&b.domain))
        }),
        "changes" => rows.sort_by(|a, b| {
            a.open_unexpected
                .cmp(&b.open_unexpected)
                .then_with(|| a.domain.cmp(&b.domain))
        }),
        _ => rows.sort_by(|a, b| a.domain.cmp(&b.domain)),
    }
    if descending {
        rows.reverse();
    }
    let total = rows.len();
    let skip = (page as usize - 1).saturating_mul(per_page as usize);
    let domains = rows
        .into_iter()
        .skip(skip)
        .take(per_page as usize)
        .map(|r| view(r, tags))
        .collect();
    Ok(DomainPage {
        total,
        page,
        per_page,
        domains,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(domain: &str, rank: i64, provider: &str, changed: Option<i64>) -> DomainRow {
        DomainRow {
            domain: domain.into(),
            next_due: 0,
            observed_at: Some(1),
            status: Some("findings".into()),
            worst: None,
            worst_rank: rank,
            findings: rank,
            mx: None,
            provider: Some(provider.into()),
            open_unexpected: 0,
            last_change_at: changed,
        }
    }

    #[test]
    fn filters_sort_and_pages() {
        let rows = vec![
            row("a.test", 4, "google.com", Some(1000)),
            row("b.test", 1, "outlook.com", None),
            row("c.test", 5, "google.com", Some(10)),
        ];
        let tags = HashMap::from([("b.test".to_string(), vec!["prod".to_string()])]);
        let q = |f: fn(&mut OverviewQuery)| {
            let mut q = OverviewQuery::default();
            f(&mut q);
            page(rows.clone(), &tags, &q, 1000).map(|p| {
                (
                    p.total,
                    p.domains.into_iter().map(|d| d.domain).collect::<Vec<_>>(),
                )
            })
        };
        assert_eq!(q(|_| {}).unwrap().1, ["a.test", "b.test", "c.test"]);
        assert_eq!(
            q(|q| q.severity = Some("high".into())).unwrap().1,
            ["a.test", "c.test"]
        );
        assert_eq!(
            q(|q| q.provider = Some("GOOGLE.com".into())).unwrap().1,
            ["a.test", "c.test"]
        );
        assert_eq!(q(|q| q.tag = Some("prod".into())).unwrap().1, ["b.test"]);
        assert_eq!(
            q(|q| q.changed_days = Some(7)).unwrap().1,
            ["a.test", "c.test"]
        );
        assert_eq!(q(|q| q.q = Some("B.".into())).unwrap().1, ["b.test"]);
        let by_severity = q(|q| {
            q.sort = Some("severity".into());
            q.order = Some("desc".into());
        });
        assert_eq!(by_severity.unwrap().1, ["c.test", "a.test", "b.test"]);
        let second = q(|q| {
            q.per_page = Some(2);
            q.page = Some(2);
        });
        assert_eq!(second.unwrap(), (3, vec!["c.test".to_string()]));
        assert!(
            q(|q| q.sort = Some("colour".into()))
                .unwrap_err()
                .contains("colour")
        );
        assert!(
            q(|q| q.severity = Some("dire".into()))
                .unwrap_err()
                .contains("dire")
        );
    }
}
