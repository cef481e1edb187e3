//! The crate's single error type.

use std::path::PathBuf;

/// Everything that can go wrong while building a scanner or compiling/evaluating a policy.
///
/// Scanning itself never fails: bad input yields fewer findings, not an error.
#[derive(Debug, thiserror::Error)]
pub enum DetectionError {
    /// A built-in signature failed to compile (a bug in the catalogue, caught by tests).
    #[error("detector {id} pattern does not compile: {message}")]
    Pattern { id: &'static str, message: String },
    /// A Rego module could not be read.
    #[error("cannot read Rego file {}: {source}", path.display())]
    RegoRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A Rego module did not parse or compile. `origin` is the file path or `<inline>`.
    #[error("invalid Rego in {origin}: {message}")]
    RegoCompile { origin: String, message: String },
    /// Evaluating a Rego rule failed at request time.
    #[error("Rego evaluation of {rule} failed: {message}")]
    RegoEval { rule: String, message: String },
    /// The policy configuration is inconsistent (e.g. an override for an unknown detector).
    #[error("invalid policy configuration: {0}")]
    Config(String),
    /// The Rego watcher thread could not be started.
    #[error("cannot start the Rego watcher thread: {0}")]
    Watcher(#[source] std::io::Error),
}
