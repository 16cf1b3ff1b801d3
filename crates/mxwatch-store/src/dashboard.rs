//! What `mxwatch serve` reads beyond the monitor's own operations: one summary row per domain
//! (written with each recorded cycle, so the overview never decodes a report), the overview
//! itself, the change feed with its approvals and acknowledgements, "check now" and the
//! readiness ping.

use crate::{PgStore, Result, SqliteStore, StoredChange};
use mxwatch_core::{Report, Severity};
use serde::{Deserialize, Serialize};

/// One MX endpoint of a domain as last observed: what the shared-infrastructure view groups by.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    pub host: String,
    pub address: Option<String>,
    /// SHA-256 of the leaf certificate's subject, issuer and validity (a stable key for it).
    pub cert_key: Option<String>,
    pub cert_subject: Option<String>,
    pub cert_not_after: Option<i64>,
}

/// What the overview shows of a domain's latest observation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub domain: String,
    pub observation_id: i64,
    pub observed_at: i64,
    pub status: String,
    pub worst: Option<Severity>,
    pub findings: i64,
    /// Findings by severity (`info` … `critical`).
    pub by_severity: std::collections::BTreeMap<String, i64>,
    pub mx: Option<String>,
    pub provider: Option<String>,
    pub endpoints: Vec<Endpoint>,
}

/// 0 for no finding, 1 (info) … 5 (critical): the overview sorts by it.
pub fn severity_rank(severity: Option<Severity>) -> i64 {
    match severity {
        None => 0,
        Some(Severity::Info) => 1,
        Some(Severity::Low) => 2,
        Some(Severity::Medium) => 3,
        Some(Severity::High) => 4,
        Some(Severity::Critical) => 5,
    }
}

impl Summary {
    /// The summary of a report about to be recorded as observation `observation_id`.
    pub fn of(report: &Report, observation_id: i64, observed_at: i64, status: &str) -> Summary {
        let observation = &report.observation;
        let mut records: Vec<_> = observation
            .mx
            .value()
            .map(|v| v.iter().collect())
            .unwrap_or_default();
        records.sort_by(|a, b| (a.preference, &a.exchange).cmp(&(b.preference, &b.exchange)));
        let mx = observation.mx.value().map(|_| {
            records
                .iter()
                .map(|r| format!("{} {}", r.preference, r.exchange))
                .collect::<Vec<_>>()
                .join(", ")
        });
        let provider = records
            .iter()
            .find(|r| !r.is_null())
            .and_then(|r| mxwatch_core::name::registrable_domain(r.exchange.trim_end_matches('.')))
            .map(|(registrable, _)| registrable);
        let mut endpoints = Vec::new();
        for exchange in &observation.exchanges {
            if exchange.addresses.is_empty() {
                endpoints.push(Endpoint {
                    host: exchange.name.clone(),
                    address: None,
                    cert_key: None,
                    cert_subject: None,
                    cert_not_after: None,
                });
            }
            for address in &exchange.addresses {
                let leaf = address.smtp.as_ref().and_then(|s| s.certificates.first());
                endpoints.push(Endpoint {
                    host: exchange.name.clone(),
                    address: Some(address.ip.to_string()),
                    cert_key: leaf.map(|c| {
                        use sha2::Digest;
                        let digest = sha2::Sha256::digest(
                            format!(
                                "{}\n{}\n{}\n{}",
                                c.subject, c.issuer, c.not_before, c.not_after
                            )
                            .as_bytes(),
                        );
                        digest.iter().map(|b| format!("{b:02x}")).collect()
                    }),
                    cert_subject: leaf.map(|c| c.subject.clone()),
                    cert_not_after: leaf.map(|c| c.not_after),
                });
            }
        }
        let mut by_severity = std::collections::BTreeMap::new();
        for finding in &report.findings {
            *by_severity
                .entry(finding.severity.as_str().to_string())
                .or_insert(0) += 1;
        }
        Summary {
            by_severity,
            domain: report.domain.clone(),
            observation_id,
            observed_at,
            status: status.to_string(),
            worst: report.findings.iter().map(|f| f.severity).max(),
            findings: report.findings.len() as i64,
            mx,
            provider,
            endpoints,
        }
    }
}

/// One watched domain as the overview lists it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DomainRow {
    pub domain: String,
    pub next_due: i64,
    pub observed_at: Option<i64>,
    pub status: Option<String>,
    pub worst: Option<String>,
    pub worst_rank: i64,
    pub findings: i64,
    pub mx: Option<String>,
    pub provider: Option<String>,
    /// Open changes that were neither expected, approved nor acknowledged.
    pub open_unexpected: i64,
    pub last_change_at: Option<i64>,
}

/// A change with what people said about it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AnnotatedChange {
    #[serde(flatten)]
    pub change: StoredChange,
    pub note: Option<String>,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<i64>,
}

#[async_trait::async_trait]
pub trait DashboardStore: Send + Sync {
    /// Every watched domain with its summary (the caller filters, sorts and pages: one query
    /// of small rows, measured at 10,000 domains in docs/performance.md).
    async fn domain_rows(&self) -> Result<Vec<DomainRow>>;
    /// The endpoints of every domain's latest observation.
    async fn endpoints(&self) -> Result<Vec<(String, Vec<Endpoint>)>>;
    /// Makes a watched domain due now; false if it is not watched.
    async fn check_now(&self, domain: &str, now: i64) -> Result<bool>;
    /// The change feed, newest first, with notes and acknowledgements.
    async fn annotated_changes(
        &self,
        since: i64,
        domain: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AnnotatedChange>>;
    /// One change with its notes.
    async fn annotated_change(&self, change_id: i64) -> Result<Option<AnnotatedChange>>;
    async fn set_change_note(&self, change_id: i64, note: &str) -> Result<bool>;
    async fn acknowledge(&self, change_id: i64, by: &str, now: i64) -> Result<bool>;
    /// Open findings by severity over every watched domain's latest observation.
    async fn findings_by_severity(&self) -> Result<std::collections::BTreeMap<String, i64>>;
    /// Alert deliveries waiting (not delivered, not given up).
    async fn queue_depth(&self) -> Result<i64>;
    /// A trivial query: the store answers.
    async fn ping(&self) -> Result<()>;
}

pub(crate) const SUMMARY_UPSERT: &str = "INSERT INTO inventory_summaries \
    (domain, observation_id, observed_at, status, worst, worst_rank, findings, mx, provider, endpoints, by_severity) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (domain) DO UPDATE SET \
    observation_id = EXCLUDED.observation_id, observed_at = EXCLUDED.observed_at, status = EXCLUDED.status, \
    worst = EXCLUDED.worst, worst_rank = EXCLUDED.worst_rank, findings = EXCLUDED.findings, mx = EXCLUDED.mx, \
    provider = EXCLUDED.provider, endpoints = EXCLUDED.endpoints, by_severity = EXCLUDED.by_severity";

/// Writes a summary on `$conn` (the cycle's transaction), the same on both backends.
macro_rules! write_summary {
    ($conn:expr, $summary:expr) => {{
        let s: &$crate::dashboard::Summary = $summary;
        sqlx::query($crate::dashboard::SUMMARY_UPSERT)
            .bind(&s.domain)
            .bind(s.observation_id)
            .bind(s.observed_at)
            .bind(&s.status)
            .bind(s.worst.map(|w| w.as_str()))
            .bind($crate::dashboard::severity_rank(s.worst))
            .bind(s.findings)
            .bind(&s.mx)
            .bind(&s.provider)
            .bind(serde_json::to_string(&s.endpoints).unwrap_or_else(|_| "[]".into()))
            .bind(serde_json::to_string(&s.by_severity).unwrap_or_else(|_| "{}".into()))
            .execute($conn)
            .await
    }};
}
pub(crate) use write_summary;

type RowTuple = (
    String,
    i64,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
    i64,
    Option<i64>,
);

const DOMAIN_ROWS: &str = "SELECT d.name, d.next_due, s.observed_at, s.status, s.worst, s.worst_rank, s.findings, s.mx, s.provider, \
    (SELECT COUNT(*) FROM changes c WHERE c.domain = d.name AND c.resolved_at IS NULL AND c.expected_reason IS NULL \
       AND c.approved_by IS NULL AND c.acknowledged_by IS NULL), \
    (SELECT MAX(c.confirmed_at) FROM changes c WHERE c.domain = d.name) \
    FROM domains d LEFT JOIN inventory_summaries s ON s.domain = d.name ORDER BY d.name";

fn row_of(r: RowTuple) -> DomainRow {
    DomainRow {
        domain: r.0,
        next_due: r.1,
        observed_at: r.2,
        status: r.3,
        worst: r.4,
        worst_rank: r.5.unwrap_or(0),
        findings: r.6.unwrap_or(0),
        mx: r.7,
        provider: r.8,
        open_unexpected: r.9,
        last_change_at: r.10,
    }
}

/// A change row with its notes (either backend's row type).
macro_rules! annotated_of {
    ($r:expr) => {{
        use sqlx::Row;
        let r = $r;
        Ok::<AnnotatedChange, crate::StoreError>(AnnotatedChange {
            change: crate::rows::change_from_row(r)?,
            note: r.try_get("note")?,
            acknowledged_by: r.try_get("acknowledged_by")?,
            acknowledged_at: r.try_get("acknowledged_at")?,
        })
    }};
}

macro_rules! impl_dashboard {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl DashboardStore for $store {
            async fn domain_rows(&self) -> Result<Vec<DomainRow>> {
                let rows: Vec<RowTuple> = sqlx::query_as(DOMAIN_ROWS).fetch_all(&self.pool).await?;
                Ok(rows.into_iter().map(row_of).collect())
            }

            async fn endpoints(&self) -> Result<Vec<(String, Vec<Endpoint>)>> {
                let rows: Vec<(String, String)> = sqlx::query_as(
                    "SELECT s.domain, s.endpoints FROM inventory_summaries s JOIN domains d ON d.name = s.domain",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(|(domain, json)| {
                        let endpoints = serde_json::from_str(&json).map_err(|e| {
                            crate::StoreError::Corrupt(format!("endpoints of {domain}: {e}"))
                        })?;
                        Ok((domain, endpoints))
                    })
                    .collect()
            }

            async fn check_now(&self, domain: &str, now: i64) -> Result<bool> {
                Ok(sqlx::query("UPDATE domains SET next_due = $1 WHERE name = $2")
                    .bind(now)
                    .bind(domain)
                    .execute(&self.pool)
                    .await?
                    .rows_affected()
                    > 0)
            }

            async fn annotated_changes(
                &self,
                since: i64,
                domain: Option<&str>,
                limit: i64,
            ) -> Result<Vec<AnnotatedChange>> {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {}, note, acknowledged_by, acknowledged_at FROM changes \
                     WHERE confirmed_at >= $1 AND ($2 = '' OR domain = $2) ORDER BY id DESC LIMIT $3",
                    crate::rows::CHANGE_COLUMNS
                )))
                .bind(since)
                .bind(domain.unwrap_or(""))
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(|r| annotated_of!(r)).collect()
            }

            async fn annotated_change(&self, change_id: i64) -> Result<Option<AnnotatedChange>> {
                let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {}, note, acknowledged_by, acknowledged_at FROM changes WHERE id = $1",
                    crate::rows::CHANGE_COLUMNS
                )))
                .bind(change_id)
                .fetch_optional(&self.pool)
                .await?;
                row.as_ref().map(|r| annotated_of!(r)).transpose()
            }

            async fn set_change_note(&self, change_id: i64, note: &str) -> Result<bool> {
                Ok(sqlx::query("UPDATE changes SET note = $1 WHERE id = $2")
                    .bind(note)
                    .bind(change_id)
                    .execute(&self.pool)
                    .await?
                    .rows_affected()
                    > 0)
            }

            async fn acknowledge(&self, change_id: i64, by: &str, now: i64) -> Result<bool> {
                Ok(sqlx::query(
                    "UPDATE changes SET acknowledged_by = $1, acknowledged_at = $2 WHERE id = $3",
                )
                .bind(by)
                .bind(now)
                .bind(change_id)
                .execute(&self.pool)
                .await?
                .rows_affected()
                    > 0)
            }

            async fn findings_by_severity(&self) -> Result<std::collections::BTreeMap<String, i64>> {
                let rows: Vec<(String,)> = sqlx::query_as(
                    "SELECT s.by_severity FROM inventory_summaries s JOIN domains d ON d.name = s.domain",
                )
                .fetch_all(&self.pool)
                .await?;
                let mut total = std::collections::BTreeMap::new();
                for (json,) in rows {
                    let counts: std::collections::BTreeMap<String, i64> = serde_json::from_str(&json)
                        .map_err(|e| crate::StoreError::Corrupt(format!("findings by severity: {e}")))?;
                    for (severity, n) in counts {
                        *total.entry(severity).or_insert(0) += n;
                    }
                }
                Ok(total)
            }

            async fn queue_depth(&self) -> Result<i64> {
                let (n,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM alert_deliveries WHERE delivered_at IS NULL AND gave_up_at IS NULL",
                )
                .fetch_one(&self.pool)
                .await?;
                Ok(n)
            }

            async fn ping(&self) -> Result<()> {
                let _: (i64,) = sqlx::query_as("SELECT CAST(1 AS BIGINT)").fetch_one(&self.pool).await?;
                Ok(())
            }
        }
    };
}

impl_dashboard!(SqliteStore);
impl_dashboard!(PgStore);
