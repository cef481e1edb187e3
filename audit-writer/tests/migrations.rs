#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Schema migrations against a real ClickHouse: a fresh database gets every
//! version; a rerun applies nothing; an `ADD COLUMN` whose column is already
//! there (a writer that crashed between the ALTER and recording the version,
//! or two writers racing) is skipped instead of failing the start.

use audit_writer::{Store, WriterConfig};
use portcullis_schemas::migrations;
use test_support::ClickHouseServer;

fn store(ch: &ClickHouseServer) -> Store {
    let mut cfg = WriterConfig::default();
    cfg.clickhouse.url = ch.http_url();
    Store::new(&cfg.clickhouse)
}

fn all_versions() -> Vec<u32> {
    migrations().iter().map(|m| m.version).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_database_gets_every_migration_once() {
    let ch = ClickHouseServer::start().await.unwrap();
    let store = store(&ch);
    assert_eq!(store.migrate().await.unwrap(), all_versions());
    assert_eq!(store.migrate().await.unwrap(), Vec::<u32>::new());
    let columns = ch
        .query(
            "SELECT name FROM system.columns WHERE database = 'portcullis' \
             AND table = 'audit_events' AND name LIKE '%_omitted' ORDER BY name FORMAT TSV",
        )
        .await
        .unwrap();
    assert_eq!(columns, "findings_omitted\nml_verdicts_omitted\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_added_column_already_there_is_skipped_not_fatal() {
    let ch = ClickHouseServer::start().await.unwrap();
    let store = store(&ch);
    store.migrate().await.unwrap();
    // Forget version 4 and drop one of its two columns: the state a writer
    // leaves when it dies after the first ALTER of the migration.
    ch.query("ALTER TABLE portcullis.audit_events DROP COLUMN ml_verdicts_omitted").await.unwrap();
    ch.query("CREATE TABLE portcullis.kept ENGINE = Memory AS SELECT version, name FROM portcullis.schema_migrations WHERE version != 4")
        .await
        .unwrap();
    ch.query("DROP TABLE portcullis.schema_migrations").await.unwrap();
    ch.query("RENAME TABLE portcullis.kept TO portcullis.schema_migrations").await.unwrap();

    assert_eq!(store.migrate().await.unwrap(), vec![4]);
    let columns = ch
        .query(
            "SELECT count() FROM system.columns WHERE database = 'portcullis' \
             AND table = 'audit_events' AND name LIKE '%_omitted' FORMAT TSV",
        )
        .await
        .unwrap();
    assert_eq!(columns.trim(), "2");
}
