//! JWT issuance and strict validation for agent clients.
//!
//! Tokens are HMAC-signed by the gateway itself (`POST /api/v1/auth/token`). Validation
//! accepts only the configured algorithms, requires `exp`, `iss`, `aud` and `sub`, honours
//! `nbf`, and re-checks that the client still exists in the config so removing a client
//! revokes its tokens at the next reload.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::JwtConfig;

/// Scope needed to call the proxied Anthropic API.
pub const SCOPE_INVOKE: &str = "llm:invoke";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The client id.
    pub sub: String,
    pub iat: u64,
    pub nbf: u64,
    pub exp: u64,
    pub jti: String,
    /// Space-separated, OAuth 2.0 style.
    pub scope: String,
    pub project: String,
    pub tenant: String,
}

impl Claims {
    pub fn has_scope(&self, wanted: &str) -> bool {
        self.scope.split_ascii_whitespace().any(|s| s == wanted)
    }
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

pub struct IssuedToken {
    pub token: String,
    pub expires_in: u64,
}

pub fn issue(
    cfg: &JwtConfig,
    client_id: &str,
    project: &str,
    tenant: &str,
    scopes: &[String],
) -> Result<IssuedToken, jsonwebtoken::errors::Error> {
    let now = now_secs();
    let expires_in = cfg.token_ttl.as_secs();
    let claims = Claims {
        iss: cfg.issuer.clone(),
        aud: cfg.audience.clone(),
        sub: client_id.to_string(),
        iat: now,
        nbf: now,
        exp: now + expires_in,
        jti: uuid::Uuid::now_v7().to_string(),
        scope: scopes.join(" "),
        project: project.to_string(),
        tenant: tenant.to_string(),
    };
    // The first allowed algorithm signs; config validation guarantees there is one.
    let alg = cfg.algorithms.first().copied().unwrap_or(jsonwebtoken::Algorithm::HS256);
    let token = jsonwebtoken::encode(
        &Header::new(alg),
        &claims,
        &EncodingKey::from_secret(cfg.signing_secret.expose().as_bytes()),
    )?;
    Ok(IssuedToken { token, expires_in })
}

pub fn validate(cfg: &JwtConfig, token: &str) -> Result<Claims, String> {
    let alg = cfg.algorithms.first().copied().unwrap_or(jsonwebtoken::Algorithm::HS256);
    let mut validation = Validation::new(alg);
    validation.algorithms = cfg.algorithms.clone();
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub", "nbf"]);
    validation.set_issuer(&[&cfg.issuer]);
    validation.set_audience(&[&cfg.audience]);
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.leeway = cfg.leeway_secs;
    let key = DecodingKey::from_secret(cfg.signing_secret.expose().as_bytes());
    jsonwebtoken::decode::<Claims>(token, &key, &validation)
        .map(|data| data.claims)
        .map_err(|e| format!("invalid token: {e}"))
}

/// Cheap shape test used to route a request to JWT mode: three base64url parts, the
/// first being a JSON header (`eyJ` is the base64 of `{"`). Anthropic keys never look
/// like this.
pub fn looks_like_jwt(value: &str) -> bool {
    value.starts_with("eyJ")
        && value.split('.').count() == 3
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'='))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use std::time::Duration;

    fn cfg() -> JwtConfig {
        JwtConfig {
            issuer: "portcullis".into(),
            audience: "portcullis-gateway".into(),
            signing_secret: Secret::new("0123456789abcdef0123456789abcdef".into()),
            algorithms: vec![jsonwebtoken::Algorithm::HS256],
            token_ttl: Duration::from_secs(60),
            leeway_secs: 0,
        }
    }

    #[test]
    fn issued_tokens_validate_and_carry_scopes() {
        let cfg = cfg();
        let issued = issue(&cfg, "agent", "demo", "acme", &["llm:invoke".into()]).unwrap();
        assert!(looks_like_jwt(&issued.token));
        let claims = validate(&cfg, &issued.token).unwrap();
        assert_eq!(claims.sub, "agent");
        assert!(claims.has_scope(SCOPE_INVOKE));
        assert!(!claims.has_scope("admin"));
    }

    #[test]
    fn rejects_wrong_audience_issuer_secret_and_algorithm() {
        let cfg = cfg();
        let token = issue(&cfg, "agent", "demo", "acme", &[]).unwrap().token;
        let mut other = cfg.clone();
        other.audience = "someone-else".into();
        assert!(validate(&other, &token).is_err());
        let mut other = cfg.clone();
        other.issuer = "evil".into();
        assert!(validate(&other, &token).is_err());
        let mut other = cfg.clone();
        other.signing_secret = Secret::new("ffffffffffffffffffffffffffffffff".into());
        assert!(validate(&other, &token).is_err());
        let mut other = cfg.clone();
        other.algorithms = vec![jsonwebtoken::Algorithm::HS512];
        assert!(validate(&other, &token).is_err());
    }

    #[test]
    fn rejects_expired_not_yet_valid_and_missing_exp() {
        let cfg = cfg();
        let key = EncodingKey::from_secret(cfg.signing_secret.expose().as_bytes());
        let now = now_secs();
        let base = serde_json::json!({"iss":"portcullis","aud":"portcullis-gateway","sub":"a","iat":now,
            "nbf":now,"exp":now+60,"jti":"x","scope":"llm:invoke","project":"demo","tenant":"acme"});
        let sign = |claims: &serde_json::Value| jsonwebtoken::encode(&Header::default(), claims, &key).unwrap();
        assert!(validate(&cfg, &sign(&base)).is_ok());
        let mut expired = base.clone();
        expired["exp"] = (now - 10).into();
        assert!(validate(&cfg, &sign(&expired)).is_err());
        let mut future = base.clone();
        future["nbf"] = (now + 600).into();
        assert!(validate(&cfg, &sign(&future)).is_err());
        let mut no_exp = base.clone();
        no_exp.as_object_mut().unwrap().remove("exp");
        assert!(validate(&cfg, &sign(&no_exp)).is_err());
        let unsigned = format!("{}.{}.", "eyJhbGciOiJub25lIn0", "eyJzdWIiOiJhIn0");
        assert!(validate(&cfg, &unsigned).is_err());
    }
}
