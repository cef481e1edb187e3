//! [`DashboardConfig`]: the `[dashboard]` section.

use serde::Deserialize;

use crate::auth::keys::KeyHash;
use crate::secret::Secret;

/// The `[dashboard]` section of the gateway configuration.
///
/// The admin credential is separate from tenant keys and stored only as a hash
/// (`gateway dashboard credential` prints a fresh one with its entry). It is checked
/// on every request, so a SIGHUP reload rotates it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DashboardConfig {
    /// Serve `/dashboard` at all (off by default: it exposes audit data).
    pub enabled: bool,
    /// `sha256:<hex>` of the admin credential.
    pub admin_credential_hash: Option<String>,
    /// ClickHouse HTTP interface holding the audit tables (the audit-writer's).
    /// `PORTCULLIS_CLICKHOUSE_URL` sets it, as it does for the audit-writer.
    pub clickhouse_url: String,
    pub clickhouse_database: String,
    pub clickhouse_user: Option<String>,
    pub clickhouse_password: Option<Secret<String>>,
    /// Per-query limit on the ClickHouse side, so a wide logs search cannot hog it.
    pub query_timeout_secs: u64,
    /// Lifetime of a login session cookie.
    pub session_ttl_secs: u64,
    /// Add `Secure` to the session cookie: set it when the gateway is reached over
    /// HTTPS (a TLS-terminating proxy); browsers drop such cookies on plain HTTP
    /// except on localhost.
    pub secure_cookie: bool,
}

impl Default for DashboardConfig {
    fn default() -> Self {
        DashboardConfig {
            enabled: false,
            admin_credential_hash: None,
            clickhouse_url: "http://127.0.0.1:8123".to_owned(),
            clickhouse_database: "portcullis".to_owned(),
            clickhouse_user: None,
            clickhouse_password: None,
            query_timeout_secs: 10,
            session_ttl_secs: 12 * 3600,
            secure_cookie: false,
        }
    }
}

impl DashboardConfig {
    /// Check the values; errors name the offending key.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(hash) = &self.admin_credential_hash {
            KeyHash::parse(hash).map_err(|e| format!("dashboard.admin_credential_hash: {e}"))?;
        } else if self.enabled {
            return Err("dashboard.admin_credential_hash is required when the dashboard is enabled \
                 (`gateway dashboard credential` prints one)"
                .to_owned());
        }
        match reqwest::Url::parse(&self.clickhouse_url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {}
            _ => return Err(format!("dashboard.clickhouse_url = {:?}: expected an http(s) URL", self.clickhouse_url)),
        }
        let database_ok = !self.clickhouse_database.is_empty()
            && self.clickhouse_database.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !database_ok {
            return Err("dashboard.clickhouse_database: only letters, digits and '_' are allowed".to_owned());
        }
        if self.query_timeout_secs == 0 || self.session_ttl_secs == 0 {
            return Err("dashboard.query_timeout_secs and dashboard.session_ttl_secs must be positive".to_owned());
        }
        Ok(())
    }

    /// The parsed admin hash (`None` when unset or invalid, which validation rejects).
    pub fn admin_hash(&self) -> Option<KeyHash> {
        self.admin_credential_hash.as_deref().and_then(|h| KeyHash::parse(h).ok())
    }
}
