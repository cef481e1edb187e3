//! SSE streaming: event order and content, incremental delivery spaced by the
//! chunk delay, thinking / tool-use / mid-stream-error variants, and counting
//! of streams the client abandoned.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::{KEY, body, client, event_names, parse_sse, post_messages};
use mock_upstream::{CHUNK_DELAY_HEADER, MockConfig, MockUpstream};
use serde_json::{Value, json};

async fn stream_events(mock: &MockUpstream, request: &Value) -> Vec<(String, Value)> {
    let response = post_messages(mock, request).await;
    assert_eq!(response.status(), 200);
    parse_sse(&response.text().await.unwrap())
}

fn deltas_of(events: &[(String, Value)], index: u64, field: &str) -> String {
    events
        .iter()
        .filter(|(name, data)| name == "content_block_delta" && data["index"] == index)
        .filter_map(|(_, data)| data["delta"][field].as_str())
        .collect()
}

#[tokio::test]
async fn stream_follows_documented_event_order() {
    let mock = MockUpstream::start(MockConfig::default()).await.unwrap();
    let request = body("Stream this please", true);
    let response = post_messages(&mock, &request).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert!(response.headers().contains_key("request-id"));
    let raw = response.text().await.unwrap();
    assert!(raw.starts_with("event: message_start\ndata: {"));
    assert!(raw.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
    let events = parse_sse(&raw);

    let text = "Mock reply to: Stream this please";
    let words = text.split_whitespace().count();
    let mut expected = vec!["message_start", "content_block_start", "ping"];
    expected.extend(std::iter::repeat_n("content_block_delta", words));
    expected.extend(["content_block_stop", "message_delta", "message_stop"]);
    assert_eq!(event_names(&events), expected);
    for (name, data) in &events {
        assert_eq!(data["type"], name.as_str());
    }

    let start = &events[0].1["message"];
    assert!(start["id"].as_str().unwrap().starts_with("msg_mock_"));
    assert_eq!(start["content"], json!([]));
    assert_eq!(start["stop_reason"], Value::Null);
    assert_eq!(start["model"], "claude-sonnet-4-5");
    assert_eq!(start["usage"]["output_tokens"], 1);
    let request_len = serde_json::to_vec(&request).unwrap().len();
    assert_eq!(start["usage"]["input_tokens"], request_len.div_ceil(4));
    assert_eq!(start["usage"]["cache_read_input_tokens"], 0);

    assert_eq!(events[1].1["content_block"], json!({"type": "text", "text": ""}));
    assert_eq!(deltas_of(&events, 0, "text"), text);
    assert_eq!(events[3].1["delta"]["type"], "text_delta");
    assert_eq!(
        events[events.len() - 2].1,
        json!({"type": "message_delta",
               "delta": {"stop_reason": "end_turn", "stop_sequence": null},
               "usage": {"output_tokens": words}})
    );
    assert_eq!(mock.cancelled_streams(), 0);
}

#[tokio::test]
async fn words_per_chunk_groups_words() {
    let mock = MockUpstream::start(MockConfig { words_per_chunk: 3, ..MockConfig::default() }).await.unwrap();
    let events = stream_events(&mock, &body("[[mock:words=10]]", true)).await;
    let deltas = events.iter().filter(|(name, _)| name == "content_block_delta").count();
    assert_eq!(deltas, 4);
    assert_eq!(deltas_of(&events, 0, "text").split_whitespace().count(), 10);
}

#[tokio::test]
async fn events_arrive_incrementally_spaced_by_the_delay() {
    let mock = MockUpstream::start(MockConfig::default()).await.unwrap();
    let sent = Instant::now();
    let mut response = client()
        .post(format!("{}/v1/messages", mock.url()))
        .header("x-api-key", KEY)
        .header(CHUNK_DELAY_HEADER, "60")
        .json(&body("[[mock:words=5]]", true))
        .send()
        .await
        .unwrap();
    // 11 events, 10 delays of 60 ms between them.
    let mut arrivals = Vec::new();
    let mut raw = Vec::new();
    while let Some(chunk) = response.chunk().await.unwrap() {
        arrivals.push(sent.elapsed());
        raw.extend_from_slice(&chunk);
    }
    let events = parse_sse(std::str::from_utf8(&raw).unwrap());
    assert_eq!(events.len(), 11);
    let first = arrivals[0];
    let last = *arrivals.last().unwrap();
    assert!(arrivals.len() >= 6, "body arrived in {} reads", arrivals.len());
    assert!(last - first >= Duration::from_millis(450), "spread {:?}", last - first);
    assert!(first < Duration::from_millis(300), "first event after {first:?}");
}

#[tokio::test]
async fn configured_delay_applies_without_header() {
    let mock = MockUpstream::start(MockConfig { chunk_delay: Duration::from_millis(30), ..MockConfig::default() })
        .await
        .unwrap();
    let started = Instant::now();
    let events = stream_events(&mock, &body("[[mock:words=4]]", true)).await;
    assert_eq!(events.len(), 10);
    assert!(started.elapsed() >= Duration::from_millis(9 * 30 * 3 / 4));
}

#[tokio::test]
async fn thinking_block_streams_first() {
    let mock = MockUpstream::start(MockConfig::default()).await.unwrap();
    let mut request = body("think", true);
    request["thinking"] = json!({"type": "adaptive"});
    let events = stream_events(&mock, &request).await;
    assert_eq!(events[1].1["content_block"]["type"], "thinking");
    assert_eq!(events[2].0, "ping");
    assert!(!deltas_of(&events, 0, "thinking").is_empty());
    assert!(!deltas_of(&events, 0, "signature").is_empty());
    let text_start = events.iter().find(|(name, data)| name == "content_block_start" && data["index"] == 1).unwrap();
    assert_eq!(text_start.1["content_block"]["type"], "text");
    assert_eq!(deltas_of(&events, 1, "text"), "Mock reply to: think");
    let stops = events.iter().filter(|(name, _)| name == "content_block_stop").count();
    assert_eq!(stops, 2);
}

#[tokio::test]
async fn tool_use_streams_input_json_partials() {
    let mock = MockUpstream::start(MockConfig::default()).await.unwrap();
    let events = stream_events(&mock, &body("call a tool [[mock:tool_use]]", true)).await;
    let block = &events[1].1["content_block"];
    assert_eq!(block["type"], "tool_use");
    assert_eq!(block["name"], "mock_tool");
    assert_eq!(block["input"], json!({}));
    let partials: Vec<&str> = events
        .iter()
        .filter(|(name, _)| name == "content_block_delta")
        .map(|(_, data)| {
            assert_eq!(data["delta"]["type"], "input_json_delta");
            data["delta"]["partial_json"].as_str().unwrap()
        })
        .collect();
    assert!(partials.len() > 1);
    let input: Value = serde_json::from_str(&partials.concat()).unwrap();
    assert!(input["query"].as_str().unwrap().starts_with("call a tool"));
    let message_delta = &events[events.len() - 2].1;
    assert_eq!(message_delta["delta"]["stop_reason"], "tool_use");
}

#[tokio::test]
async fn midstream_error_ends_stream_with_error_event() {
    let mock = MockUpstream::start(MockConfig::default()).await.unwrap();
    let events = stream_events(&mock, &body("[[mock:midstream_error]] [[mock:words=50]]", true)).await;
    let names = event_names(&events);
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "error"
        ]
    );
    assert_eq!(events[6].1, json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}));
    assert_eq!(mock.cancelled_streams(), 0);

    // Without streaming the same trigger fails up front.
    let response = post_messages(&mock, &body("[[mock:midstream_error]]", false)).await;
    assert_eq!(response.status(), 529);
}

#[tokio::test]
async fn client_drop_mid_stream_is_counted() {
    let mock = MockUpstream::start(MockConfig { chunk_delay: Duration::from_millis(20), ..MockConfig::default() })
        .await
        .unwrap();
    let mut response = post_messages(&mock, &body("[[mock:words=500]]", true)).await;
    let first = response.chunk().await.unwrap().unwrap();
    assert!(first.starts_with(b"event: message_start"));
    response.chunk().await.unwrap().unwrap();
    drop(response);
    assert!(mock.wait_for_cancelled_streams(1, Duration::from_secs(5)).await);
    assert_eq!(mock.cancelled_streams(), 1);

    // A fully read stream is not counted.
    stream_events(&mock, &body("short", true)).await;
    assert_eq!(mock.cancelled_streams(), 1);
    mock.reset();
    assert_eq!(mock.cancelled_streams(), 0);
}

#[tokio::test]
async fn dropping_the_mock_cuts_open_streams() {
    let mock = MockUpstream::start(MockConfig { chunk_delay: Duration::from_millis(20), ..MockConfig::default() })
        .await
        .unwrap();
    let mut response = post_messages(&mock, &body("[[mock:words=1000]]", true)).await;
    response.chunk().await.unwrap().unwrap();
    drop(mock);
    let ended =
        tokio::time::timeout(Duration::from_secs(5), async { while let Ok(Some(_)) = response.chunk().await {} }).await;
    assert!(ended.is_ok(), "stream kept going after the mock was dropped");
}
