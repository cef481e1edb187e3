#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Round trips and compatibility of the SecurityEvent encodings.

use portcullis_schemas::{
    CapturedBlock, CapturedBlockKind, CapturedConversation, CapturedMessage, Decision,
    EventFinding, EventKind, MlVerdict, SCHEMA_VERSION, SecurityEvent, SegmentProvenance,
    SegmentSource,
};
use serde::Serialize;

fn full_event() -> SecurityEvent {
    let mut e = SecurityEvent::new_request(1_767_225_600_123, "acme", "billing");
    e.client_id = Some("agent-1".into());
    e.session_id = Some("sess-1".into());
    e.path = "/v1/messages".into();
    e.method = "POST".into();
    e.model = Some("claude-sonnet-4-5".into());
    e.has_system_prompt = true;
    e.max_tokens = Some(64000);
    e.stream = true;
    e.tool_count = 25;
    e.input_tokens = 10;
    e.output_tokens = 20;
    e.cache_creation_input_tokens = 30;
    e.cache_read_input_tokens = 40;
    e.stop_reason = Some("end_turn".into());
    e.upstream_status = Some(200);
    e.gateway_status = 200;
    e.decision = Decision::AuthFailed;
    e.reasons = vec!["rule.x".into()];
    let segment = SegmentProvenance {
        source: SegmentSource::ToolResult,
        role: Some("user".into()),
        message_index: Some(3),
        block_index: Some(1),
    };
    e.findings = vec![EventFinding {
        detector_id: "secret.aws".into(),
        category: "secret".into(),
        confidence: 0.9,
        segment: segment.clone(),
        redacted: "AKIA[REDACTED]".into(),
    }];
    e.ml_verdicts = vec![MlVerdict {
        segment,
        label: "injection".into(),
        score: 0.75,
        model_id: "minilm".into(),
        model_version: "1".into(),
    }];
    e.latency_total_ms = 1234;
    e.upstream_ms = Some(1200);
    e.overhead_us = 87;
    e.user_agent = Some("claude-cli/2.1".into());
    e.bytes_in = 85_000;
    e.bytes_out = 4_000;
    e.content = Some(CapturedConversation {
        system: vec!["be nice".into()],
        messages: vec![CapturedMessage {
            role: "user".into(),
            blocks: vec![CapturedBlock {
                kind: CapturedBlockKind::ToolUse,
                text: "{}".into(),
                name: Some("bash".into()),
            }],
        }],
        tools: vec!["bash".into()],
        response: vec![],
        truncated: false,
    });
    e
}

#[test]
fn msgpack_and_json_round_trip() {
    let e = full_event();
    assert_eq!(e.schema_version, SCHEMA_VERSION);
    assert_eq!(e.event_id.get_version_num(), 7);
    assert_eq!(SecurityEvent::from_msgpack(&e.to_msgpack().unwrap()).unwrap(), e);
    assert_eq!(SecurityEvent::from_json(&e.to_json().unwrap()).unwrap(), e);
}

#[test]
fn json_uses_snake_case_names() {
    let mut e = full_event();
    let json: serde_json::Value = serde_json::from_slice(&e.to_json().unwrap()).unwrap();
    assert_eq!(json["decision"], "auth_failed");
    assert_eq!(json["kind"], "request");
    assert_eq!(json["tool_name"], "anthropic-api");
    assert_eq!(json["mcp_server"], "anthropic-proxy");
    assert_eq!(json["findings"][0]["segment"]["source"], "tool_result");
    e.kind = EventKind::FollowUpDetection;
    let json: serde_json::Value = serde_json::from_slice(&e.to_json().unwrap()).unwrap();
    assert_eq!(json["kind"], "follow_up_detection");
}

/// An older writer that knew fewer fields: the reader fills in defaults.
#[derive(Serialize)]
struct OldEvent {
    schema_version: u16,
    event_id: uuid::Uuid,
    ts_ms: i64,
    tenant: String,
    decision: Decision,
}

/// A newer writer that added a field: the reader ignores it.
#[derive(Serialize)]
struct NewerEvent {
    #[serde(flatten)]
    base: SecurityEvent,
    some_future_field: Vec<u32>,
}

#[test]
fn additive_changes_decode_both_ways() {
    let old = OldEvent {
        schema_version: 0,
        event_id: uuid::Uuid::now_v7(),
        ts_ms: 5,
        tenant: "t".into(),
        decision: Decision::Block,
    };
    let bytes = rmp_serde::to_vec_named(&old).unwrap();
    let e = SecurityEvent::from_msgpack(&bytes).unwrap();
    assert_eq!(e.event_id, old.event_id);
    assert_eq!(e.decision, Decision::Block);
    assert_eq!(e.tool_name, "anthropic-api");
    assert!(e.findings.is_empty());

    let newer = NewerEvent { base: full_event(), some_future_field: vec![1, 2] };
    let json = serde_json::to_vec(&newer).unwrap();
    assert_eq!(SecurityEvent::from_json(&json).unwrap(), newer.base);
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    assert!(SecurityEvent::from_msgpack(b"\xc1\xff\x00garbage").is_err());
    assert!(SecurityEvent::from_json(b"{not json").is_err());
    assert!(SecurityEvent::from_msgpack(&[]).is_err());
}
