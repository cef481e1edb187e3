//! Writer configuration: TOML file, then `PORTCULLIS_*` environment overrides.
//!
//! Like the gateway: `__` separates sections (`PORTCULLIS_BATCH__MAX_EVENTS`),
//! and the two settings every deployment changes have short forms,
//! `PORTCULLIS_NATS_URL` (→ `nats.url`) and `PORTCULLIS_CLICKHOUSE_URL`
//! (→ `clickhouse.url`). Variables for other services (`PORTCULLIS_LISTEN`, ...)
//! are ignored; unknown keys inside the writer's own sections are rejected.

use std::path::Path;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::Deserialize;

use crate::error::WriterError;

/// Top-level sections of [`WriterConfig`]; other `PORTCULLIS_*` variables belong to other services.
const SECTIONS: [&str; 5] = ["nats", "clickhouse", "batch", "redaction", "metrics_listen"];

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WriterConfig {
    pub nats: NatsConfig,
    pub clickhouse: ClickHouseConfig,
    pub batch: BatchConfig,
    pub redaction: RedactionConfig,
    /// Address of the Prometheus `GET /metrics` listener
    /// (`PORTCULLIS_METRICS_LISTEN`); empty turns it off.
    pub metrics_listen: String,
}

/// Default [`WriterConfig::metrics_listen`]: loopback only.
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9102";

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            nats: NatsConfig::default(),
            clickhouse: ClickHouseConfig::default(),
            batch: BatchConfig::default(),
            redaction: RedactionConfig::default(),
            metrics_listen: DEFAULT_METRICS_LISTEN.to_owned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NatsConfig {
    pub url: String,
    /// The gateway's stream (created here too if missing, same settings).
    pub stream_name: String,
    pub subject_prefix: String,
    /// Durable pull consumer name (several writers may share it).
    pub durable_name: String,
    /// Must exceed the p99 time of one insert (seconds).
    pub ack_wait_secs: u64,
    /// Deliveries before JetStream gives up on a message. Outages do not
    /// count against it: held batches are kept alive with in-progress acks.
    pub max_deliver: i64,
    /// Undecodable messages go here (a separate stream keeps them) after
    /// `dead_letter_after` deliveries.
    pub dead_letter_subject: String,
    pub dead_letter_stream: String,
    pub dead_letter_after: u64,
}

impl Default for NatsConfig {
    fn default() -> Self {
        NatsConfig {
            url: "nats://127.0.0.1:4222".to_owned(),
            stream_name: "PORTCULLIS_AUDIT".to_owned(),
            subject_prefix: "audit.events".to_owned(),
            durable_name: "audit-writer".to_owned(),
            ack_wait_secs: 60,
            max_deliver: 20,
            dead_letter_subject: "audit.deadletter".to_owned(),
            dead_letter_stream: "PORTCULLIS_AUDIT_DLQ".to_owned(),
            dead_letter_after: 3,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClickHouseConfig {
    /// HTTP interface, e.g. `http://127.0.0.1:8123`.
    pub url: String,
    pub database: String,
    pub user: Option<String>,
    pub password: Option<String>,
    /// Delete audit rows older than this many days, on servers that support
    /// TTL (ClickHouse ≥ 19.6); 0 keeps everything. Ignored (with a warning)
    /// on older servers.
    pub retention_days: u32,
}

impl Default for ClickHouseConfig {
    fn default() -> Self {
        ClickHouseConfig {
            url: "http://127.0.0.1:8123".to_owned(),
            database: "portcullis".to_owned(),
            user: None,
            password: None,
            retention_days: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    /// Insert when this many events are waiting...
    pub max_events: usize,
    /// ...or when the oldest waiting event is this old (milliseconds).
    pub max_age_ms: u64,
    /// First retry delay after a failed insert; doubles up to `retry_max_ms`.
    pub retry_initial_ms: u64,
    pub retry_max_ms: u64,
    /// How long shutdown may spend flushing the last batch (seconds).
    pub shutdown_timeout_secs: u64,
    /// Batches handed to the inserter and not yet acked (the one being
    /// inserted plus those queued behind it). While they are inserted the
    /// next batch is already being fetched; 1 turns the overlap off (which
    /// measured faster where NATS, ClickHouse and the writer share two cores).
    pub max_in_flight: usize,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            // Larger batches mean fewer parts for ClickHouse to write and
            // merge: 10,000 drains a backlog ~1.5x faster than 5,000 on two
            // cores, and at steady rates the age limit closes batches anyway.
            max_events: 10_000,
            max_age_ms: 1_000,
            retry_initial_ms: 200,
            retry_max_ms: 10_000,
            shutdown_timeout_secs: 30,
            max_in_flight: 2,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RedactionConfig {
    /// Extra regular expressions whose matches are replaced by `[REDACTED]`.
    pub extra_patterns: Vec<String>,
}

impl WriterConfig {
    /// Read `path` (if any), apply the environment, validate.
    pub fn load(path: Option<&Path>) -> Result<WriterConfig, WriterError> {
        let mut figment = Figment::new();
        if let Some(path) = path {
            if !path.is_file() {
                return Err(WriterError::Config(format!("config file {} does not exist", path.display())));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        Self::extract(figment.merge(env_provider()))
    }

    /// Parse TOML text without the environment (tests).
    pub fn from_toml_str(toml: &str) -> Result<WriterConfig, WriterError> {
        Self::extract(Figment::from(Toml::string(toml)))
    }

    fn extract(figment: Figment) -> Result<WriterConfig, WriterError> {
        let config: WriterConfig = figment.extract().map_err(|e| WriterError::Config(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), WriterError> {
        let invalid = |key: &str, why: &str| Err(WriterError::Config(format!("{key}: {why}")));
        if self.nats.url.trim().is_empty() {
            return invalid("nats.url", "must not be empty");
        }
        if !self.clickhouse.url.starts_with("http://") && !self.clickhouse.url.starts_with("https://") {
            return invalid("clickhouse.url", "must be an http:// or https:// URL of the HTTP interface");
        }
        if self.clickhouse.database.is_empty()
            || !self.clickhouse.database.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return invalid("clickhouse.database", "letters, digits and '_' only");
        }
        for (key, name) in [
            ("nats.stream_name", &self.nats.stream_name),
            ("nats.durable_name", &self.nats.durable_name),
            ("nats.dead_letter_stream", &self.nats.dead_letter_stream),
        ] {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                return invalid(key, "letters, digits, '_' and '-' only");
            }
        }
        if self.nats.subject_prefix.is_empty() || self.nats.subject_prefix.contains(['*', '>', ' ']) {
            return invalid("nats.subject_prefix", "a subject without wildcards");
        }
        let events = format!("{}.", self.nats.subject_prefix);
        if self.nats.dead_letter_subject.starts_with(&events) || self.nats.dead_letter_subject.contains(['*', '>', ' '])
        {
            return invalid("nats.dead_letter_subject", "a subject without wildcards, outside nats.subject_prefix");
        }
        if self.nats.max_deliver < 2 || (self.nats.dead_letter_after as i64) >= self.nats.max_deliver {
            return invalid("nats.dead_letter_after", "must be below nats.max_deliver (and max_deliver at least 2)");
        }
        if self.nats.dead_letter_after == 0 {
            return invalid("nats.dead_letter_after", "must be at least 1");
        }
        if self.nats.ack_wait_secs == 0 {
            return invalid("nats.ack_wait_secs", "must be positive (and longer than the p99 insert time)");
        }
        if self.batch.max_events == 0 || self.batch.max_events > 1_000_000 {
            return invalid("batch.max_events", "must be 1 ..= 1000000");
        }
        if !(1..=16).contains(&self.batch.max_in_flight) {
            return invalid("batch.max_in_flight", "must be 1 ..= 16");
        }
        if self.batch.max_age_ms == 0 {
            return invalid("batch.max_age_ms", "must be positive");
        }
        if self.batch.retry_initial_ms == 0 || self.batch.retry_max_ms < self.batch.retry_initial_ms {
            return invalid("batch.retry_max_ms", "must be at least retry_initial_ms (> 0)");
        }
        for pattern in &self.redaction.extra_patterns {
            if let Err(err) = regex::Regex::new(pattern) {
                return Err(WriterError::Config(format!("redaction.extra_patterns: {pattern:?}: {err}")));
            }
        }
        self.metrics_addr()?;
        Ok(())
    }

    /// The metrics listener's address, `None` when turned off.
    pub fn metrics_addr(&self) -> Result<Option<std::net::SocketAddr>, WriterError> {
        portcullis_telemetry::listen_addr(&self.metrics_listen).map_err(WriterError::Config)
    }

    pub fn ack_wait(&self) -> Duration {
        Duration::from_secs(self.nats.ack_wait_secs)
    }
}

fn env_provider() -> Env {
    Env::prefixed("PORTCULLIS_").filter_map(|key| {
        let key = key.as_str().to_ascii_lowercase();
        let mapped = match key.as_str() {
            "nats_url" => "nats.url".to_owned(),
            "clickhouse_url" => "clickhouse.url".to_owned(),
            other => other.replace("__", "."),
        };
        let section = mapped.split('.').next().unwrap_or_default();
        SECTIONS.contains(&section).then(|| mapped.into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_documented_values() {
        let config = WriterConfig::from_toml_str("").unwrap();
        assert_eq!(config.batch.max_events, 10_000);
        assert_eq!(config.batch.max_age_ms, 1_000);
        assert_eq!(config.nats.subject_prefix, "audit.events");
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_name() {
        let err = WriterConfig::from_toml_str("[batch]\nmax_event = 5").unwrap_err().to_string();
        assert!(err.contains("max_event"), "{err}");
        let err = WriterConfig::from_toml_str("colour = 1").unwrap_err().to_string();
        assert!(err.contains("colour"), "{err}");
    }

    #[test]
    fn metrics_listener_defaults_to_loopback_and_can_be_turned_off() {
        let config = WriterConfig::from_toml_str("").unwrap();
        assert_eq!(config.metrics_addr().unwrap(), Some("127.0.0.1:9102".parse().unwrap()));
        let off = WriterConfig::from_toml_str("metrics_listen = \"\"").unwrap();
        assert_eq!(off.metrics_addr().unwrap(), None);
        let err = WriterConfig::from_toml_str("metrics_listen = \"9102\"").unwrap_err().to_string();
        assert!(err.contains("metrics_listen"), "{err}");
    }

    #[test]
    fn invalid_values_name_the_key() {
        let err = WriterConfig::from_toml_str("[batch]\nmax_events = 0").unwrap_err().to_string();
        assert!(err.contains("batch.max_events"), "{err}");
        let err = WriterConfig::from_toml_str("[clickhouse]\nurl = \"127.0.0.1:8123\"").unwrap_err().to_string();
        assert!(err.contains("clickhouse.url"), "{err}");
        let err =
            WriterConfig::from_toml_str("[nats]\ndead_letter_subject = \"audit.events.dlq\"").unwrap_err().to_string();
        assert!(err.contains("dead_letter_subject"), "{err}");
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API
    fn env_short_forms_override_the_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("w.toml", "[nats]\nurl = \"nats://file:4222\"\n[batch]\nmax_events = 10")?;
            jail.set_env("PORTCULLIS_NATS_URL", "nats://env:4222");
            jail.set_env("PORTCULLIS_CLICKHOUSE_URL", "http://ch:8123");
            jail.set_env("PORTCULLIS_BATCH__MAX_AGE_MS", "250");
            jail.set_env("PORTCULLIS_LISTEN", "0.0.0.0:1"); // the gateway's, ignored here
            let config = WriterConfig::load(Some(Path::new("w.toml"))).unwrap();
            assert_eq!(config.nats.url, "nats://env:4222");
            assert_eq!(config.clickhouse.url, "http://ch:8123");
            assert_eq!(config.batch.max_events, 10);
            assert_eq!(config.batch.max_age_ms, 250);
            Ok(())
        });
    }
}
