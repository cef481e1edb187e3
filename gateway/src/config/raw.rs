//! The configuration file as written by operators (TOML, or `PORTCULLIS_*` env vars).
//!
//! Every struct denies unknown fields so a typo (`max_body_byte`) fails loudly with the
//! key's name instead of silently using a default. These raw types are only parsed here;
//! [`super::Config::validate`] turns them into the typed config the gateway serves with.

use serde::Deserialize;

use crate::secret::Secret;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default = "default_listen")]
    pub listen: String,
    #[serde(default)]
    pub upstream: RawUpstream,
    #[serde(default)]
    pub limits: RawLimits,
    #[serde(default)]
    pub auth: RawAuth,
    #[serde(default)]
    pub log: RawLog,
    #[serde(default)]
    pub audit: crate::audit::AuditConfig,
    #[serde(default)]
    pub metrics: crate::metrics::MetricsConfig,
    #[serde(default)]
    pub dashboard: crate::dashboard::DashboardConfig,
    #[serde(default)]
    pub projects: Vec<RawProject>,
    #[serde(default)]
    pub keys: Vec<RawKey>,
    #[serde(default)]
    pub clients: Vec<RawClient>,
}

fn default_listen() -> String {
    "127.0.0.1:8080".to_string()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawUpstream {
    pub url: String,
    /// TCP + TLS connect.
    pub connect_timeout_ms: u64,
    /// From sending the request to the upstream's response headers. Long enough for a
    /// non-streaming request with a large `max_tokens` (the API answers those only at the end).
    pub response_header_timeout_ms: u64,
    /// Longest silence allowed between two body chunks. There is deliberately no total
    /// timeout: a long stream is fine as long as it keeps moving (the API sends `ping`s).
    pub idle_timeout_ms: u64,
    /// `auto` (HTTP/2 when TLS negotiates it, HTTP/1.1 over `http://`), `http1`, or
    /// `http2` (also over `http://`, with prior knowledge, e.g. to a local sidecar).
    pub http_version: super::HttpVersion,
    /// Requests one upstream connection carries before the gateway opens another
    /// (HTTP/2 servers cap concurrent streams per connection; 100 is the usual cap).
    pub max_streams_per_connection: usize,
}

impl Default for RawUpstream {
    fn default() -> Self {
        Self {
            url: "https://api.anthropic.com".to_string(),
            connect_timeout_ms: 10_000,
            response_header_timeout_ms: 600_000,
            idle_timeout_ms: 300_000,
            http_version: super::HttpVersion::Auto,
            max_streams_per_connection: 100,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLimits {
    /// A 1M-token context request is ~4 MB of text; images and documents as base64 make
    /// it larger. The Messages API itself accepts up to 32 MB.
    pub max_body_bytes: u64,
    pub max_headers: usize,
    /// Sum of all header names and values.
    pub max_header_bytes: usize,
}

impl Default for RawLimits {
    fn default() -> Self {
        Self { max_body_bytes: 32 * 1024 * 1024, max_headers: 100, max_header_bytes: 64 * 1024 }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAuth {
    /// Headers that carry a gateway key, checked in order. Teams migrating from another
    /// gateway keep its header name here (e.g. `x-glitch-key`).
    pub key_headers: Vec<String>,
    pub jwt: Option<RawJwt>,
}

impl Default for RawAuth {
    fn default() -> Self {
        Self { key_headers: vec!["x-portcullis-key".to_string()], jwt: None }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJwt {
    pub issuer: String,
    pub audience: String,
    /// HMAC secret used to sign and verify tokens (≥ 32 bytes). Prefer the env var
    /// `PORTCULLIS_AUTH__JWT__SIGNING_SECRET` over writing it in the file.
    pub signing_secret: Secret<String>,
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    #[serde(default = "default_token_ttl")]
    pub token_ttl_secs: u64,
    /// Clock skew tolerated on `exp` and `nbf`.
    #[serde(default = "default_leeway")]
    pub leeway_secs: u64,
}

fn default_algorithms() -> Vec<String> {
    vec!["HS256".to_string()]
}
fn default_token_ttl() -> u64 {
    3600
}
fn default_leeway() -> u64 {
    30
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLog {
    /// `text` for people, `json` for log pipelines.
    pub format: String,
    /// A tracing filter such as `info` or `portcullis_gateway=debug`; `RUST_LOG` wins.
    pub level: String,
}

impl Default for RawLog {
    fn default() -> Self {
        Self { format: "text".to_string(), level: "info".to_string() }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProject {
    pub name: String,
    pub tenant: String,
    /// `none` (default): audit events carry metadata only. `redacted`: they also carry
    /// the rendered conversation with every PII/secret span masked.
    #[serde(default)]
    pub capture: ContentCapture,
    /// Detection policy: template, per-detector overrides, Rego rules.
    #[serde(default)]
    pub policy: portcullis_detection::PolicyConfig,
    /// ML injection classification by the detector workers (off by default).
    #[serde(default)]
    pub ml: crate::ml::RawMlConfig,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContentCapture {
    #[default]
    None,
    Redacted,
}

/// A gateway key, stored only as a hash (`gateway keys new` prints the entry).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKey {
    pub project: String,
    pub hash: String,
    #[serde(default)]
    pub label: Option<String>,
}

/// An OAuth-style client for the JWT flow, its secret stored only as a hash.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClient {
    pub client_id: String,
    pub project: String,
    pub secret_hash: String,
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
}

fn default_scopes() -> Vec<String> {
    vec!["llm:invoke".to_string()]
}
