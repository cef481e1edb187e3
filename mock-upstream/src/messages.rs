//! `POST /v1/messages` and `POST /v1/messages/count_tokens`.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::json;

use crate::auth::check_api_key;
use crate::errors::ApiError;
use crate::reply::Reply;
use crate::request::{parse_count_tokens_request, parse_messages_request};
use crate::sse::{EventScript, event_stream_body};
use crate::state::MockState;

/// Per-request override of [`crate::MockConfig::chunk_delay`], in milliseconds.
pub const CHUNK_DELAY_HEADER: &str = "x-mock-chunk-delay-ms";

pub(crate) async fn create_message(State(state): State<MockState>, headers: HeaderMap, body: Bytes) -> Response {
    match respond_to_message(&state, &headers, &body).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn respond_to_message(state: &MockState, headers: &HeaderMap, body: &[u8]) -> Result<Response, ApiError> {
    check_api_key(headers)?;
    let request = parse_messages_request(body)?;
    let triggers = request.triggers;
    if triggers.hang {
        // Never answer; hyper drops this future once the client goes away.
        std::future::pending::<()>().await;
    }
    if triggers.overloaded {
        return Err(ApiError::Overloaded("Overloaded".to_owned()));
    }
    if triggers.rate_limit {
        return Err(ApiError::RateLimit("This request would exceed your organization's rate limit (mock).".to_owned()));
    }
    if triggers.server_error {
        return Err(ApiError::Internal("Internal server error".to_owned()));
    }

    let reply = Reply::build(&request, state.config(), state.next_object_number());
    if !request.stream {
        // A non-streaming request cannot fail half-way; fail it up front instead.
        if triggers.midstream_error {
            return Err(ApiError::Overloaded("Overloaded".to_owned()));
        }
        return Ok(Json(reply.message_json()).into_response());
    }

    let script = EventScript::new(&reply, state.config().words_per_chunk, triggers.midstream_error);
    let delay = chunk_delay_override(headers).unwrap_or(state.config().chunk_delay);
    let body = event_stream_body(script, delay, state.clone());
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")], body)
        .into_response())
}

fn chunk_delay_override(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(CHUNK_DELAY_HEADER)?.to_str().ok()?;
    value.trim().parse().ok().map(Duration::from_millis)
}

pub(crate) async fn count_tokens(State(_state): State<MockState>, headers: HeaderMap, body: Bytes) -> Response {
    let counted = check_api_key(&headers).and_then(|()| parse_count_tokens_request(&body));
    match counted {
        Ok(usage) => Json(json!({ "input_tokens": usage.input_tokens })).into_response(),
        Err(error) => error.into_response(),
    }
}
