//! The gateway in front of the mock upstream: byte-exact bodies, header rules,
//! streaming without buffering, cancellation, relayed errors, limits and timeouts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use mock_upstream::MockConfig;

#[tokio::test]
async fn body_is_forwarded_byte_for_byte_with_query_and_path() {
    let stack = Stack::start().await;
    let body = claude_code_body().replace("\"stream\":true", "\"stream\":false");
    let response = stack.post("/v1/messages?beta=true", &body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let json: serde_json::Value = response.json().await.unwrap();
    assert_eq!(json["type"], "message");
    let recorded = stack.mock.requests();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].method, "POST");
    assert_eq!(recorded[0].path, "/v1/messages");
    assert_eq!(recorded[0].query.as_deref(), Some("beta=true"));
    assert_eq!(recorded[0].body.as_ref(), body.as_bytes(), "body must not be re-serialized");
}

#[tokio::test]
async fn alternative_prefix_is_served_too() {
    let stack = Stack::start().await;
    let response = stack.post("/api/v1/anthropic/v1/messages", &simple_body("hi", false)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(stack.mock.requests()[0].path, "/v1/messages");
    let models = stack.get("/api/v1/anthropic/v1/models?limit=2").send().await.unwrap();
    assert_eq!(models.status(), 200);
    assert_eq!(stack.mock.requests()[1].query.as_deref(), Some("limit=2"));
}

#[tokio::test]
async fn end_to_end_headers_pass_and_hop_by_hop_and_gateway_credentials_do_not() {
    let stack = Stack::start().await;
    let response = stack
        .post("/v1/messages", &simple_body("hi", false))
        .header("authorization", "Bearer sk-ant-api03-bearer-form")
        .header("anthropic-beta", "claude-code-20250219,interleaved-thinking-2025-05-14")
        .header("user-agent", "claude-cli/2.1.3 (external, sdk-cli)")
        .header("x-stainless-lang", "python")
        .header("x-claude-code-session-id", "sess-42")
        .header("x-app", "cli")
        .header("anthropic-dangerous-direct-browser-access", "true")
        .header("x-forwarded-for", "10.9.8.7")
        .header("x-forwarded-proto", "https")
        .header("connection", "x-private-hop")
        .header("x-private-hop", "secret")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let recorded = &stack.mock.requests()[0];
    assert_eq!(recorded.header("x-api-key"), Some(ANTHROPIC_KEY));
    assert_eq!(recorded.header("authorization"), Some("Bearer sk-ant-api03-bearer-form"));
    assert_eq!(recorded.header("anthropic-beta"), Some("claude-code-20250219,interleaved-thinking-2025-05-14"));
    assert_eq!(recorded.header("user-agent"), Some("claude-cli/2.1.3 (external, sdk-cli)"));
    assert_eq!(recorded.header("x-stainless-lang"), Some("python"));
    assert_eq!(recorded.header("x-claude-code-session-id"), Some("sess-42"));
    assert_eq!(recorded.header("x-app"), Some("cli"));
    assert_eq!(recorded.header("anthropic-dangerous-direct-browser-access"), Some("true"));
    assert_eq!(recorded.header("anthropic-version"), Some("2023-06-01"), "added when absent");
    for stripped in ["x-portcullis-key", "x-forwarded-for", "x-forwarded-proto", "x-private-hop"] {
        assert_eq!(recorded.header(stripped), None, "{stripped} must not reach upstream");
    }
}

#[tokio::test]
async fn a_present_anthropic_version_is_kept() {
    let stack = Stack::start().await;
    stack
        .post("/v1/messages", &simple_body("hi", false))
        .header("anthropic-version", "2026-10-21")
        .send()
        .await
        .unwrap();
    assert_eq!(stack.mock.requests()[0].header_all("anthropic-version"), vec!["2026-10-21"]);
}

#[tokio::test]
async fn streaming_is_relayed_incrementally_with_event_lines_intact() {
    let stack = Stack::start().await;
    let started = Instant::now();
    let response = stack
        .post("/v1/messages", &simple_body("[[mock:words=8]] stream this", true))
        .header("x-mock-chunk-delay-ms", "150")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    assert!(response.headers().get("content-encoding").is_none(), "no added compression");
    let mut stream = response.bytes_stream();
    let mut arrivals = Vec::new();
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        arrivals.push(started.elapsed());
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    let total = started.elapsed();
    // ~13 events 150 ms apart: a buffering proxy would deliver everything at the end.
    assert!(total >= Duration::from_millis(1200), "stream took {total:?}");
    assert!(arrivals[0] < total - Duration::from_millis(900), "first chunk at {:?} of {total:?}", arrivals[0]);
    let names: Vec<String> = sse_events(&text).into_iter().map(|(name, _)| name).collect();
    assert_eq!(names.first().map(String::as_str), Some("message_start"));
    assert_eq!(names.last().map(String::as_str), Some("message_stop"));
    for needed in ["content_block_start", "ping", "content_block_delta", "content_block_stop", "message_delta"] {
        assert!(names.iter().any(|n| n == needed), "missing {needed} in {names:?}");
    }
}

#[tokio::test]
async fn client_disconnect_cancels_the_upstream_stream_within_a_second() {
    let stack = Stack::start().await;
    let response = stack
        .post("/v1/messages", &simple_body("[[mock:words=500]] long", true))
        .header("x-mock-chunk-delay-ms", "50")
        .send()
        .await
        .unwrap();
    let mut stream = response.bytes_stream();
    stream.next().await.unwrap().unwrap();
    drop(stream);
    let cancelled_at = Instant::now();
    assert!(stack.mock.wait_for_cancelled_streams(1, Duration::from_secs(1)).await, "upstream not cancelled");
    assert!(cancelled_at.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn upstream_errors_are_relayed_unchanged() {
    let stack = Stack::start().await;
    for (trigger, status, error_type) in [
        ("[[mock:overloaded]]", 529, "overloaded_error"),
        ("[[mock:rate_limit]]", 429, "rate_limit_error"),
        ("[[mock:server_error]]", 500, "api_error"),
    ] {
        let response = stack.post("/v1/messages", &simple_body(trigger, false)).send().await.unwrap();
        assert_eq!(response.status(), status, "{trigger}");
        let retry_after = response.headers().get("retry-after").cloned();
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["type"], error_type);
        if status == 429 {
            assert!(retry_after.is_some(), "retry-after relayed");
        }
    }
    let response = stack
        .client
        .post(stack.url("/v1/messages"))
        .header("x-api-key", "sk-ant-invalid")
        .header("x-portcullis-key", GATEWAY_KEY)
        .body(simple_body("hi", false))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "authentication_error");
    assert!(!body["error"]["message"].as_str().unwrap().contains("Portcullis"), "an upstream 401 is not ours");

    let response = stack.post("/v1/nope", "{}").send().await.unwrap();
    assert_eq!(response.status(), 404);

    let response = stack.post("/v1/messages", &simple_body("[[mock:midstream_error]]", true)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let events = sse_events(&text);
    let error = events.iter().find(|(name, _)| name == "error").expect("error event relayed");
    assert_eq!(error.1["error"]["type"], "overloaded_error");
}

#[tokio::test]
async fn oversized_body_is_rejected_with_413_and_not_forwarded() {
    let stack = Stack::start_with(MockConfig::default(), "[limits]\nmax_body_bytes = 4096\n").await;
    let big = simple_body(&"x".repeat(5000), false);
    let response = stack.post("/v1/messages", &big).send().await.unwrap();
    assert_eq!(response.status(), 413);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "request_too_large");
    // Chunked (no content-length) bodies are cut off at the limit as well.
    let chunks = futures_util::stream::iter(vec![Ok::<_, std::io::Error>(big.clone().into_bytes())]);
    let response = stack
        .client
        .post(stack.url("/v1/messages"))
        .header("x-api-key", ANTHROPIC_KEY)
        .header("x-portcullis-key", GATEWAY_KEY)
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(stack.mock.call_count(), 0);
}

#[tokio::test]
async fn too_many_or_too_large_headers_get_431() {
    let stack = Stack::start_with(MockConfig::default(), "[limits]\nmax_headers = 20\nmax_header_bytes = 4096\n").await;
    let mut request = stack.post("/v1/messages", &simple_body("hi", false));
    for i in 0..30 {
        request = request.header(format!("x-extra-{i}"), "v");
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 431);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");

    let response =
        stack.post("/v1/messages", &simple_body("hi", false)).header("x-big", "v".repeat(5000)).send().await.unwrap();
    assert_eq!(response.status(), 431);
    assert_eq!(stack.mock.call_count(), 0);
}

#[tokio::test]
async fn response_header_timeout_gives_504_and_unreachable_upstream_502() {
    let stack = Stack::start_with(MockConfig::default(), "").await;
    // The test config sets response_header_timeout_ms = 5000.
    let started = Instant::now();
    let response = stack.post("/v1/messages", &simple_body("[[mock:hang]]", false)).send().await.unwrap();
    assert_eq!(response.status(), 504);
    assert!(started.elapsed() < Duration::from_secs(10));
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("Portcullis gateway"));

    let gateway = TestGateway::with_unreachable_upstream().await;
    let response = reqwest::Client::new()
        .post(format!("{}/v1/messages", gateway.url()))
        .header("x-portcullis-key", GATEWAY_KEY)
        .body(simple_body("hi", false))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["type"], "error");
}

#[tokio::test]
async fn stalled_stream_ends_with_an_sse_error_after_the_idle_timeout() {
    let stack = Stack::start_with(MockConfig::default(), "").await;
    // Chunk delay above the 5 s idle timeout of the test config.
    let response = stack
        .post("/v1/messages", &simple_body("[[mock:words=3]] slow", true))
        .header("x-mock-chunk-delay-ms", "7000")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = tokio::time::timeout(Duration::from_secs(20), response.text()).await.unwrap().unwrap();
    let events = sse_events(&text);
    let (name, data) = events.last().unwrap();
    assert_eq!(name, "error");
    assert!(data["error"]["message"].as_str().unwrap().contains("idle"));
}

#[tokio::test]
async fn health_reports_version_and_dependencies() {
    let stack = Stack::start().await;
    let health: serde_json::Value = stack.client.get(stack.url("/health")).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    assert!(health["dependencies"]["upstream"]["url"].is_string());
    assert_eq!(health["dependencies"]["audit"]["mode"], "jsonl");
    assert!(health["dependencies"]["detection"]["signature_detectors"].as_u64().unwrap() > 10);
}

#[tokio::test]
async fn unknown_routes_and_head_probe_get_anthropic_shaped_404() {
    let stack = Stack::start().await;
    let response = stack.client.head(stack.gateway.url()).send().await.unwrap();
    assert_eq!(response.status(), 404);
    let response = stack.client.get(stack.url("/nope")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "not_found_error");
    assert_eq!(stack.mock.call_count(), 0);
}

/// HTTP/2 upstreams cap concurrent streams per connection, and reqwest alone would
/// queue the next request behind a full connection until a stream ends: with
/// long-lived Messages API streams that stalls new callers. The gateway opens
/// another connection instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_streams_beyond_a_connections_cap_open_another_connection() {
    let mock = mock_upstream::MockUpstream::start(MockConfig {
        http2_max_concurrent_streams: Some(2),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    // The upstream table of the shared test config, plus the two settings under test.
    let toml = test_config_toml(&mock.url(), "")
        .replace("[auth]\n", "http_version = \"http2\"\nmax_streams_per_connection = 2\n[auth]\n");
    let gateway = TestGateway::start(portcullis_gateway::config::load::from_toml_str(&toml).unwrap()).await;
    let stack = Stack { mock, gateway, client: reqwest::Client::new() };

    // Five streams that each take ~40 s (20 events, 2 s apart): a request queued
    // behind a full connection would get no headers until one of them ended.
    let opened = futures_util::future::join_all((0..5).map(|_| {
        stack
            .post("/v1/messages", &simple_body("[[mock:words=20]] a long stream", true))
            .header("x-mock-chunk-delay-ms", "2000")
            .send()
    }));
    let responses = tokio::time::timeout(Duration::from_secs(15), opened).await.expect("a stream was queued");
    for response in &responses {
        assert_eq!(response.as_ref().unwrap().status(), 200);
    }
    assert_eq!(stack.mock.state().connection_count(), 3, "2 + 2 + 1 streams");
    assert_eq!(stack.gateway.state.upstream.lanes(), 3);
    assert_eq!(stack.gateway.state.upstream.in_flight(), 5);
    drop(responses);
    assert!(stack.mock.state().wait_for_cancelled_streams(5, Duration::from_secs(5)).await);
    let idle = tokio::time::timeout(Duration::from_secs(5), async {
        while stack.gateway.state.upstream.in_flight() > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    assert!(idle.await.is_ok(), "lane places are given back when the stream ends");
}
