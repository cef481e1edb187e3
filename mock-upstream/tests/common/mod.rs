//! Helpers shared by the mock-upstream integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mock_upstream::MockUpstream;
use serde_json::{Value, json};

pub const KEY: &str = "sk-ant-test-key";

pub fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// A minimal valid Messages body with `prompt` as the only user message.
pub fn body(prompt: &str, stream: bool) -> Value {
    json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 64,
        "stream": stream,
        "messages": [{"role": "user", "content": prompt}],
    })
}

pub async fn post_messages(mock: &MockUpstream, body: &Value) -> reqwest::Response {
    client()
        .post(format!("{}/v1/messages", mock.url()))
        .header("x-api-key", KEY)
        .header("anthropic-version", "2023-06-01")
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Parses an SSE body into `(event name, data JSON)` pairs.
pub fn parse_sse(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter(|frame| !frame.trim().is_empty())
        .map(|frame| {
            let mut name = None;
            let mut data = None;
            for line in frame.lines() {
                if let Some(rest) = line.strip_prefix("event: ") {
                    name = Some(rest.to_owned());
                } else if let Some(rest) = line.strip_prefix("data: ") {
                    data = Some(serde_json::from_str(rest).unwrap());
                } else {
                    panic!("unexpected SSE line {line:?}");
                }
            }
            (name.unwrap(), data.unwrap())
        })
        .collect()
}

pub fn event_names(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(name, _)| name.as_str()).collect()
}
