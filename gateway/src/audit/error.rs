//! Errors of the audit module.

/// Why the audit sink could not start.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("invalid audit configuration: {0}")]
    Config(String),
    #[error("audit spool {path}: {source}")]
    Spool {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("audit file {path}: {source}")]
    Jsonl {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("NATS connection to {url}: {reason}")]
    Nats { url: String, reason: String },
}

/// [`super::AuditSink::record`] refused an event: NATS is unreachable, the
/// spool is full and the spool-full mode is `reject`. The gateway answers 503
/// and does not serve the request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit trail unavailable: {reason}")]
pub struct AuditRejected {
    pub reason: &'static str,
}
