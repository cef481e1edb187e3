//! The writer's error type.

#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("NATS: {0}")]
    Nats(String),
    #[error("ClickHouse: {0}")]
    ClickHouse(#[from] clickhouse::error::Error),
    #[error("migration {version} ({name}): {source}")]
    Migration {
        version: u32,
        name: String,
        #[source]
        source: clickhouse::error::Error,
    },
    #[error("invalid argument: {0}")]
    Usage(String),
    #[error("output: {0}")]
    Io(#[from] std::io::Error),
}

impl WriterError {
    /// Wrap any NATS client error (their types differ per operation).
    pub fn nats(err: impl std::fmt::Display) -> WriterError {
        WriterError::Nats(err.to_string())
    }
}
