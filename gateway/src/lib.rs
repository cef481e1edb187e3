//! Portcullis gateway: a drop-in security proxy for the Anthropic API.
//!
//! Teams point `ANTHROPIC_BASE_URL` at the gateway. Each request passes through, in order:
//!
//! 1. **Connection limits** (hyper): hard caps on header count and size; breaches of the
//!    configured limits get an Anthropic-shaped 431 from [`limits::enforce_header_limits`].
//! 2. **Routing** ([`build_router`]): `/v1/*` and `/api/v1/anthropic/v1/*` are proxied;
//!    `/health`, `/metrics` ([`metrics`]), `/api/v1/auth/token` and the admin [`dashboard`]
//!    are served locally; anything else is a 404. Every request runs in a tracing span
//!    ([`request_span`]) that carries its audit event id once it has one.
//! 3. **Identity** ([`auth::authenticate`]): gateway key header or JWT; failures are 401
//!    with `x-should-retry: false` and nothing is forwarded.
//! 4. **Body limit** ([`proxy::body`]): the body is read whole (it must be inspected) up to
//!    the configured size, else 413.
//! 5. **Inspection** ([`inspect`]): for Messages API calls, a parsed copy of the body is
//!    split into segments, scanned by the signature catalogue and judged by the project's
//!    policy (template, overrides, Rego); a block is a 403 with nothing forwarded. Every
//!    response after authentication carries `X-Risk-Blocked/Categories/Confidence`.
//!    Projects with [`ml`] on also send new segments to the ML detector workers: in block
//!    mode their `ml.injection` findings join the policy decision (no verdict in time:
//!    fail open or closed); in alert mode a background verdict becomes a follow-up event.
//! 6. **Upstream** ([`proxy`]): method, path, query, filtered headers and the original
//!    body bytes are sent; connect and response-header timeouts apply.
//! 7. **Relay** ([`proxy::relay`]): status, headers and body chunks stream back as they
//!    arrive, with an idle timeout; a client disconnect cancels the upstream request.
//! 8. **Audit** ([`record`], [`audit`]): a usage tap reads token counts from the relayed
//!    bytes, and when the response ends one redacted `SecurityEvent` is handed to the
//!    audit sink (JetStream, or a JSONL file without NATS) — never awaited on the request path.
//!
//! `main.rs` is thin: everything is in this library so tests drive the real router
//! in-process.

pub mod audit;
pub mod auth;
pub mod capture;
pub mod cli;
pub mod config;
pub mod dashboard;
pub mod error;
pub mod health;
pub mod inspect;
pub mod limits;
pub mod metrics;
pub mod ml;
pub mod nats;
pub mod policies;
pub mod proxy;
pub mod record;
pub mod request_span;
pub mod secret;
pub mod server;
pub mod state;
pub mod upload;
pub mod upstream;

use std::sync::Arc;

use axum::Router;
use axum::routing::{any, get, post};

use crate::error::GatewayError;
use crate::state::AppState;

/// The gateway's HTTP routes; see the crate docs for the order each request goes through.
pub fn build_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/health", get(health::health))
        .route("/metrics", get(metrics::handler))
        .route("/api/v1/auth/token", post(auth::token_endpoint::issue_token))
        .route("/v1/{*rest}", any(proxy::handle))
        .route("/api/v1/anthropic/v1/{*rest}", any(proxy::handle))
        .merge(dashboard::router(state.clone()))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), limits::enforce_header_limits))
        .layer(axum::middleware::from_fn(request_span::request_span))
        .with_state(state)
}

async fn not_found(method: axum::http::Method, uri: axum::http::Uri) -> GatewayError {
    GatewayError::NotFound { method: method.to_string(), path: uri.path().to_string() }
}
