//! Every request produces one redacted audit event (JSONL mode: no NATS configured).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;

fn assert_no_secrets(events: &[serde_json::Value]) {
    let text = serde_json::to_string(events).unwrap();
    for secret in [ANTHROPIC_KEY, GATEWAY_KEY, CLIENT_SECRET, JWT_SECRET, "eyJ"] {
        assert!(!text.contains(secret), "audit trail leaks {secret}");
    }
}

#[tokio::test]
async fn streaming_and_json_responses_record_tokens_and_metadata() {
    let stack = Stack::start().await;
    let response = stack
        .post("/v1/messages?beta=true", &claude_code_body())
        .header("x-claude-code-session-id", "sess-audit")
        .header("user-agent", "claude-cli/2.1.3 (external, sdk-cli)")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap();
    let response = stack.post("/v1/messages", &simple_body("[[mock:words=7]] hi", false)).send().await.unwrap();
    response.text().await.unwrap();

    let events = stack.gateway.audit_events(2).await;
    assert_eq!(events.len(), 2, "{events:#?}");
    let streamed = &events[0];
    assert_eq!(streamed["tenant"], "acme");
    assert_eq!(streamed["project"], "demo");
    assert_eq!(streamed["path"], "/v1/messages");
    assert_eq!(streamed["method"], "POST");
    assert_eq!(streamed["session_id"], "sess-audit");
    assert_eq!(streamed["user_agent"], "claude-cli/2.1.3 (external, sdk-cli)");
    assert_eq!(streamed["tool_name"], "anthropic-api");
    assert_eq!(streamed["mcp_server"], "anthropic-proxy");
    assert_eq!(streamed["decision"], "allow");
    assert_eq!(streamed["upstream_status"], 200);
    assert_eq!(streamed["gateway_status"], 200);
    assert!(streamed["input_tokens"].as_u64().unwrap() > 0);
    assert!(streamed["output_tokens"].as_u64().unwrap() > 0);
    assert_eq!(streamed["cache_creation_input_tokens"], 100, "cache_control in the body");
    assert_eq!(streamed["stop_reason"], "end_turn");
    assert!(streamed["bytes_in"].as_u64().unwrap() > 1000);
    assert!(streamed["bytes_out"].as_u64().unwrap() > 100);
    let plain = &events[1];
    assert_eq!(plain["output_tokens"], 7, "{plain:#}");
    assert_eq!(plain["stream"], false);
    assert_no_secrets(&events);
}

#[tokio::test]
async fn auth_failures_and_gateway_errors_are_recorded_too() {
    let stack = Stack::start().await;
    stack
        .client
        .post(stack.url("/v1/messages"))
        .header("x-api-key", ANTHROPIC_KEY)
        .header("x-portcullis-key", "pcl_wrong_key")
        .body(simple_body("hi", false))
        .send()
        .await
        .unwrap();
    stack.post("/v1/messages", &simple_body("[[mock:overloaded]]", false)).send().await.unwrap().text().await.unwrap();
    let events = stack.gateway.audit_events(2).await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["decision"], "auth_failed");
    assert_eq!(events[0]["gateway_status"], 401);
    assert!(events[0]["upstream_status"].is_null());
    assert_eq!(events[1]["decision"], "allow");
    assert_eq!(events[1]["upstream_status"], 529);
    assert_no_secrets(&events);
}
