//! Typed, validated gateway configuration.
//!
//! Loading is two steps, as in tensorzero: [`load::load_raw`] parses the TOML file and
//! `PORTCULLIS_*` environment overrides into [`raw::RawConfig`] (unknown keys rejected),
//! then [`Config::validate`] checks cross-references and value ranges and builds the
//! types the gateway serves with. Nothing is served from a config that failed validation.

pub mod load;
pub mod raw;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

use axum::http::HeaderName;

use crate::auth::keys::KeyHash;
use crate::secret::Secret;
use raw::RawConfig;

pub use load::{ConfigError, load};

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub upstream: UpstreamConfig,
    pub limits: Limits,
    pub auth: AuthConfig,
    pub log: LogConfig,
    pub audit: crate::audit::AuditConfig,
    pub metrics: crate::metrics::MetricsConfig,
    pub dashboard: crate::dashboard::DashboardConfig,
    pub projects: BTreeMap<String, Project>,
    pub keys: Vec<KeyEntry>,
    pub clients: HashMap<String, ClientEntry>,
}

#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    /// Scheme, host and optional path prefix, without a trailing slash.
    pub base_url: String,
    pub connect_timeout: Duration,
    pub response_header_timeout: Duration,
    pub idle_timeout: Duration,
    pub http_version: HttpVersion,
    pub max_streams_per_connection: usize,
}

/// Which HTTP version the gateway speaks to the upstream (`upstream.http_version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HttpVersion {
    /// HTTP/2 when TLS (ALPN) negotiates it, else HTTP/1.1.
    #[default]
    Auto,
    Http1,
    /// HTTP/2 always, with prior knowledge over plain `http://`.
    Http2,
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_body_bytes: u64,
    pub max_headers: usize,
    pub max_header_bytes: usize,
}

#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub key_headers: Vec<HeaderName>,
    pub jwt: Option<JwtConfig>,
}

#[derive(Debug, Clone)]
pub struct JwtConfig {
    pub issuer: String,
    pub audience: String,
    pub signing_secret: Secret<String>,
    pub algorithms: Vec<jsonwebtoken::Algorithm>,
    pub token_ttl: Duration,
    pub leeway_secs: u64,
}

#[derive(Debug, Clone)]
pub struct LogConfig {
    pub json: bool,
    pub level: String,
}

#[derive(Debug, Clone)]
pub struct Project {
    pub name: String,
    pub tenant: String,
    pub capture: raw::ContentCapture,
    pub policy: portcullis_detection::PolicyConfig,
    pub ml: crate::ml::MlConfig,
}

#[derive(Debug, Clone)]
pub struct KeyEntry {
    pub project: String,
    pub hash: KeyHash,
    pub label: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ClientEntry {
    pub client_id: String,
    pub project: String,
    pub secret_hash: KeyHash,
    pub scopes: Vec<String>,
}

/// Headers that carry the caller's Anthropic credential; a gateway key header may not reuse them.
const RESERVED_KEY_HEADERS: [&str; 3] = ["authorization", "x-api-key", "x-anthropic-key"];

/// HMAC algorithms only: the gateway both issues and verifies its tokens with one
/// shared secret, so public-key algorithms (and `none`) are never accepted.
fn parse_algorithm(name: &str) -> Option<jsonwebtoken::Algorithm> {
    match name {
        "HS256" => Some(jsonwebtoken::Algorithm::HS256),
        "HS384" => Some(jsonwebtoken::Algorithm::HS384),
        "HS512" => Some(jsonwebtoken::Algorithm::HS512),
        _ => None,
    }
}

impl Config {
    pub fn validate(raw: RawConfig) -> Result<Config, ConfigError> {
        let invalid = |msg: String| Err(ConfigError::Invalid(msg));
        let listen: SocketAddr = match raw.listen.parse() {
            Ok(addr) => addr,
            Err(e) => return invalid(format!("listen = {:?}: {e} (expected HOST:PORT)", raw.listen)),
        };

        let base_url = raw.upstream.url.trim_end_matches('/').to_string();
        match reqwest::Url::parse(&base_url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {}
            _ => return invalid(format!("upstream.url = {:?}: expected an http(s) URL", raw.upstream.url)),
        }
        for (name, value) in [
            ("upstream.connect_timeout_ms", raw.upstream.connect_timeout_ms),
            ("upstream.response_header_timeout_ms", raw.upstream.response_header_timeout_ms),
            ("upstream.idle_timeout_ms", raw.upstream.idle_timeout_ms),
        ] {
            if value == 0 {
                return invalid(format!("{name} must be greater than 0"));
            }
        }
        if raw.upstream.max_streams_per_connection == 0 {
            return invalid("upstream.max_streams_per_connection must be greater than 0".to_string());
        }

        let limits = Limits {
            max_body_bytes: raw.limits.max_body_bytes,
            max_headers: raw.limits.max_headers,
            max_header_bytes: raw.limits.max_header_bytes,
        };
        if limits.max_body_bytes < 1024 || limits.max_headers < 16 || limits.max_header_bytes < 4096 {
            return invalid(
                "limits: max_body_bytes >= 1024, max_headers >= 16 and max_header_bytes >= 4096 are required"
                    .to_string(),
            );
        }

        let mut key_headers = Vec::new();
        for name in &raw.auth.key_headers {
            let lower = name.to_ascii_lowercase();
            if RESERVED_KEY_HEADERS.contains(&lower.as_str()) {
                return invalid(format!(
                    "auth.key_headers: {name:?} carries the caller's Anthropic key and cannot be a gateway key header"
                ));
            }
            match HeaderName::from_bytes(lower.as_bytes()) {
                Ok(header) => key_headers.push(header),
                Err(_) => return invalid(format!("auth.key_headers: {name:?} is not a valid header name")),
            }
        }
        if key_headers.is_empty() {
            return invalid("auth.key_headers must name at least one header".to_string());
        }

        let jwt = match raw.auth.jwt {
            None => None,
            Some(jwt) => {
                if jwt.signing_secret.expose().len() < 32 {
                    return invalid("auth.jwt.signing_secret must be at least 32 bytes".to_string());
                }
                if jwt.issuer.is_empty() || jwt.audience.is_empty() {
                    return invalid("auth.jwt.issuer and auth.jwt.audience must be set".to_string());
                }
                let mut algorithms = Vec::new();
                for name in &jwt.algorithms {
                    match parse_algorithm(name) {
                        Some(alg) => algorithms.push(alg),
                        None => {
                            return invalid(format!(
                                "auth.jwt.algorithms: {name:?} is not allowed (allowed: HS256, HS384, HS512)"
                            ));
                        }
                    }
                }
                if algorithms.is_empty() || jwt.token_ttl_secs == 0 {
                    return invalid("auth.jwt needs at least one algorithm and token_ttl_secs > 0".to_string());
                }
                Some(JwtConfig {
                    issuer: jwt.issuer,
                    audience: jwt.audience,
                    signing_secret: jwt.signing_secret,
                    algorithms,
                    token_ttl: Duration::from_secs(jwt.token_ttl_secs),
                    leeway_secs: jwt.leeway_secs,
                })
            }
        };

        let log = match raw.log.format.as_str() {
            "text" => LogConfig { json: false, level: raw.log.level },
            "json" => LogConfig { json: true, level: raw.log.level },
            other => return invalid(format!("log.format = {other:?}: expected \"text\" or \"json\"")),
        };

        raw.audit.validate().map_err(|e| ConfigError::Invalid(e.to_string()))?;
        raw.metrics.validate().map_err(ConfigError::Invalid)?;
        raw.dashboard.validate().map_err(ConfigError::Invalid)?;

        let mut projects = BTreeMap::new();
        for project in raw.projects {
            if project.name.is_empty() || project.tenant.is_empty() {
                return invalid("projects: name and tenant must not be empty".to_string());
            }
            let name = project.name.clone();
            let ml = crate::ml::MlConfig::validate(project.ml, &name, raw.audit.nats_url.as_deref())
                .map_err(ConfigError::Invalid)?;
            if projects
                .insert(
                    name.clone(),
                    Project {
                        name: project.name,
                        tenant: project.tenant,
                        capture: project.capture,
                        policy: project.policy,
                        ml,
                    },
                )
                .is_some()
            {
                return invalid(format!("projects: {name:?} is defined twice"));
            }
        }

        let mut keys = Vec::new();
        for (index, key) in raw.keys.into_iter().enumerate() {
            if !projects.contains_key(&key.project) {
                return invalid(format!("keys[{index}]: unknown project {:?}", key.project));
            }
            let hash =
                KeyHash::parse(&key.hash).map_err(|e| ConfigError::Invalid(format!("keys[{index}].hash: {e}")))?;
            keys.push(KeyEntry { project: key.project, hash, label: key.label });
        }

        let mut clients = HashMap::new();
        for client in raw.clients {
            if jwt.is_none() {
                return invalid(format!("clients: {:?} needs [auth.jwt] to be configured", client.client_id));
            }
            if !projects.contains_key(&client.project) {
                return invalid(format!("clients: {:?}: unknown project {:?}", client.client_id, client.project));
            }
            let secret_hash = KeyHash::parse(&client.secret_hash)
                .map_err(|e| ConfigError::Invalid(format!("clients: {:?}.secret_hash: {e}", client.client_id)))?;
            let id = client.client_id.clone();
            let entry = ClientEntry {
                client_id: client.client_id,
                project: client.project,
                secret_hash,
                scopes: client.scopes,
            };
            if clients.insert(id.clone(), entry).is_some() {
                return invalid(format!("clients: {id:?} is defined twice"));
            }
        }

        Ok(Config {
            listen,
            upstream: UpstreamConfig {
                base_url,
                connect_timeout: Duration::from_millis(raw.upstream.connect_timeout_ms),
                response_header_timeout: Duration::from_millis(raw.upstream.response_header_timeout_ms),
                idle_timeout: Duration::from_millis(raw.upstream.idle_timeout_ms),
                http_version: raw.upstream.http_version,
                max_streams_per_connection: raw.upstream.max_streams_per_connection,
            },
            limits,
            auth: AuthConfig { key_headers, jwt },
            log,
            audit: raw.audit,
            metrics: raw.metrics,
            dashboard: raw.dashboard,
            projects,
            keys,
            clients,
        })
    }
}
