//! ClickHouse access: migrations, version-gated extras, inserts, lookups.
//!
//! Inserts use the `clickhouse` crate's RowBinary path (typed rows, no JSON
//! encoding on the hot path: this is what makes tens of thousands of events
//! per second cheap on two cores). `with_validation(false)` keeps it working
//! on ClickHouse 18.16, which lacks the metadata queries validation needs;
//! values are bound client-side (`.bind()`), as 18.16 has no query parameters.

use std::collections::HashSet;

use clickhouse::{Client, Row};
use portcullis_schemas::{added_column, migrations};
use serde::Deserialize;
use uuid::Uuid;

use crate::config::ClickHouseConfig;
use crate::error::WriterError;
use crate::row::AuditRow;

/// Ids per `IN (...)` lookup: keeps the query well under `max_query_size` (256 KiB).
const IDS_PER_LOOKUP: usize = 1_000;

#[derive(Clone)]
pub struct Store {
    client: Client,
    server: Client,
    database: String,
}

#[derive(Row, Deserialize)]
struct VersionRow {
    version: String,
}

#[derive(Row, Deserialize)]
struct AppliedRow {
    version: u32,
}

#[derive(Row, Deserialize)]
struct IdRow {
    #[serde(with = "clickhouse::serde::uuid")]
    event_id: Uuid,
}

impl Store {
    pub fn new(cfg: &ClickHouseConfig) -> Store {
        let mut server = Client::default().with_url(&cfg.url).with_validation(false);
        if let Some(user) = &cfg.user {
            server = server.with_user(user);
        }
        if let Some(password) = &cfg.password {
            server = server.with_password(password);
        }
        let client = server.clone().with_database(&cfg.database);
        Store { client, server, database: cfg.database.clone() }
    }

    /// The client bound to the configured database (for the usage report).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// `(major, minor)` of `SELECT version()`.
    pub async fn server_version(&self) -> Result<(u32, u32), WriterError> {
        let row = self.server.query("SELECT version() AS version").fetch_one::<VersionRow>().await?;
        Ok(parse_version(&row.version))
    }

    /// Create the database, then apply the migrations not yet recorded in
    /// `schema_migrations`, in order. Safe to run on every start and from
    /// several writers at once (every statement is `IF NOT EXISTS`, or an
    /// `ADD COLUMN` skipped when the column is there).
    pub async fn migrate(&self) -> Result<Vec<u32>, WriterError> {
        self.server.query(&format!("CREATE DATABASE IF NOT EXISTS `{}`", self.database)).execute().await?;
        self.client
            .query(
                "CREATE TABLE IF NOT EXISTS schema_migrations \
                 (version UInt32, name String, applied_at DateTime DEFAULT now()) \
                 ENGINE = MergeTree() ORDER BY version",
            )
            .execute()
            .await?;
        let applied: HashSet<u32> = self
            .client
            .query("SELECT version FROM schema_migrations")
            .fetch_all::<AppliedRow>()
            .await?
            .into_iter()
            .map(|r| r.version)
            .collect();
        let mut newly = Vec::new();
        for migration in migrations() {
            if applied.contains(&migration.version) {
                continue;
            }
            for statement in migration.statements() {
                let added = added_column(&statement);
                if let Some((table, column)) = added
                    && self.column_exists(table, column).await?
                {
                    continue;
                }
                let outcome = self.client.query(&statement).execute().await;
                // Another writer may have added the same column between the
                // check and the ALTER: its column being there is success.
                if outcome.is_err()
                    && let Some((table, column)) = added
                    && self.column_exists(table, column).await?
                {
                    continue;
                }
                outcome.map_err(|source| WriterError::Migration {
                    version: migration.version,
                    name: migration.name.to_owned(),
                    source,
                })?;
            }
            self.client
                .query("INSERT INTO schema_migrations (version, name) VALUES (?, ?)")
                .bind(migration.version)
                .bind(migration.name)
                .execute()
                .await?;
            tracing::info!(version = migration.version, name = migration.name, "migration applied");
            newly.push(migration.version);
        }
        Ok(newly)
    }

    async fn column_exists(&self, table: &str, column: &str) -> Result<bool, WriterError> {
        let count = self
            .client
            .query("SELECT count() FROM system.columns WHERE database = ? AND table = ? AND name = ?")
            .bind(self.database.as_str())
            .bind(table)
            .bind(column)
            .fetch_one::<u64>()
            .await?;
        Ok(count > 0)
    }

    /// Row retention via TTL where the server has it (19.6+); otherwise
    /// say so and keep everything. `days == 0` leaves the table as is.
    pub async fn apply_retention(&self, days: u32) -> Result<bool, WriterError> {
        if days == 0 {
            return Ok(false);
        }
        let version = self.server_version().await?;
        if version < (19, 6) {
            tracing::warn!(?version, days, "ClickHouse too old for TTL; clickhouse.retention_days ignored");
            return Ok(false);
        }
        self.client.query(&format!("ALTER TABLE audit_events MODIFY TTL ts + INTERVAL {days} DAY")).execute().await?;
        Ok(true)
    }

    /// Insert rows in one INSERT (one block, so ClickHouse applies it whole).
    pub async fn insert(&self, rows: &[&AuditRow]) -> Result<(), WriterError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut insert = self.client.insert::<AuditRow>("audit_events").await?;
        for row in rows {
            insert.write(*row).await?;
        }
        insert.end().await?;
        Ok(())
    }

    /// Which of `ids` are already stored (for redelivered batches, so the
    /// usage views never count an event twice).
    pub async fn existing_ids(&self, ids: &[Uuid]) -> Result<HashSet<Uuid>, WriterError> {
        let mut found = HashSet::new();
        for chunk in ids.chunks(IDS_PER_LOOKUP) {
            let list: Vec<String> = chunk.iter().map(|id| format!("toUUID('{id}')")).collect();
            let sql = format!("SELECT event_id FROM audit_events WHERE event_id IN ({})", list.join(","));
            let rows = self.client.query(&sql).fetch_all::<IdRow>().await?;
            found.extend(rows.into_iter().map(|r| r.event_id));
        }
        Ok(found)
    }
}

fn parse_version(text: &str) -> (u32, u32) {
    let mut parts = text.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    #[test]
    fn versions_parse() {
        assert_eq!(super::parse_version("18.16.1"), (18, 16));
        assert_eq!(super::parse_version("25.8.2.29"), (25, 8));
        assert_eq!(super::parse_version("garbage"), (0, 0));
    }
}
