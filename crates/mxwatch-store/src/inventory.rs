//! The inventory held in the store: domains added, edited or removed from `mxwatch serve`, and
//! maintenance windows. The watcher merges them with the configuration's `[[domain]]`s
//! (the rule is the engine's, `mxwatch_engine::inventory`): a row here wins over the file.

use crate::{PgStore, Result, SqliteStore, StoreError};

/// One domain's entry in the store-held inventory.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct InventoryEntry {
    pub name: String,
    /// False: removed from the inventory, even if the configuration lists it.
    pub present: bool,
    /// Replaces the configuration's `expect_mx` (and its preset) when set.
    pub expect_mx: Option<Vec<String>>,
    /// Replaces the configuration's `preset` (and its `expect_mx`) when set.
    pub preset: Option<String>,
    /// Replaces the configuration's tags when set.
    pub tags: Option<Vec<String>>,
    pub updated_by: String,
    pub updated_at: i64,
}

/// A maintenance window added from `serve`, on top of the configuration's.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StoredMaintenance {
    pub id: i64,
    pub domains: Vec<String>,
    pub tags: Vec<String>,
    pub start: i64,
    pub end: i64,
    pub reason: Option<String>,
    pub created_by: String,
    pub created_at: i64,
}

#[async_trait::async_trait]
pub trait InventoryStore: Send + Sync {
    async fn inventory(&self) -> Result<Vec<InventoryEntry>>;
    /// Inserts or replaces a domain's entry.
    async fn put_inventory(&self, entry: &InventoryEntry) -> Result<()>;
    /// Forgets a domain's entry (the configuration alone speaks for it again).
    async fn forget_inventory(&self, name: &str) -> Result<bool>;
    async fn maintenance_windows(&self) -> Result<Vec<StoredMaintenance>>;
    /// Adds a window (its `id` is ignored) and returns its ID.
    async fn add_maintenance(&self, window: &StoredMaintenance) -> Result<i64>;
    async fn remove_maintenance(&self, id: i64) -> Result<bool>;
}

fn json_list(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".into())
}

fn parse_list(text: &str, what: &str) -> Result<Vec<String>> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

type EntryRow = (
    String,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    i64,
);
type WindowRow = (i64, String, String, i64, i64, Option<String>, String, i64);

fn entry_of(r: EntryRow) -> Result<InventoryEntry> {
    Ok(InventoryEntry {
        expect_mx: r
            .2
            .as_deref()
            .map(|t| parse_list(t, "inventory expect_mx"))
            .transpose()?,
        tags: r
            .4
            .as_deref()
            .map(|t| parse_list(t, "inventory tags"))
            .transpose()?,
        name: r.0,
        present: r.1 != 0,
        preset: r.3,
        updated_by: r.5,
        updated_at: r.6,
    })
}

fn window_of(r: WindowRow) -> Result<StoredMaintenance> {
    Ok(StoredMaintenance {
        id: r.0,
        domains: parse_list(&r.1, "maintenance domains")?,
        tags: parse_list(&r.2, "maintenance tags")?,
        start: r.3,
        end: r.4,
        reason: r.5,
        created_by: r.6,
        created_at: r.7,
    })
}

macro_rules! impl_inventory {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl InventoryStore for $store {
            async fn inventory(&self) -> Result<Vec<InventoryEntry>> {
                let rows: Vec<EntryRow> = sqlx::query_as(
                    "SELECT name, present, expect_mx, preset, tags, updated_by, updated_at \
                     FROM inventory_domains ORDER BY name",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(entry_of).collect()
            }

            async fn put_inventory(&self, e: &InventoryEntry) -> Result<()> {
                sqlx::query(
                    "INSERT INTO inventory_domains (name, present, expect_mx, preset, tags, updated_by, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (name) DO UPDATE SET present = EXCLUDED.present, \
                     expect_mx = EXCLUDED.expect_mx, preset = EXCLUDED.preset, tags = EXCLUDED.tags, \
                     updated_by = EXCLUDED.updated_by, updated_at = EXCLUDED.updated_at",
                )
                .bind(&e.name)
                .bind(i64::from(e.present))
                .bind(e.expect_mx.as_deref().map(json_list))
                .bind(&e.preset)
                .bind(e.tags.as_deref().map(json_list))
                .bind(&e.updated_by)
                .bind(e.updated_at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn forget_inventory(&self, name: &str) -> Result<bool> {
                Ok(sqlx::query("DELETE FROM inventory_domains WHERE name = $1")
                    .bind(name)
                    .execute(&self.pool)
                    .await?
                    .rows_affected()
                    > 0)
            }

            async fn maintenance_windows(&self) -> Result<Vec<StoredMaintenance>> {
                let rows: Vec<WindowRow> = sqlx::query_as(
                    "SELECT id, domains, tags, starts_at, ends_at, reason, created_by, created_at \
                     FROM inventory_maintenance ORDER BY starts_at, id",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(window_of).collect()
            }

            async fn add_maintenance(&self, w: &StoredMaintenance) -> Result<i64> {
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO inventory_maintenance (domains, tags, starts_at, ends_at, reason, created_by, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                )
                .bind(json_list(&w.domains))
                .bind(json_list(&w.tags))
                .bind(w.start)
                .bind(w.end)
                .bind(&w.reason)
                .bind(&w.created_by)
                .bind(w.created_at)
                .fetch_one(&self.pool)
                .await?;
                Ok(id)
            }

            async fn remove_maintenance(&self, id: i64) -> Result<bool> {
                Ok(sqlx::query("DELETE FROM inventory_maintenance WHERE id = $1")
                    .bind(id)
                    .execute(&self.pool)
                    .await?
                    .rows_affected()
                    > 0)
            }
        }
    };
}

impl_inventory!(SqliteStore);
impl_inventory!(PgStore);
