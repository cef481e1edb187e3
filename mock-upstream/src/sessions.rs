//! `POST /v1/sessions/{session_id}/events`: events sent to a Managed Agents session,
//! answered the way the API does (`{"data":[…]}`, the events with ids). The mock runs
//! no agent; it exists so the gateway's inspection of these events can be tested against
//! the real request and response shapes.

use axum::Json;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::auth::check_api_key;
use crate::errors::ApiError;

pub(crate) async fn send_session_events(Path(session): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    match check_api_key(&headers).and_then(|()| sent_events(&session, &body)) {
        Ok(sent) => Json(sent).into_response(),
        Err(error) => error.into_response(),
    }
}

fn sent_events(session: &str, body: &[u8]) -> Result<Value, ApiError> {
    let invalid = |message: String| ApiError::InvalidRequest(message);
    let parsed: Value = serde_json::from_slice(body).map_err(|e| invalid(format!("invalid JSON: {e}")))?;
    let events =
        parsed.get("events").and_then(Value::as_array).ok_or_else(|| invalid("events: Field required".into()))?;
    let data: Vec<Value> = events
        .iter()
        .enumerate()
        .map(|(i, event)| {
            let mut sent = event.clone();
            if let Some(object) = sent.as_object_mut() {
                object.insert("id".into(), json!(format!("sevt_{session}_{i}")));
                object.insert("processed_at".into(), Value::Null);
            }
            sent
        })
        .collect();
    Ok(json!({ "data": data }))
}
