//! [`AuditConfig`]: where audit events go and what happens when that fails.

use std::path::PathBuf;

use serde::Deserialize;

use super::error::AuditError;

/// What [`super::AuditSink::record`] does when NATS is unreachable and the
/// on-disk spool is full (or the in-memory queue is at its bound).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpoolFullMode {
    /// Keep serving requests; the events that cannot be kept are counted in
    /// `dropped` (health, metrics) and logged.
    #[default]
    KeepServing,
    /// Refuse requests (the gateway answers 503) until the spool has room:
    /// for deployments where an unaudited request is worse than no request.
    Reject,
}

/// The `[audit]` section of the gateway configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// NATS server URL(s), comma separated. `None`: no NATS, events are
    /// appended to `jsonl_path` (the zero-dependency mode).
    pub nats_url: Option<String>,
    /// JetStream stream holding the audit events (file storage).
    pub stream_name: String,
    /// Events go to `<subject_prefix>.<tenant>`; the stream binds `<subject_prefix>.>`.
    pub subject_prefix: String,
    /// Core-NATS (fire and forget) copy of each event as JSON for live views,
    /// on `<live_subject_prefix>.<tenant>`.
    pub live_subject_prefix: String,
    /// Publish the live copy at all.
    pub live_events: bool,
    /// JSONL audit file used when `nats_url` is not set.
    pub jsonl_path: PathBuf,
    /// Directory of the on-disk spool used while NATS is unreachable.
    pub spool_dir: PathBuf,
    /// Bound of the spool on disk.
    pub spool_max_bytes: u64,
    /// Size at which the spool starts a new segment file.
    pub spool_segment_bytes: u64,
    /// What happens when the spool is full.
    pub spool_full: SpoolFullMode,
    /// How long a publish may wait for its JetStream ack before the event is
    /// spooled instead (milliseconds).
    pub publish_ack_timeout_ms: u64,
    /// Publishes awaiting their ack at once (the background task's window).
    pub max_in_flight: usize,
    /// Events waiting in memory for the background task; beyond this the
    /// spool-full mode applies (a stuck disk must not eat all memory).
    pub max_queued_events: usize,
    /// Stream retention: events older than this are removed even if no
    /// audit-writer consumed them (seconds; 0 = unlimited).
    pub stream_max_age_secs: u64,
    /// Stream `duplicate_window` for `Nats-Msg-Id` deduplication (seconds).
    pub duplicate_window_secs: u64,
    /// Stream replicas (1 for a single server).
    pub stream_replicas: usize,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            nats_url: None,
            stream_name: "PORTCULLIS_AUDIT".to_owned(),
            subject_prefix: "audit.events".to_owned(),
            live_subject_prefix: "live.events".to_owned(),
            live_events: true,
            jsonl_path: PathBuf::from("portcullis-audit.jsonl"),
            spool_dir: PathBuf::from(".portcullis/audit-spool"),
            spool_max_bytes: 1024 * 1024 * 1024,
            spool_segment_bytes: 16 * 1024 * 1024,
            spool_full: SpoolFullMode::KeepServing,
            publish_ack_timeout_ms: 5_000,
            max_in_flight: 4_096,
            max_queued_events: 100_000,
            stream_max_age_secs: 7 * 24 * 3600,
            duplicate_window_secs: 120,
            stream_replicas: 1,
        }
    }
}

impl AuditConfig {
    /// Check the values before anything starts; errors name the offending key.
    pub fn validate(&self) -> Result<(), AuditError> {
        let invalid = |key: &str, why: &str| Err(AuditError::Config(format!("audit.{key}: {why}")));
        if let Some(url) = &self.nats_url
            && url.trim().is_empty()
        {
            return invalid("nats_url", "must not be empty (leave it out for JSONL mode)");
        }
        for (key, value) in [
            ("stream_name", &self.stream_name),
            ("subject_prefix", &self.subject_prefix),
            ("live_subject_prefix", &self.live_subject_prefix),
        ] {
            if value.is_empty() {
                return invalid(key, "must not be empty");
            }
        }
        if !self.stream_name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return invalid("stream_name", "only letters, digits, '_' and '-' are allowed");
        }
        for (key, value) in
            [("subject_prefix", &self.subject_prefix), ("live_subject_prefix", &self.live_subject_prefix)]
        {
            let bad_token = value.split('.').any(|t| t.is_empty() || t.contains(['*', '>', ' ', '\t', '\r', '\n']));
            if bad_token {
                return invalid(key, "must be dot-separated NATS tokens without wildcards");
            }
        }
        if self.spool_max_bytes < self.spool_segment_bytes {
            return invalid("spool_max_bytes", "must be at least spool_segment_bytes");
        }
        if self.spool_segment_bytes < 4096 {
            return invalid("spool_segment_bytes", "must be at least 4096");
        }
        if self.publish_ack_timeout_ms == 0 {
            return invalid("publish_ack_timeout_ms", "must be positive");
        }
        if self.max_in_flight == 0 || self.max_queued_events == 0 {
            return invalid("max_in_flight/max_queued_events", "must be positive");
        }
        if self.stream_replicas == 0 {
            return invalid("stream_replicas", "must be at least 1");
        }
        Ok(())
    }
}
