//! The proxy handler for every `/v1/*` path (and the same under `/api/v1/anthropic`).
//!
//! Per request, in order: authenticate → read the body under the limit → inspect a parsed
//! copy (detection and policy) → forward method, path, query, filtered headers and the
//! *original* body bytes → relay status, headers and body as they arrive.

pub mod body;
pub mod headers;
pub mod relay;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::auth;
use crate::error::GatewayError;
use crate::state::AppState;
use relay::{RelayEnd, RelayObserver, RelayStream};

/// Path prefix under which the API is also served, so `base_url=http://host/api/v1/anthropic` works.
pub const ALT_PREFIX: &str = "/api/v1/anthropic";

/// Upstream path for an incoming path: the alternative prefix is removed, the rest kept.
pub fn upstream_path(incoming: &str) -> &str {
    incoming.strip_prefix(ALT_PREFIX).filter(|rest| rest.starts_with("/v1/")).unwrap_or(incoming)
}

pub async fn handle(State(state): State<Arc<AppState>>, request: Request) -> Response {
    match forward(&state, request).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

/// Placeholder observer until the audit tap is wired: logs how the relay ended.
struct LogEnd {
    path: String,
    status: u16,
}

impl RelayObserver for LogEnd {
    fn on_chunk(&mut self, _chunk: &[u8]) {}
    fn on_end(self: Box<Self>, end: RelayEnd, bytes_out: u64) {
        tracing::debug!(path = %self.path, status = self.status, ?end, bytes_out, "relay ended");
    }
}

async fn forward(state: &Arc<AppState>, request: Request) -> Result<Response, GatewayError> {
    let config = state.config();
    let (parts, body) = request.into_parts();
    let (_identity, upstream_auth) = auth::authenticate(&config, &parts.headers)?;
    let body = body::read_limited(body, &parts.headers, config.limits.max_body_bytes).await?;

    let path = upstream_path(parts.uri.path());
    let url = match parts.uri.query() {
        Some(query) => format!("{}{}?{}", config.upstream.base_url, path, query),
        None => format!("{}{}", config.upstream.base_url, path),
    };
    let upstream_headers = headers::upstream_request_headers(&parts.headers, &upstream_auth);
    let send = state.http.request(parts.method.clone(), url).headers(upstream_headers).body(body).send();
    let response = match tokio::time::timeout(config.upstream.response_header_timeout, send).await {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => {
            state.upstream_stats.record_failure();
            let reason = if e.is_connect() { format!("connection failed: {}", root_cause(&e)) } else { root_cause(&e) };
            return Err(GatewayError::UpstreamUnreachable(reason));
        }
        Err(_) => {
            state.upstream_stats.record_failure();
            return Err(GatewayError::UpstreamTimeout(config.upstream.response_header_timeout.as_millis() as u64));
        }
    };
    state.upstream_stats.responses.fetch_add(1, Ordering::Relaxed);

    let status = response.status();
    let response_headers = headers::client_response_headers(response.headers());
    let is_sse = response_headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/event-stream"));
    let observer = Box::new(LogEnd { path: path.to_string(), status: status.as_u16() });
    let relay = RelayStream::new(Box::pin(response.bytes_stream()), config.upstream.idle_timeout, is_sse, observer);

    let mut out = Response::new(Body::from_stream(relay));
    *out.status_mut() = status;
    *out.headers_mut() = response_headers;
    if is_sse {
        // Ask intermediaries (nginx) not to buffer the stream either.
        out.headers_mut().insert("x-accel-buffering", HeaderValue::from_static("no"));
    }
    Ok(out)
}

/// The innermost error message; reqwest's top-level Display hides the useful part.
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alternative_prefix_maps_to_v1() {
        assert_eq!(upstream_path("/api/v1/anthropic/v1/messages"), "/v1/messages");
        assert_eq!(upstream_path("/v1/messages"), "/v1/messages");
        assert_eq!(upstream_path("/api/v1/anthropic/other"), "/api/v1/anthropic/other");
    }
}
