//! Reading the raw configuration: TOML file, then `PORTCULLIS_*` environment overrides.
//!
//! Environment keys map onto the file's structure with `__` as the section separator
//! (`PORTCULLIS_LIMITS__MAX_BODY_BYTES`), plus short aliases for the settings operators
//! change most: `PORTCULLIS_LISTEN`, `PORTCULLIS_UPSTREAM_URL`, `PORTCULLIS_NATS_URL` (→ `audit.nats_url`), `PORTCULLIS_CLICKHOUSE_URL`
//! (→ `dashboard.clickhouse_url`, the same URL the audit writer uses). Variables whose first
//! section the gateway does not have (e.g. the audit writer's `PORTCULLIS_BATCH__MAX_EVENTS`
//! in a shared env file) are ignored rather than rejected, because all services read the
//! same prefix; unknown keys *inside* a known section are still rejected.

use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Toml};

use super::Config;
use super::raw::RawConfig;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {0} does not exist")]
    Missing(String),
    #[error("invalid configuration: {0}")]
    Parse(String),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Top-level sections of [`RawConfig`]; env vars outside them belong to other services.
const SECTIONS: [&str; 11] =
    ["listen", "upstream", "limits", "auth", "log", "audit", "metrics", "dashboard", "projects", "keys", "clients"];

fn env_provider() -> Env {
    Env::prefixed("PORTCULLIS_").filter_map(|key| {
        let key = key.as_str().to_ascii_lowercase();
        let mapped = match key.as_str() {
            "upstream_url" => "upstream.url".to_string(),
            "nats_url" => "audit.nats_url".to_string(),
            // Shared with the audit-writer: the dashboard reads the tables it writes.
            "clickhouse_url" => "dashboard.clickhouse_url".to_string(),
            other => other.replace("__", "."),
        };
        let section = mapped.split('.').next().unwrap_or_default();
        SECTIONS.contains(&section).then(|| mapped.into())
    })
}

pub fn load_raw(path: Option<&Path>) -> Result<RawConfig, ConfigError> {
    let mut figment = Figment::new();
    if let Some(path) = path {
        if !path.is_file() {
            return Err(ConfigError::Missing(path.display().to_string()));
        }
        figment = figment.merge(Toml::file_exact(path));
    }
    figment.merge(env_provider()).extract::<RawConfig>().map_err(|e| ConfigError::Parse(e.to_string()))
}

/// Load and validate; the error says which key is wrong.
pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
    Config::validate(load_raw(path)?)
}

/// Parse a TOML string (tests and `gateway check-config` use this).
pub fn from_toml_str(toml: &str) -> Result<Config, ConfigError> {
    let raw =
        Figment::from(Toml::string(toml)).extract::<RawConfig>().map_err(|e| ConfigError::Parse(e.to_string()))?;
    Config::validate(raw)
}
