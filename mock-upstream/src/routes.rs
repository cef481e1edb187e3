//! The axum router of the mock API.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::batches::create_batch;
use crate::chat::create_chat_completion;
use crate::errors::ApiError;
use crate::files::upload_file;
use crate::messages::{count_tokens, create_message};
use crate::models::{get_model, list_models};
use crate::recorder::record_request;
use crate::sessions::send_session_events;
use crate::state::MockState;

/// The mock's routes; every request, whatever its path, is recorded in `state`
/// before it is answered. Embed it with any server (benches do).
pub fn router(state: MockState) -> Router {
    Router::new()
        .route("/v1/messages", post(create_message))
        .route("/v1/messages/count_tokens", post(count_tokens))
        .route("/v1/messages/batches", post(create_batch))
        .route("/v1/chat/completions", post(create_chat_completion))
        .route("/v1/files", post(upload_file))
        .route("/v1/sessions/{session_id}/events", post(send_session_events))
        .route("/v1/models", get(list_models))
        .route("/v1/models/{id}", get(get_model))
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        // The recorder already read the body under its own, larger limit.
        .layer(DefaultBodyLimit::disable())
        .layer(from_fn_with_state(state.clone(), record_request))
        .with_state(state)
}

async fn not_found() -> Response {
    ApiError::NotFound("Not found".to_owned()).into_response()
}
