//! Portcullis detector worker: scores text segments for prompt injection with a
//! transformer sequence classifier run on Candle (CPU).
//!
//! The model is a standard Hugging Face sequence-classification folder
//! (`config.json`, `tokenizer.json`, `model.safetensors`); the committed default
//! lives in `models/default/` at the repository root.

pub mod classifier;
mod error;

pub use classifier::{Classifier, TextScore};
pub use error::WorkerError;
