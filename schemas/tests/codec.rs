#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Round trips and compatibility of the SecurityEvent encodings.

use portcullis_schemas::{
    CapturedBlock, CapturedBlockKind, CapturedConversation, CapturedMessage, Decision, EventFinding, EventKind,
    MlVerdict, SCHEMA_VERSION, SecurityEvent, SegmentProvenance, SegmentSource,
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
        request_index: Some(2),
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
            request_index: Some(1),
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

fn finding(id: &str, confidence: f32, message_index: u32) -> EventFinding {
    EventFinding {
        detector_id: id.into(),
        category: "pii".into(),
        confidence,
        segment: SegmentProvenance {
            source: SegmentSource::Message,
            role: Some("user".into()),
            message_index: Some(message_index),
            block_index: None,
            request_index: None,
        },
        redacted: "[REDACTED 5 bytes]".into(),
    }
}

#[test]
fn bounded_lists_keep_the_decisive_and_most_confident_findings_in_order() {
    use portcullis_schemas::{MAX_EVENT_FINDINGS, MAX_EVENT_ML_VERDICTS};
    let mut e = SecurityEvent::new_request(0, "acme", "p");
    e.reasons = vec!["secret.aws".into()];
    // 10,000 low-confidence emails, one decisive finding near the end, one confident phone.
    e.findings = (0..10_000).map(|i| finding("pii.email", 0.5, i)).collect();
    e.findings.insert(9_000, finding("secret.aws", 0.1, 9_000));
    e.findings.insert(5_000, finding("pii.phone", 0.9, 5_000));
    e.ml_verdicts = (0..1_000)
        .map(|i| MlVerdict {
            segment: finding("x", 0.0, i).segment,
            label: "benign".into(),
            score: if i == 999 { 0.99 } else { 0.01 },
            model_id: "default".into(),
            model_version: "v".into(),
        })
        .collect();
    let small = e.to_msgpack().unwrap().len();
    e.bound_lists();
    assert_eq!(e.findings.len(), MAX_EVENT_FINDINGS);
    assert_eq!(e.findings_omitted, 10_002 - MAX_EVENT_FINDINGS as u32);
    // The decisive and the most confident finding survive; the emails kept are the first ones.
    assert_eq!(e.findings.last().unwrap().detector_id, "secret.aws");
    assert!(e.findings.iter().any(|f| f.detector_id == "pii.phone"));
    assert_eq!(e.findings[0].segment.message_index, Some(0));
    assert_eq!(e.findings.iter().filter(|f| f.detector_id == "pii.email").count(), MAX_EVENT_FINDINGS - 2);
    let indexes: Vec<u32> = e.findings.iter().filter_map(|f| f.segment.message_index).collect();
    assert!(indexes.windows(2).all(|w| w[0] < w[1]), "original order kept");
    assert_eq!(e.ml_verdicts.len(), MAX_EVENT_ML_VERDICTS);
    assert_eq!(e.ml_verdicts_omitted, 1_000 - MAX_EVENT_ML_VERDICTS as u32);
    assert!(e.ml_verdicts.iter().any(|v| v.score > 0.9));
    let bounded = e.to_msgpack().unwrap().len();
    assert!(bounded < 128 * 1024 && bounded < small / 10, "{bounded} bytes");
    // Bounding again changes nothing.
    let again = e.clone();
    e.bound_lists();
    assert_eq!(e, again);
}

#[test]
fn a_version_1_event_reads_with_nothing_omitted() {
    #[derive(Serialize)]
    struct V1 {
        schema_version: u16,
        tenant: &'static str,
    }
    let bytes = rmp_serde::to_vec_named(&V1 { schema_version: 1, tenant: "acme" }).unwrap();
    let e = SecurityEvent::from_msgpack(&bytes).unwrap();
    assert_eq!((e.schema_version, e.findings_omitted, e.ml_verdicts_omitted), (1, 0, 0));
    const { assert!(SCHEMA_VERSION >= 2) };
}
