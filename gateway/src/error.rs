//! The gateway's one error type.
//!
//! Every failure the gateway itself produces (as opposed to upstream errors, which are
//! relayed unchanged) becomes a [`GatewayError`]. Its single [`GatewayError::status_code`]
//! match decides the HTTP status, and [`IntoResponse`] renders the Anthropic error shape
//! `{"type":"error","error":{"type":...,"message":...}}` so SDKs and Claude Code show a
//! readable message instead of failing to parse.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// Prefix of every message the gateway writes, so users can tell a gateway rejection
/// from an upstream one (both use the same JSON shape).
pub const MESSAGE_PREFIX: &str = "Portcullis gateway";

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// No or an unknown gateway credential. Never forwarded.
    #[error("{MESSAGE_PREFIX}: authentication failed: {0}")]
    Unauthenticated(String),
    /// Valid identity but not allowed (missing scope).
    #[error("{MESSAGE_PREFIX}: permission denied: {0}")]
    Forbidden(String),
    /// Blocked by the project's security policy (reasons are detector ids / rule names).
    #[error("Request blocked by Portcullis security policy: {0}")]
    PolicyBlocked(String),
    #[error("{MESSAGE_PREFIX}: {0}")]
    BadRequest(String),
    #[error("{MESSAGE_PREFIX}: request body is {actual} bytes or more, over the limit of {limit} bytes")]
    BodyTooLarge { actual: u64, limit: u64 },
    #[error("{MESSAGE_PREFIX}: {0}")]
    HeadersTooLarge(String),
    #[error("{MESSAGE_PREFIX}: no route for {method} {path}")]
    NotFound { method: String, path: String },
    #[error("{MESSAGE_PREFIX}: could not reach the upstream API: {0}")]
    UpstreamUnreachable(String),
    #[error("{MESSAGE_PREFIX}: the upstream API did not answer within {0} ms")]
    UpstreamTimeout(u64),
    /// Block-mode ML classification gave no verdict (the reason: `timeout`,
    /// `no_responders`, `overloaded`, ...) and the project fails closed. A 503
    /// `overloaded_error` rather than a 403 `permission_error`: the prompt was not
    /// judged malicious, the check could not run; SDKs and Claude Code retry a 503
    /// with backoff (a retry succeeds once workers answer) but never a 403, and a 403
    /// would tell the user their prompt was refused as an attack.
    #[error(
        "{MESSAGE_PREFIX}: the ML injection detector is unavailable ({0}) and this project fails closed; try again later"
    )]
    MlUnavailable(&'static str),
    /// The gateway cannot accept the request right now (e.g. audit spool full in reject mode).
    #[error("{MESSAGE_PREFIX}: {0}")]
    Unavailable(String),
    #[error("{MESSAGE_PREFIX}: internal error: {0}")]
    Internal(String),
}

impl GatewayError {
    pub fn status_code(&self) -> StatusCode {
        match self {
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) | Self::PolicyBlocked(_) => StatusCode::FORBIDDEN,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::UpstreamUnreachable(_) => StatusCode::BAD_GATEWAY,
            Self::UpstreamTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Self::Unavailable(_) | Self::MlUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The Anthropic `error.type` that matches the status, as the real API uses them.
    pub fn anthropic_type(&self) -> &'static str {
        match self.status_code() {
            StatusCode::UNAUTHORIZED => "authentication_error",
            StatusCode::FORBIDDEN => "permission_error",
            StatusCode::NOT_FOUND => "not_found_error",
            StatusCode::PAYLOAD_TOO_LARGE => "request_too_large",
            StatusCode::BAD_REQUEST | StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "invalid_request_error",
            StatusCode::SERVICE_UNAVAILABLE => "overloaded_error",
            _ => "api_error",
        }
    }

    /// Whether a client retrying the same request could succeed. Claude Code retries
    /// 401s for minutes unless told not to, and a policy block will not change on retry.
    fn should_retry(&self) -> bool {
        matches!(
            self,
            Self::UpstreamUnreachable(_) | Self::UpstreamTimeout(_) | Self::Unavailable(_) | Self::MlUnavailable(_)
        )
    }

    /// The Anthropic-shaped JSON body.
    pub fn body_json(&self) -> serde_json::Value {
        serde_json::json!({
            "type": "error",
            "error": { "type": self.anthropic_type(), "message": self.to_string() }
        })
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let mut response = (status, axum::Json(self.body_json())).into_response();
        let retry = if self.should_retry() { "true" } else { "false" };
        response.headers_mut().insert("x-should-retry", HeaderValue::from_static(retry));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_an_anthropic_shape() {
        let errors = [
            GatewayError::Unauthenticated("x".into()),
            GatewayError::Forbidden("x".into()),
            GatewayError::PolicyBlocked("pii.us_ssn".into()),
            GatewayError::BadRequest("x".into()),
            GatewayError::BodyTooLarge { actual: 2, limit: 1 },
            GatewayError::HeadersTooLarge("x".into()),
            GatewayError::NotFound { method: "GET".into(), path: "/x".into() },
            GatewayError::UpstreamUnreachable("x".into()),
            GatewayError::UpstreamTimeout(5),
            GatewayError::Unavailable("x".into()),
            GatewayError::MlUnavailable("timeout"),
            GatewayError::Internal("x".into()),
        ];
        for error in errors {
            let body = error.body_json();
            assert_eq!(body["type"], "error");
            assert!(body["error"]["type"].is_string());
            assert!(!body["error"]["message"].as_str().unwrap().is_empty());
        }
    }

    #[test]
    fn policy_block_message_is_the_documented_one() {
        let error = GatewayError::PolicyBlocked("injection.instruction_override".into());
        assert_eq!(error.to_string(), "Request blocked by Portcullis security policy: injection.instruction_override");
        assert_eq!(error.anthropic_type(), "permission_error");
    }
}
