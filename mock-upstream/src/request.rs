//! Validation of Messages API request bodies and extraction of what the mock's
//! reply depends on (prompt text, thinking, tools, token accounting).

use serde_json::{Map, Value};

use crate::errors::ApiError;
use crate::triggers::Triggers;

/// Cache token counts reported when the body uses `cache_control` anywhere.
const CACHE_CREATION_TOKENS: u64 = 100;
const CACHE_READ_TOKENS: u64 = 50;

/// Deterministic token accounting for a request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InputUsage {
    /// Body bytes / 4, rounded up.
    pub(crate) input_tokens: u64,
    pub(crate) cache_creation_input_tokens: u64,
    pub(crate) cache_read_input_tokens: u64,
}

/// A validated `POST /v1/messages` body.
#[derive(Debug, Clone)]
pub(crate) struct MessagesRequest {
    pub(crate) model: String,
    pub(crate) stream: bool,
    /// `thinking.type` is `enabled` or `adaptive`.
    pub(crate) thinking: bool,
    /// Text of the last text block of the last user message.
    pub(crate) last_text: String,
    pub(crate) triggers: Triggers,
    /// Name of the first declared tool, used for `[[mock:tool_use]]` replies.
    pub(crate) first_tool_name: Option<String>,
    pub(crate) usage: InputUsage,
}

/// Parses and validates a Messages body the way the real API does (in spirit).
pub(crate) fn parse_messages_request(body: &[u8]) -> Result<MessagesRequest, ApiError> {
    let object = parse_object(body)?;
    let model = require_model(&object)?;
    match object.get("max_tokens") {
        None => return Err(invalid("max_tokens: Field required")),
        Some(value) if value.as_u64().is_some_and(|n| n >= 1) => {}
        Some(_) => return Err(invalid("max_tokens: must be an integer greater than or equal to 1")),
    }
    let messages = require_messages(&object)?;
    let stream = match object.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(stream)) => *stream,
        Some(_) => return Err(invalid("stream: Input should be a valid boolean")),
    };
    let thinking = object
        .get("thinking")
        .and_then(|thinking| thinking.get("type"))
        .and_then(Value::as_str)
        .is_some_and(|kind| kind == "enabled" || kind == "adaptive");
    let first_tool_name = object
        .get("tools")
        .and_then(Value::as_array)
        .and_then(|tools| tools.iter().find_map(|tool| tool.get("name")?.as_str()))
        .map(str::to_owned);
    let texts = last_user_texts(messages);
    Ok(MessagesRequest {
        model,
        stream,
        thinking,
        last_text: texts.last().map(|text| (*text).to_owned()).unwrap_or_default(),
        triggers: Triggers::scan(&texts.join("\n")),
        first_tool_name,
        usage: input_usage(body.len(), &Value::Object(object)),
    })
}

/// Validates a `POST /v1/messages/count_tokens` body and counts its tokens.
pub(crate) fn parse_count_tokens_request(body: &[u8]) -> Result<InputUsage, ApiError> {
    let object = parse_object(body)?;
    require_model(&object)?;
    require_messages(&object)?;
    Ok(input_usage(body.len(), &Value::Object(object)))
}

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(invalid("Input should be a valid dictionary")),
        Err(error) => Err(invalid(&format!("There was an issue with your request body: {error}"))),
    }
}

fn require_model(object: &Map<String, Value>) -> Result<String, ApiError> {
    match object.get("model") {
        None => Err(invalid("model: Field required")),
        Some(Value::String(model)) if !model.is_empty() => Ok(model.clone()),
        Some(_) => Err(invalid("model: Input should be a valid string")),
    }
}

fn require_messages(object: &Map<String, Value>) -> Result<&[Value], ApiError> {
    match object.get("messages") {
        None => Err(invalid("messages: Field required")),
        Some(Value::Array(messages)) if messages.is_empty() => {
            Err(invalid("messages: at least one message is required"))
        }
        Some(Value::Array(messages)) => Ok(messages),
        Some(_) => Err(invalid("messages: Input should be a valid list")),
    }
}

/// Text of every text block of the last `user` message, in order.
fn last_user_texts(messages: &[Value]) -> Vec<&str> {
    let Some(content) = messages
        .iter()
        .rev()
        .find(|message| message.get("role").and_then(Value::as_str) == Some("user"))
        .and_then(|message| message.get("content"))
    else {
        return Vec::new();
    };
    match content {
        Value::String(text) => vec![text.as_str()],
        Value::Array(blocks) => blocks
            .iter()
            .filter(|block| block.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|block| block.get("text")?.as_str())
            .collect(),
        _ => Vec::new(),
    }
}

fn input_usage(body_len: usize, body: &Value) -> InputUsage {
    let cached = contains_key(body, "cache_control");
    InputUsage {
        input_tokens: u64::try_from(body_len.div_ceil(4)).unwrap_or(u64::MAX),
        cache_creation_input_tokens: if cached { CACHE_CREATION_TOKENS } else { 0 },
        cache_read_input_tokens: if cached { CACHE_READ_TOKENS } else { 0 },
    }
}

fn contains_key(value: &Value, key: &str) -> bool {
    match value {
        Value::Object(object) => object.iter().any(|(name, value)| name == key || contains_key(value, key)),
        Value::Array(items) => items.iter().any(|item| contains_key(item, key)),
        _ => false,
    }
}

fn invalid(message: &str) -> ApiError {
    ApiError::InvalidRequest(message.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_last_user_text_blocks() {
        let body = br#"{"model":"m","max_tokens":5,"messages":[
            {"role":"user","content":"first"},
            {"role":"assistant","content":"ok"},
            {"role":"user","content":[{"type":"text","text":"a [[mock:hang]]"},{"type":"image"},{"type":"text","text":"b","cache_control":{"type":"ephemeral"}}]}]}"#;
        let request = parse_messages_request(body).unwrap();
        assert_eq!(request.last_text, "b");
        assert!(request.triggers.hang);
        assert_eq!(request.usage.cache_creation_input_tokens, 100);
        assert_eq!(request.usage.input_tokens, body.len().div_ceil(4) as u64);
    }

    #[test]
    fn rejects_bad_bodies() {
        for body in [
            &b"[]"[..],
            b"not json",
            br#"{"max_tokens":1,"messages":[{}]}"#,
            br#"{"model":"m","messages":[{}]}"#,
            br#"{"model":"m","max_tokens":0,"messages":[{}]}"#,
            br#"{"model":"m","max_tokens":1.5,"messages":[{}]}"#,
            br#"{"model":"m","max_tokens":1,"messages":[]}"#,
            br#"{"model":"m","max_tokens":1,"messages":{}}"#,
            br#"{"model":"m","max_tokens":1,"messages":[{}],"stream":"yes"}"#,
        ] {
            assert!(matches!(parse_messages_request(body), Err(ApiError::InvalidRequest(_))));
        }
    }
}
