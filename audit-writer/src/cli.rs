//! Command line: `audit-writer [--config FILE] [run | usage ...]`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::usage::{UsageBy, UsageFormat};

#[derive(Debug, Parser)]
#[command(name = "audit-writer", version, about = "Moves Portcullis audit events from NATS JetStream into ClickHouse")]
pub struct Cli {
    /// TOML configuration file; PORTCULLIS_* environment variables override it
    /// (PORTCULLIS_NATS_URL, PORTCULLIS_CLICKHOUSE_URL, PORTCULLIS_BATCH__MAX_EVENTS, ...).
    #[arg(long, global = true, env = "PORTCULLIS_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Consume events and insert them into ClickHouse (the default).
    Run,
    /// Token usage report from ClickHouse.
    Usage {
        /// Group by.
        #[arg(long, value_enum)]
        by: UsageBy,
        /// Window: 7d, 24h, 30m, 2w.
        #[arg(long, default_value = "7d")]
        since: String,
        #[arg(long, value_enum, default_value_t)]
        format: UsageFormat,
    },
}
