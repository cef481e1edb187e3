//! Middleware that records every request before any handler answers it, and
//! stamps every response with a `request-id` header.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::errors::ApiError;
use crate::state::{MockState, RecordedRequest};

/// The real Messages API accepts up to 32 MB; leave headroom above that.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

pub(crate) async fn record_request(State(state): State<MockState>, request: Request, next: Next) -> Response {
    let request_id = state.next_request_id();
    let (parts, body) = request.into_parts();
    let read = axum::body::to_bytes(body, MAX_BODY_BYTES).await;
    let body = read.as_ref().map(Bytes::clone).unwrap_or_default();
    state.record(RecordedRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_owned(), value)
            })
            .collect(),
        body: body.clone(),
    });
    tracing::debug!(
        method = %parts.method,
        uri = %parts.uri,
        body_bytes = body.len(),
        request_id,
        "mock-upstream request"
    );

    let mut response = match read {
        Ok(_) => next.run(Request::from_parts(parts, Body::from(body))).await,
        Err(_) => {
            ApiError::RequestTooLarge(format!("request body could not be read or exceeds {MAX_BODY_BYTES} bytes"))
                .into_response()
        }
    };
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("request-id", value);
    }
    response
}
