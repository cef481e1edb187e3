//! `POST /v1/chat/completions`: the Claude API's OpenAI SDK compatibility layer, answered
//! with a `chat.completion` object (no streaming) whose reply is derived from the last
//! user message, like the mock's Messages replies. It exists so the gateway's inspection
//! of this endpoint can be tested against the real request and response shapes.

use axum::Json;
use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::auth::check_api_key;
use crate::errors::ApiError;

pub(crate) async fn create_chat_completion(headers: HeaderMap, body: Bytes) -> Response {
    match check_api_key(&headers).and_then(|()| completion(&body)) {
        Ok(reply) => Json(reply).into_response(),
        Err(error) => error.into_response(),
    }
}

fn completion(body: &[u8]) -> Result<Value, ApiError> {
    let invalid = |message: String| ApiError::InvalidRequest(message);
    let parsed: Value = serde_json::from_slice(body).map_err(|e| invalid(format!("invalid JSON: {e}")))?;
    if parsed.get("stream").and_then(Value::as_bool) == Some(true) {
        return Err(invalid("the mock answers chat completions without streaming".to_owned()));
    }
    let model = parsed.get("model").and_then(Value::as_str).ok_or_else(|| invalid("model: Field required".into()))?;
    let messages =
        parsed.get("messages").and_then(Value::as_array).ok_or_else(|| invalid("messages: Field required".into()))?;
    let content = messages.iter().rev().find(|m| m.get("role").and_then(Value::as_str) == Some("user"));
    // A string, or the text parts of a list of parts.
    let prompt = match content.and_then(|m| m.get("content")) {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => {
            parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("\n")
        }
        _ => String::new(),
    };
    Ok(json!({
        "id": "chatcmpl-mock",
        "object": "chat.completion",
        "created": 1_767_225_600,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": format!("Mock reply to: {prompt}")},
            "finish_reason": "stop",
        }],
        "usage": {"prompt_tokens": prompt.len() / 4 + 1, "completion_tokens": 5, "total_tokens": prompt.len() / 4 + 6},
    }))
}
