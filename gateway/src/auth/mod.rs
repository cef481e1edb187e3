//! Who is calling: per-request identity from a gateway key header or a JWT.
//!
//! The mode is chosen by what the caller sends, in this order:
//! 1. a configured key header (default `x-portcullis-key`): the caller's own Anthropic
//!    credential (`x-api-key` or `Authorization`) goes upstream byte for byte;
//! 2. a JWT in `Authorization: Bearer` or `x-api-key` (SDK versions differ): the
//!    Anthropic key then comes from `X-Anthropic-Key` and goes upstream as `x-api-key`.
//!
//! Gateway credentials are consumed here and never forwarded (see [`UpstreamAuth`]).

pub mod jwt;
pub mod keys;
pub mod token_endpoint;

use axum::http::{HeaderMap, HeaderName, header};

use crate::config::Config;
use crate::error::GatewayError;
use crate::secret::Secret;

pub const ANTHROPIC_KEY_HEADER: &str = "x-anthropic-key";
const API_KEY_HEADER: &str = "x-api-key";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    TenantKey,
    Jwt,
}

#[derive(Debug, Clone)]
pub struct Identity {
    pub tenant: String,
    pub project: String,
    /// Set in JWT mode.
    pub client_id: Option<String>,
    pub mode: AuthMode,
}

/// How the upstream credential headers must be rewritten for this request.
#[derive(Debug, Default)]
pub struct UpstreamAuth {
    /// Headers removed before forwarding (gateway key headers, the JWT carrier).
    pub strip: Vec<HeaderName>,
    /// In JWT mode, the Anthropic key to send as `x-api-key`.
    pub api_key: Option<Secret<String>>,
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = header_str(headers, header::AUTHORIZATION.as_str())?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

/// Authenticate a proxied request. Errors are 401/403 gateway errors; nothing is forwarded.
pub fn authenticate(config: &Config, headers: &HeaderMap) -> Result<(Identity, UpstreamAuth), GatewayError> {
    let strip_key_headers = config.auth.key_headers.clone();
    for name in &config.auth.key_headers {
        let Some(presented) = header_str(headers, name.as_str()) else { continue };
        let entry = keys::find_constant_time(&config.keys, |k| &k.hash, presented)
            .ok_or_else(|| GatewayError::Unauthenticated(format!("the gateway key in header {name} is not valid")))?;
        let tenant = config
            .projects
            .get(&entry.project)
            .map(|p| p.tenant.clone())
            .ok_or_else(|| GatewayError::Internal(format!("key refers to unknown project {}", entry.project)))?;
        let identity = Identity { tenant, project: entry.project.clone(), client_id: None, mode: AuthMode::TenantKey };
        return Ok((identity, UpstreamAuth { strip: strip_key_headers, api_key: None }));
    }

    let jwt_token = bearer(headers)
        .filter(|t| jwt::looks_like_jwt(t))
        .or_else(|| header_str(headers, API_KEY_HEADER).filter(|t| jwt::looks_like_jwt(t)));
    let Some(token) = jwt_token else {
        let names: Vec<&str> = config.auth.key_headers.iter().map(HeaderName::as_str).collect();
        return Err(GatewayError::Unauthenticated(format!(
            "missing gateway credential: send your gateway key in the {} header, or a JWT from POST /api/v1/auth/token",
            names.join(" or ")
        )));
    };
    let jwt_config = config.auth.jwt.as_ref().ok_or_else(|| {
        GatewayError::Unauthenticated("JWT authentication is not enabled on this gateway".to_string())
    })?;
    let claims = jwt::validate(jwt_config, token).map_err(GatewayError::Unauthenticated)?;
    let client = config
        .clients
        .get(&claims.sub)
        .filter(|c| c.project == claims.project)
        .ok_or_else(|| GatewayError::Unauthenticated("the token's client is no longer configured".to_string()))?;
    if !claims.has_scope(jwt::SCOPE_INVOKE) {
        return Err(GatewayError::Forbidden(format!("the token lacks the {} scope", jwt::SCOPE_INVOKE)));
    }
    let api_key = header_str(headers, ANTHROPIC_KEY_HEADER).filter(|k| !k.is_empty()).ok_or_else(|| {
        GatewayError::Unauthenticated("JWT mode needs your Anthropic API key in the X-Anthropic-Key header".to_string())
    })?;
    let tenant = config
        .projects
        .get(&client.project)
        .map(|p| p.tenant.clone())
        .ok_or_else(|| GatewayError::Internal(format!("client refers to unknown project {}", client.project)))?;
    let mut strip = strip_key_headers;
    strip.extend([
        header::AUTHORIZATION,
        HeaderName::from_static(API_KEY_HEADER),
        HeaderName::from_static(ANTHROPIC_KEY_HEADER),
    ]);
    let identity = Identity {
        tenant,
        project: client.project.clone(),
        client_id: Some(client.client_id.clone()),
        mode: AuthMode::Jwt,
    };
    Ok((identity, UpstreamAuth { strip, api_key: Some(Secret::new(api_key.to_string())) }))
}
