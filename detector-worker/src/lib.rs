//! Portcullis detector worker: scores text segments for prompt injection with a
//! transformer sequence classifier run on Candle (CPU), served over NATS
//! request-reply.
//!
//! The model is a standard Hugging Face sequence-classification folder
//! (`config.json`, `tokenizer.json`, `model.safetensors`); the committed default
//! lives in `models/default/` at the repository root.
//!
//! Layers: [`classifier`] (tokenize, window, forward), [`engine`] (model thread,
//! dynamic batching, bounded queue), [`service`] (NATS subscriptions, health),
//! [`metrics`] (Prometheus `/metrics`), [`config`], and [`eval`] (metrics on a
//! labelled file).

pub mod classifier;
pub mod config;
pub mod engine;
mod error;
pub mod eval;
pub mod metrics;
pub mod model_info;
pub mod service;

pub use classifier::{Classifier, TextScore};
pub use config::WorkerConfig;
pub use engine::{Engine, EngineHistograms, EngineSettings, EngineStats, Scored, SubmitError};
pub use error::WorkerError;
pub use model_info::ModelInfo;
pub use service::{ServedModel, WorkerHandle, start_worker};
