//! `POST /v1/messages/batches`: creates a Message Batch the way the real API answers it
//! (a `message_batch` object, `in_progress`, every request counted as processing). The
//! mock runs nothing later; it exists so clients and the gateway's batch inspection can be
//! tested against the real request and response shapes.

use axum::Json;
use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::auth::check_api_key;
use crate::errors::ApiError;

/// The real API's bound on requests per batch.
const MAX_REQUESTS: usize = 100_000;

pub(crate) async fn create_batch(headers: HeaderMap, body: Bytes) -> Response {
    match check_api_key(&headers).and_then(|()| batch_object(&body)) {
        Ok(batch) => Json(batch).into_response(),
        Err(error) => error.into_response(),
    }
}

fn batch_object(body: &[u8]) -> Result<Value, ApiError> {
    let invalid = |message: &str| ApiError::InvalidRequest(message.to_owned());
    let parsed: Value = serde_json::from_slice(body).map_err(|e| invalid(&format!("invalid JSON: {e}")))?;
    let requests =
        parsed.get("requests").and_then(Value::as_array).ok_or_else(|| invalid("requests: Field required"))?;
    if requests.is_empty() || requests.len() > MAX_REQUESTS {
        return Err(invalid("requests: must hold between 1 and 100000 requests"));
    }
    let mut ids = std::collections::HashSet::new();
    for (i, request) in requests.iter().enumerate() {
        let custom_id = request.get("custom_id").and_then(Value::as_str);
        let Some(custom_id) = custom_id.filter(|id| !id.is_empty() && id.len() <= 64) else {
            return Err(invalid(&format!("requests.{i}.custom_id: a string of 1 to 64 characters is required")));
        };
        if !ids.insert(custom_id) {
            return Err(invalid(&format!("requests.{i}.custom_id: duplicate custom_id {custom_id:?}")));
        }
        if !request.get("params").is_some_and(Value::is_object) {
            return Err(invalid(&format!("requests.{i}.params: Field required")));
        }
    }
    // A deterministic id (`DefaultHasher::new` has fixed keys), so tests can predict it.
    let mut hasher = std::hash::DefaultHasher::new();
    std::hash::Hasher::write(&mut hasher, body);
    let id = format!("{:016x}", std::hash::Hasher::finish(&hasher));
    Ok(json!({
        "id": format!("msgbatch_{id}"),
        "type": "message_batch",
        "processing_status": "in_progress",
        "request_counts": {"processing": requests.len(), "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0},
        "ended_at": null,
        "created_at": "2026-01-01T00:00:00Z",
        "expires_at": "2026-01-02T00:00:00Z",
        "archived_at": null,
        "cancel_initiated_at": null,
        "results_url": null
    }))
}
