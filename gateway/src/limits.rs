//! Request header limits with Anthropic-shaped errors.
//!
//! hyper enforces hard caps while parsing (set above the configured limits in
//! [`crate::server`]), so that requests between the configured limit and the hard cap
//! still reach this middleware and get a readable JSON 431 instead of a bare status.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::GatewayError;
use crate::state::AppState;

pub async fn enforce_header_limits(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let limits = state.config().limits;
    let headers = request.headers();
    if headers.len() > limits.max_headers {
        return GatewayError::HeadersTooLarge(format!(
            "{} request headers, over the limit of {}",
            headers.len(),
            limits.max_headers
        ))
        .into_response();
    }
    let total: usize = headers.iter().map(|(name, value)| name.as_str().len() + value.len()).sum();
    if total > limits.max_header_bytes {
        return GatewayError::HeadersTooLarge(format!(
            "request headers total {total} bytes, over the limit of {} bytes",
            limits.max_header_bytes
        ))
        .into_response();
    }
    next.run(request).await
}
