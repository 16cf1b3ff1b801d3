//! Reading rows back, the same for both backends: the tables have the same columns, and only
//! the SQL dialect and the driver's row type differ.

use crate::codec::decompress;
use crate::{AlertKind, PendingAlert, Result, StoreError, StoredAlert, StoredChange};
use mxwatch_core::monitor::diff::ChangeKind;
use serde_json::Value;
use sqlx::{ColumnIndex, Decode, Row, Type};

pub(crate) const CHANGE_COLUMNS: &str = "id, domain, kind, subject, severity, old_value, new_value, first_seen, confirmed_at, \
                              expected_reason, approved_by, resolved_at";

/// [`CHANGE_COLUMNS`] of the `changes` table joined as `c`.
pub(crate) fn change_columns_of_c() -> String {
    CHANGE_COLUMNS
        .split(", ")
        .map(|c| format!("c.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn severity(text: &str) -> Result<mxwatch_core::Severity> {
    text.parse().map_err(StoreError::Corrupt)
}

fn change_kind(text: &str) -> Result<ChangeKind> {
    text.parse()
        .map_err(|e| StoreError::Corrupt(format!("change kind: {e}")))
}

/// A row of [`CHANGE_COLUMNS`] (SQLite's or PostgreSQL's).
pub(crate) fn change_from_row<'r, R>(row: &'r R) -> Result<StoredChange>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
{
    Ok(StoredChange {
        id: row.try_get("id")?,
        domain: row.try_get("domain")?,
        kind: change_kind(&row.try_get::<String, _>("kind")?)?,
        subject: row.try_get("subject")?,
        severity: severity(&row.try_get::<String, _>("severity")?)?,
        old: row.try_get("old_value")?,
        new: row.try_get("new_value")?,
        first_seen: row.try_get("first_seen")?,
        confirmed_at: row.try_get("confirmed_at")?,
        expected: row.try_get("expected_reason")?,
        approved_by: row.try_get("approved_by")?,
        resolved_at: row.try_get("resolved_at")?,
    })
}

/// A row of `alert_deliveries` joined with its `alert_events` (columns `delivery_id`, `sink`,
/// `attempts`, `alert_id`, `event`, `domain`, `created_at`, `mx_before`, `mx_after`) and the
/// alert's `changes`, read separately: the due list of either backend and the shared
/// schedule's claims.
pub(crate) fn pending_alert_from_row<'r, R>(
    row: &'r R,
    changes: Vec<StoredChange>,
) -> Result<PendingAlert>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
{
    Ok(PendingAlert {
        id: row.try_get("delivery_id")?,
        sink: row.try_get("sink")?,
        attempts: row.try_get("attempts")?,
        alert: StoredAlert {
            id: row.try_get("alert_id")?,
            event: AlertKind::parse(&row.try_get::<String, _>("event")?)?,
            domain: row.try_get("domain")?,
            created_at: row.try_get("created_at")?,
            mx_before: row.try_get("mx_before")?,
            mx_after: row.try_get("mx_after")?,
            changes,
        },
    })
}

pub(crate) fn report_json(blob: &[u8]) -> Result<Value> {
    let json = decompress(blob)?;
    serde_json::from_slice(&json)
        .map_err(|e| StoreError::Corrupt(format!("stored report is not JSON: {e}")))
}

/// A report's status as stored (`"healthy"`, …), and the report as JSON.
pub(crate) fn encode_report(report: &mxwatch_core::Report) -> Result<(String, Vec<u8>)> {
    let json = serde_json::to_vec(report).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let status = serde_json::to_value(report.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    Ok((status, json))
}

/// The IDs of a report's findings (for the history summary).
pub(crate) fn finding_ids(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .map(|fs| {
            fs.iter()
                .filter_map(|f| f["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The change IDs an alert of a cycle announces, in its order: a new change's ID is the one
/// the cycle's write gave it (`new_ids`, by index), an existing one's its own.
pub(crate) fn alert_change_ids(alert: &crate::NewAlert, new_ids: &[i64]) -> Result<Vec<i64>> {
    alert
        .changes
        .iter()
        .map(|subject| match *subject {
            crate::AlertSubject::Existing(id) => Ok(id),
            crate::AlertSubject::New(index) => new_ids.get(index).copied().ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "alert names new change #{index}, which the cycle does not hold"
                ))
            }),
        })
        .collect()
}
