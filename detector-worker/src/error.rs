//! The crate's single error type.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("parsing {path}: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("model: {0}")]
    Model(#[from] candle_core::Error),
    #[error("unsupported model: {0}")]
    UnsupportedModel(String),
    #[error("invalid model config: {0}")]
    InvalidConfig(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("nats: {0}")]
    Nats(String),
    #[error("the model thread stopped")]
    EngineStopped,
    #[error("the model queue is full")]
    Overloaded,
    #[error("inference failed: {0}")]
    Inference(String),
    #[error("eval data: {0}")]
    EvalData(String),
}
