//! Worker configuration: TOML file (`--config`), then `PORTCULLIS_*` environment.
//!
//! Like the other services, `__` separates sections
//! (`PORTCULLIS_BATCHING__BATCH_WAIT_MS`), and the settings every deployment
//! changes have short forms: `PORTCULLIS_NATS_URL` (→ `nats.url`) and
//! `PORTCULLIS_MODEL_DIR` (→ `model.dir`). Variables of other services are
//! ignored; unknown keys inside the worker's own sections are rejected.
//!
//! Model threads: Candle's matrix kernels use `RAYON_NUM_THREADS` (default: the
//! physical cores), read from the process environment, not from this file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use portcullis_schemas::{DETECT_HEALTH_SUBJECT, DETECT_QUEUE_GROUP, DETECT_SUBJECT};
use serde::Deserialize;

use crate::WorkerError;

/// Top-level sections of [`WorkerConfig`].
const SECTIONS: [&str; 5] = ["nats", "model", "batching", "stats", "metrics_listen"];

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    pub nats: NatsConfig,
    pub model: ModelSection,
    pub batching: BatchingConfig,
    pub stats: StatsConfig,
    /// Address of the Prometheus `GET /metrics` listener
    /// (`PORTCULLIS_METRICS_LISTEN`); empty turns it off. Several workers on
    /// one host need one port each.
    pub metrics_listen: String,
}

/// Default [`WorkerConfig::metrics_listen`]: loopback only.
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9103";

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            nats: NatsConfig::default(),
            model: ModelSection::default(),
            batching: BatchingConfig::default(),
            stats: StatsConfig::default(),
            metrics_listen: DEFAULT_METRICS_LISTEN.to_owned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NatsConfig {
    pub url: String,
    /// Request subject ([`portcullis_schemas::DetectRequest`] in, `DetectResponse` out).
    pub subject: String,
    /// Workers in the same queue group share the requests.
    pub queue_group: String,
    /// Every worker answers JSON statistics here (a request gets the first).
    pub health_subject: String,
}

impl Default for NatsConfig {
    fn default() -> Self {
        NatsConfig {
            url: "nats://127.0.0.1:4222".to_owned(),
            subject: DETECT_SUBJECT.to_owned(),
            queue_group: DETECT_QUEUE_GROUP.to_owned(),
            health_subject: DETECT_HEALTH_SUBJECT.to_owned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ModelSection {
    /// Hugging Face sequence-classification folder; default: the committed
    /// `models/default` (see [`default_model_dir`]).
    pub dir: Option<PathBuf>,
    /// Name reported as `model_id`; default: the folder's name.
    pub id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchingConfig {
    /// How long the model thread waits for more requests after the first one
    /// of a batch arrives (milliseconds; 0 = run what is queued right away).
    pub batch_wait_ms: u64,
    /// Stop collecting when the batch holds this many segments.
    pub max_batch_segments: usize,
    /// Windows per forward pass (padded batch); bounds padding and memory.
    pub max_batch_windows: usize,
    /// Requests waiting for the model; beyond it the worker answers
    /// `Overloaded` at once.
    pub queue_capacity: usize,
}

impl Default for BatchingConfig {
    fn default() -> Self {
        BatchingConfig { batch_wait_ms: 2, max_batch_segments: 64, max_batch_windows: 32, queue_capacity: 256 }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatsConfig {
    /// Period of the statistics log line (seconds; 0 = never).
    pub log_interval_secs: u64,
}

impl Default for StatsConfig {
    fn default() -> Self {
        StatsConfig { log_interval_secs: 60 }
    }
}

impl WorkerConfig {
    /// Read `path` (if any), apply the environment, validate.
    pub fn load(path: Option<&Path>) -> Result<WorkerConfig, WorkerError> {
        let mut figment = Figment::new();
        if let Some(path) = path {
            if !path.is_file() {
                return Err(WorkerError::Config(format!("config file {} does not exist", path.display())));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        Self::extract(figment.merge(env_provider()))
    }

    /// Parse TOML text without the environment (tests).
    pub fn from_toml_str(toml: &str) -> Result<WorkerConfig, WorkerError> {
        Self::extract(Figment::from(Toml::string(toml)))
    }

    fn extract(figment: Figment) -> Result<WorkerConfig, WorkerError> {
        let config: WorkerConfig = figment.extract().map_err(|e| WorkerError::Config(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), WorkerError> {
        let invalid = |key: &str, why: &str| Err(WorkerError::Config(format!("{key}: {why}")));
        if self.nats.url.trim().is_empty() {
            return invalid("nats.url", "must not be empty");
        }
        for (key, subject) in [
            ("nats.subject", &self.nats.subject),
            ("nats.health_subject", &self.nats.health_subject),
            ("nats.queue_group", &self.nats.queue_group),
        ] {
            if subject.is_empty() || subject.contains(['*', '>', ' ']) {
                return invalid(key, "a name without wildcards or spaces");
            }
        }
        if self.batching.batch_wait_ms > 1_000 {
            return invalid("batching.batch_wait_ms", "at most 1000");
        }
        if self.batching.max_batch_segments == 0 {
            return invalid("batching.max_batch_segments", "must be at least 1");
        }
        if self.batching.max_batch_windows == 0 {
            return invalid("batching.max_batch_windows", "must be at least 1");
        }
        if self.batching.queue_capacity == 0 {
            return invalid("batching.queue_capacity", "must be at least 1");
        }
        self.metrics_addr()?;
        Ok(())
    }

    /// The metrics listener's address, `None` when turned off.
    pub fn metrics_addr(&self) -> Result<Option<std::net::SocketAddr>, WorkerError> {
        portcullis_telemetry::listen_addr(&self.metrics_listen).map_err(WorkerError::Config)
    }

    /// The configured model folder, else the committed default.
    pub fn model_dir(&self) -> Result<PathBuf, WorkerError> {
        match &self.model.dir {
            Some(dir) => Ok(dir.clone()),
            None => default_model_dir().ok_or_else(|| {
                WorkerError::Config(
                    "no model.dir (PORTCULLIS_MODEL_DIR) and models/default not found \
                     next to the binary, in the working directory or in the source tree"
                        .to_owned(),
                )
            }),
        }
    }

    pub fn batch_wait(&self) -> Duration {
        Duration::from_millis(self.batching.batch_wait_ms)
    }
}

/// The committed default model: `models/default` looked up beside the binary
/// and its ancestors (`target/release/detector-worker` → the repository root),
/// then in the working directory, then in the source tree this binary was
/// built from. The first folder holding a `config.json` wins.
pub fn default_model_dir() -> Option<PathBuf> {
    let relative = Path::new("models").join("default");
    let mut candidates = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        candidates.extend(exe.ancestors().skip(1).map(|dir| dir.join(&relative)));
    }
    if let Ok(cwd) = std::env::current_dir() {
        candidates.push(cwd.join(&relative));
    }
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(&relative));
    candidates.into_iter().find(|dir| dir.join("config.json").is_file())
}

fn env_provider() -> Env {
    Env::prefixed("PORTCULLIS_").filter_map(|key| {
        let key = key.as_str().to_ascii_lowercase();
        let mapped = match key.as_str() {
            "nats_url" => "nats.url".to_owned(),
            "model_dir" => "model.dir".to_owned(),
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
    fn defaults_are_valid() {
        let config = WorkerConfig::from_toml_str("").unwrap();
        assert_eq!(config.nats.subject, "detect.injection");
        assert_eq!(config.nats.queue_group, "detector-workers");
        assert_eq!(config.batching.batch_wait_ms, 2);
        assert!(config.model_dir().unwrap().join("config.json").is_file());
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_name() {
        let err = WorkerConfig::from_toml_str("[batching]\nbatch_wait = 5").unwrap_err().to_string();
        assert!(err.contains("batch_wait"), "{err}");
        let err = WorkerConfig::from_toml_str("colour = 1").unwrap_err().to_string();
        assert!(err.contains("colour"), "{err}");
    }

    #[test]
    fn metrics_listener_defaults_to_loopback_and_can_be_turned_off() {
        let config = WorkerConfig::from_toml_str("").unwrap();
        assert_eq!(config.metrics_addr().unwrap(), Some("127.0.0.1:9103".parse().unwrap()));
        let off = WorkerConfig::from_toml_str("metrics_listen = \"\"").unwrap();
        assert_eq!(off.metrics_addr().unwrap(), None);
        let err = WorkerConfig::from_toml_str("metrics_listen = \"localhost\"").unwrap_err().to_string();
        assert!(err.contains("metrics_listen"), "{err}");
    }

    #[test]
    fn invalid_values_name_the_key() {
        let err = WorkerConfig::from_toml_str("[batching]\nqueue_capacity = 0").unwrap_err().to_string();
        assert!(err.contains("batching.queue_capacity"), "{err}");
        let err = WorkerConfig::from_toml_str("[nats]\nsubject = \"detect.*\"").unwrap_err().to_string();
        assert!(err.contains("nats.subject"), "{err}");
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API
    fn env_short_forms_override_the_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("w.toml", "[nats]\nurl = \"nats://file:4222\"\n[batching]\nbatch_wait_ms = 5")?;
            jail.set_env("PORTCULLIS_NATS_URL", "nats://env:4222");
            jail.set_env("PORTCULLIS_MODEL_DIR", "/opt/model");
            jail.set_env("PORTCULLIS_BATCHING__QUEUE_CAPACITY", "9");
            jail.set_env("PORTCULLIS_LISTEN", "0.0.0.0:1"); // the gateway's
            let config = WorkerConfig::load(Some(Path::new("w.toml"))).unwrap();
            assert_eq!(config.nats.url, "nats://env:4222");
            assert_eq!(config.model.dir, Some(PathBuf::from("/opt/model")));
            assert_eq!(config.batching.batch_wait_ms, 5);
            assert_eq!(config.batching.queue_capacity, 9);
            Ok(())
        });
    }
}
