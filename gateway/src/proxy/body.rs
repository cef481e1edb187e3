//! Reading the request body under the configured size limit.
//!
//! The body is collected whole because it must be inspected before anything is sent
//! upstream; the collected bytes are then forwarded unchanged.

use axum::body::{Body, Bytes};
use axum::http::HeaderMap;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::error::GatewayError;

pub async fn read_limited(body: Body, headers: &HeaderMap, limit: u64) -> Result<Bytes, GatewayError> {
    // Reject on the declared length before reading a byte of an oversized body.
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(declared) = declared
        && declared > limit
    {
        return Err(GatewayError::BodyTooLarge { actual: declared, limit });
    }
    let limit_usize = usize::try_from(limit).unwrap_or(usize::MAX);
    match Limited::new(body, limit_usize).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            Err(GatewayError::BodyTooLarge { actual: limit + 1, limit })
        }
        Err(e) => Err(GatewayError::BadRequest(format!("could not read the request body: {e}"))),
    }
}
