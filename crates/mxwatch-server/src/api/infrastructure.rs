//! `/api/v1/infrastructure`: MX hosts, addresses and certificates across the inventory with the
//! domains that use each — the blast radius — sorted by risk.

use crate::auth::{Authorized, Viewer};
use crate::error::{ApiResult, ErrorBody};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Query, State};
use mxwatch_engine::now_unix;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A certificate expiring within this many days counts as a risk.
const EXPIRY_RISK_DAYS: i64 = 30;

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct SharedItem {
    /// `host`, `address` or `certificate`.
    pub kind: String,
    /// The host name, the address, or the certificate's subject.
    pub name: String,
    pub domain_count: usize,
    /// The first domains using it (at most 20), by name.
    pub domains: Vec<String>,
    /// Certificates: when it expires (Unix seconds).
    pub not_after: Option<i64>,
    /// Why it is a risk (expiring certificate, many domains), or none.
    pub risk: Option<String>,
    /// For sorting: expiring soon first, then by domain count.
    pub risk_score: i64,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SharedQuery {
    /// host, address or certificate; all when left out.
    pub kind: Option<String>,
    /// At most this many items. Default: 200, at most 5000.
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/infrastructure", tag = "domains", params(SharedQuery),
    responses((status = 200, body = Vec<SharedItem>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("token" = ["viewer"])))]
pub async fn list(
    State(state): State<AppState>,
    _caller: Authorized<Viewer>,
    Query(q): Query<SharedQuery>,
) -> ApiResult<Json<Vec<SharedItem>>> {
    let mut items = shared(&state).await?;
    if let Some(kind) = q.kind.as_deref().filter(|k| !k.is_empty()) {
        items.retain(|i| i.kind == kind);
    }
    items.truncate(q.limit.unwrap_or(200).clamp(1, 5000) as usize);
    Ok(Json(items))
}

/// One shared thing as it is gathered: its display name, the domains using it, its expiry.
type Group = (String, BTreeSet<String>, Option<i64>);

pub async fn shared(state: &AppState) -> ApiResult<Vec<SharedItem>> {
    let now = now_unix();
    let mut groups: BTreeMap<(&'static str, String), Group> = BTreeMap::new();
    for (domain, endpoints) in state.store.endpoints().await? {
        for e in endpoints {
            let host = e.host.trim_end_matches('.').to_ascii_lowercase();
            groups
                .entry(("host", host.clone()))
                .or_insert_with(|| (host.clone(), BTreeSet::new(), None))
                .1
                .insert(domain.clone());
            if let Some(address) = &e.address {
                groups
                    .entry(("address", address.clone()))
                    .or_insert_with(|| (address.clone(), BTreeSet::new(), None))
                    .1
                    .insert(domain.clone());
            }
            if let Some(key) = &e.cert_key {
                let subject = e.cert_subject.clone().unwrap_or_default();
                groups
                    .entry(("certificate", key.clone()))
                    .or_insert_with(|| (subject, BTreeSet::new(), e.cert_not_after))
                    .1
                    .insert(domain.clone());
            }
        }
    }
    let mut items: Vec<SharedItem> = groups
        .into_iter()
        .map(|((kind, _), (name, domains, not_after))| {
            let count = domains.len();
            let days_left = not_after.map(|t| (t - now).div_euclid(86_400));
            let risk = match days_left {
                Some(d) if d < 0 => Some(format!("certificate expired: {count} domains")),
                Some(d) if d <= EXPIRY_RISK_DAYS => {
                    Some(format!("certificate expires in {d} days: {count} domains"))
                }
                _ if count > 1 => Some(format!("shared by {count} domains")),
                _ => None,
            };
            let urgency = match days_left {
                Some(d) if d <= EXPIRY_RISK_DAYS => 1_000_000_000 - d.max(-1000) * 1_000_000,
                _ => 0,
            };
            SharedItem {
                kind: kind.into(),
                name,
                domain_count: count,
                domains: domains.into_iter().take(20).collect(),
                not_after,
                risk,
                risk_score: urgency + count as i64,
            }
        })
        .collect();
    items.sort_by(|a, b| {
        b.risk_score
            .cmp(&a.risk_score)
            .then_with(|| a.name.cmp(&b.name))
    });
    Ok(items)
}
