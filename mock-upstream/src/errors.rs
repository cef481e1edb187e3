//! Anthropic-shaped API errors.
//!
//! Every failure the mock reports is an [`ApiError`]; turning it into a response
//! yields the exact envelope the real API uses
//! (`{"type":"error","error":{"type":"...","message":"..."}}`) with the matching
//! status code and the retry headers real clients look at.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error response of the mocked Anthropic API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 400 `invalid_request_error`: the request body or parameters are wrong.
    #[error("{0}")]
    InvalidRequest(String),
    /// 401 `authentication_error`: no API key, or a key the mock treats as invalid.
    #[error("{0}")]
    Authentication(String),
    /// 404 `not_found_error`: unknown path or model.
    #[error("{0}")]
    NotFound(String),
    /// 413 `request_too_large`: the body exceeds the mock's size limit.
    #[error("{0}")]
    RequestTooLarge(String),
    /// 429 `rate_limit_error`, sent with `retry-after: 1`.
    #[error("{0}")]
    RateLimit(String),
    /// 500 `api_error`.
    #[error("{0}")]
    Internal(String),
    /// 529 `overloaded_error`.
    #[error("{0}")]
    Overloaded(String),
}

impl ApiError {
    /// The `error.type` string of the JSON envelope.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request_error",
            Self::Authentication(_) => "authentication_error",
            Self::NotFound(_) => "not_found_error",
            Self::RequestTooLarge(_) => "request_too_large",
            Self::RateLimit(_) => "rate_limit_error",
            Self::Internal(_) => "api_error",
            Self::Overloaded(_) => "overloaded_error",
        }
    }

    /// The HTTP status the real API uses for this error type.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::Authentication(_) => StatusCode::UNAUTHORIZED,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::RequestTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RateLimit(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            // 529 is not a registered status, but `from_u16` accepts any 100..=999.
            Self::Overloaded(_) => StatusCode::from_u16(529).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
        }
    }

    /// The JSON envelope, also used for the mid-stream `error` SSE event.
    pub fn body(&self) -> serde_json::Value {
        json!({
            "type": "error",
            "error": { "type": self.error_type(), "message": self.to_string() },
        })
    }

    /// Whether SDKs should retry; sent as `x-should-retry` because Claude Code
    /// otherwise keeps retrying a 401 for minutes.
    fn should_retry(&self) -> bool {
        matches!(self, Self::RateLimit(_) | Self::Internal(_) | Self::Overloaded(_))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), axum::Json(self.body())).into_response();
        let headers = response.headers_mut();
        let retry = if self.should_retry() { "true" } else { "false" };
        headers.insert("x-should-retry", HeaderValue::from_static(retry));
        if matches!(self, Self::RateLimit(_)) {
            headers.insert("retry-after", HeaderValue::from_static("1"));
        }
        response
    }
}
