//! [`MetricsConfig`]: the `[metrics]` section.

use serde::Deserialize;

use crate::auth::keys::KeyHash;

/// `GET /metrics` on the gateway's own listener.
///
/// Open by default, as Prometheus endpoints usually are: it carries counts and
/// timings only (labels are status codes and decisions; no tenant, project, key or
/// content). Set `bearer_token_hash` to require `Authorization: Bearer <token>`; the
/// token is its own credential, so a scraper that holds it cannot open the dashboard.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Serve `/metrics` at all.
    pub enabled: bool,
    /// `sha256:<hex>` of the scrape token (`gateway keys new`-style hash:
    /// `printf %s "$TOKEN" | sha256sum`).
    pub bearer_token_hash: Option<String>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig { enabled: true, bearer_token_hash: None }
    }
}

impl MetricsConfig {
    /// Check the values; errors name the offending key.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(hash) = &self.bearer_token_hash {
            KeyHash::parse(hash).map_err(|e| format!("metrics.bearer_token_hash: {e}"))?;
        }
        Ok(())
    }

    /// The parsed token hash (`None` when unset; validation rejects invalid ones).
    pub fn token_hash(&self) -> Option<KeyHash> {
        self.bearer_token_hash.as_deref().and_then(|h| KeyHash::parse(h).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_by_default_and_a_bad_hash_names_the_key() {
        let config = MetricsConfig::default();
        assert!(config.enabled && config.token_hash().is_none());
        let bad = MetricsConfig { bearer_token_hash: Some("abc".into()), ..MetricsConfig::default() };
        assert!(bad.validate().unwrap_err().contains("metrics.bearer_token_hash"));
        let good = MetricsConfig { bearer_token_hash: Some(KeyHash::of("t").to_string()), ..MetricsConfig::default() };
        assert!(good.validate().is_ok() && good.token_hash().is_some_and(|h| h.matches(&KeyHash::of("t"))));
    }
}
