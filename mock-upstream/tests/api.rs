//! Non-streaming replies, count_tokens and the models endpoints.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{KEY, body, client, post_messages};
use mock_upstream::{MockConfig, MockUpstream};
use serde_json::{Value, json};

#[tokio::test]
async fn non_streaming_reply_has_message_shape() {
    let mock = MockUpstream::start(MockConfig::default()).await.unwrap();
    let request = body("Hello   there,\nmock!", false);
    let request_len = serde_json::to_vec(&request).unwrap().len();
    let response = post_messages(&mock, &request).await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"].to_str().unwrap(), "application/json");
    let request_id = response.headers()["request-id"].to_str().unwrap().to_owned();
    assert!(request_id.starts_with("req_mock_"), "{request_id}");
    let message: Value = response.json().await.unwrap();

    assert!(message["id"].as_str().unwrap().starts_with("msg_mock_"));
    assert_eq!(message["type"], "message");
    assert_eq!(message["role"], "assistant");
    assert_eq!(message["model"], "claude-sonnet-4-5");
    assert_eq!(message["stop_reason"], "end_turn");
    assert_eq!(message["stop_sequence"], Value::Null);
    assert_eq!(message["content"], json!([{"type": "text", "text": "Mock reply to: Hello there, mock!"}]));
    assert_eq!(
        message["usage"],
        json!({
            "input_tokens": request_len.div_ceil(4),
            "output_tokens": 6,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        })
    );
}

#[tokio::test]
async fn reply_is_deterministic_and_word_count_configurable() {
    let mock = MockUpstream::start(MockConfig::default()).await.unwrap();
    let first: Value = post_messages(&mock, &body("same prompt", false)).await.json().await.unwrap();
    let second: Value = post_messages(&mock, &body("same prompt", false)).await.json().await.unwrap();
    assert_eq!(first["content"], second["content"]);

    let long: Value = post_messages(&mock, &body("go [[mock:words=250]]", false)).await.json().await.unwrap();
    let text = long["content"][0]["text"].as_str().unwrap();
    assert_eq!(text.split_whitespace().count(), 250);
    assert_eq!(long["usage"]["output_tokens"], 250);

    let configured = MockUpstream::start(MockConfig { reply_words: Some(7), ..MockConfig::default() }).await.unwrap();
    let short: Value = post_messages(&configured, &body("hi", false)).await.json().await.unwrap();
    assert_eq!(short["usage"]["output_tokens"], 7);
}

#[tokio::test]
async fn cache_control_reports_cache_tokens() {
    let mock = MockUpstream::start(MockConfig::default()).await.unwrap();
    let request = json!({
        "model": "claude-haiku-4-5",
        "max_tokens": 10,
        "system": [{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": "hi"}],
    });
    let message: Value = post_messages(&mock, &request).await.json().await.unwrap();
    assert_eq!(message["usage"]["cache_creation_input_tokens"], 100);
    assert_eq!(message["usage"]["cache_read_input_tokens"], 50);
}

#[tokio::test]
async fn thinking_and_tool_use_blocks() {
    let mock = MockUpstream::start(MockConfig::default()).await.unwrap();
    let request = json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 2048,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "weather? [[mock:tool_use]]"}]}],
    });
    let message: Value = post_messages(&mock, &request).await.json().await.unwrap();
    let content = message["content"].as_array().unwrap();
    assert_eq!(content.len(), 2);
    assert_eq!(content[0]["type"], "thinking");
    assert!(!content[0]["signature"].as_str().unwrap().is_empty());
    assert_eq!(content[1]["type"], "tool_use");
    assert_eq!(content[1]["name"], "get_weather");
    assert!(content[1]["id"].as_str().unwrap().starts_with("toolu_mock_"));
    assert!(content[1]["input"].is_object());
    assert_eq!(message["stop_reason"], "tool_use");
}

#[tokio::test]
async fn count_tokens_uses_body_length() {
    let mock = MockUpstream::start(MockConfig::default()).await.unwrap();
    let request = json!({"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "count me"}]});
    let bytes = serde_json::to_vec(&request).unwrap();
    let response = client()
        .post(format!("{}/v1/messages/count_tokens", mock.url()))
        .header("authorization", format!("Bearer {KEY}"))
        .header("content-type", "application/json")
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let counted: Value = response.json().await.unwrap();
    assert_eq!(counted, json!({"input_tokens": bytes.len().div_ceil(4)}));
}

#[tokio::test]
async fn models_list_paging_and_lookup() {
    let mock = MockUpstream::start(MockConfig::default()).await.unwrap();
    let get = |path: String| {
        let url = format!("{}{path}", mock.url());
        async move {
            let response = client().get(url).header("x-api-key", KEY).send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        }
    };

    let (status, all) = get("/v1/models".to_owned()).await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = all["data"].as_array().unwrap().iter().map(|model| model["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"claude-sonnet-4-5"));
    assert_eq!(all["has_more"], false);
    assert_eq!(all["first_id"], ids[0]);
    assert_eq!(all["last_id"], *ids.last().unwrap());
    assert_eq!(all["data"][0]["type"], "model");
    assert!(all["data"][0]["created_at"].as_str().unwrap().ends_with('Z'));

    let (_, first_page) = get("/v1/models?limit=2".to_owned()).await;
    assert_eq!(first_page["data"].as_array().unwrap().len(), 2);
    assert_eq!(first_page["has_more"], true);
    let (_, next_page) = get(format!("/v1/models?limit=2&after_id={}", ids[1])).await;
    assert_eq!(next_page["first_id"], ids[2]);
    let (_, previous) = get(format!("/v1/models?limit=1&before_id={}", ids[2])).await;
    assert_eq!(previous["first_id"], ids[1]);
    assert_eq!(previous["has_more"], true);

    let (status, one) = get("/v1/models/claude-sonnet-4-5".to_owned()).await;
    assert_eq!(status, 200);
    assert_eq!(one["id"], "claude-sonnet-4-5");
    assert_eq!(one["display_name"], "Claude Sonnet 4.5");

    let (status, missing) = get("/v1/models/claude-nope".to_owned()).await;
    assert_eq!(status, 404);
    assert_eq!(missing["error"]["type"], "not_found_error");

    let (status, bad) = get("/v1/models?limit=0".to_owned()).await;
    assert_eq!(status, 400);
    assert_eq!(bad["error"]["type"], "invalid_request_error");
}
