//! audit-writer: moves [`SecurityEvent`]s from NATS JetStream into ClickHouse
//! (see [`pipeline`] for the delivery guarantees) and reports token usage
//! from the materialized views (`audit-writer usage`). [`metrics`] serves
//! `GET /metrics` for Prometheus.
//!
//! [`SecurityEvent`]: portcullis_schemas::SecurityEvent

pub mod batcher;
pub mod cli;
pub mod config;
pub mod error;
pub mod metrics;
pub mod nats;
pub mod pipeline;
pub mod redact;
pub mod row;
pub mod store;
pub mod usage;

pub use batcher::Batcher;
pub use config::WriterConfig;
pub use error::WriterError;
pub use pipeline::{Writer, WriterStats, WriterStatsSnapshot};
pub use store::Store;
