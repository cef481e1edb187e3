//! API-key check, shaped like the real API's: a key must come in `x-api-key` or
//! `authorization: Bearer ...`; any key containing `invalid` is rejected.

use axum::http::HeaderMap;

use crate::errors::ApiError;

/// Accepts the request's credentials or says why not.
pub(crate) fn check_api_key(headers: &HeaderMap) -> Result<(), ApiError> {
    let key = api_key(headers).ok_or_else(|| ApiError::Authentication("x-api-key header is required".to_owned()))?;
    if key.contains("invalid") {
        return Err(ApiError::Authentication("invalid x-api-key".to_owned()));
    }
    Ok(())
}

fn api_key(headers: &HeaderMap) -> Option<&str> {
    let from_x_api_key = headers.get("x-api-key").and_then(|value| value.to_str().ok()).map(str::trim);
    let from_bearer = headers.get("authorization").and_then(|value| value.to_str().ok()).and_then(|value| {
        let (scheme, token) = value.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
    });
    from_x_api_key.filter(|key| !key.is_empty()).or(from_bearer.filter(|key| !key.is_empty()))
}
