//! [`AuditRow`]: one `audit_events` row (schemas/migrations/001_audit_events.sql),
//! built from a [`SecurityEvent`]. Inserted as RowBinary by the `clickhouse`
//! crate; field names are the column names.

use clickhouse::Row;
use portcullis_schemas::{Decision, EventKind, SecurityEvent, SegmentProvenance, SegmentSource};
use serde::Serialize;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Row, Serialize)]
pub struct AuditRow {
    #[serde(with = "clickhouse::serde::uuid")]
    pub event_id: Uuid,
    pub schema_version: u16,
    /// `Enum8('request' = 1, 'follow_up_detection' = 2)`.
    pub kind: i8,
    #[serde(with = "clickhouse::serde::uuid::option")]
    pub related_event_id: Option<Uuid>,
    /// `DateTime`: seconds.
    pub ts: u32,
    pub ts_ms: i64,
    pub tenant: String,
    pub project: String,
    pub client_id: String,
    pub session_id: String,
    pub path: String,
    pub method: String,
    pub tool_name: String,
    pub mcp_server: String,
    pub model: String,
    pub has_system_prompt: u8,
    pub max_tokens: Option<u32>,
    pub stream: u8,
    pub tool_count: u32,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_creation_input_tokens: u64,
    pub cache_read_input_tokens: u64,
    pub stop_reason: String,
    pub upstream_status: Option<u16>,
    pub gateway_status: u16,
    /// `Enum8('allow' = 1, 'alert' = 2, 'block' = 3, 'auth_failed' = 4, 'error' = 5)`.
    pub decision: i8,
    pub reasons: Vec<String>,
    pub finding_detector_id: Vec<String>,
    pub finding_category: Vec<String>,
    pub finding_confidence: Vec<f32>,
    pub finding_source: Vec<String>,
    pub finding_role: Vec<String>,
    pub finding_message_index: Vec<i32>,
    pub finding_block_index: Vec<i32>,
    /// Index in a batch's `requests` (`schemas/migrations/005_request_index.sql`).
    pub finding_request_index: Vec<i32>,
    pub finding_redacted: Vec<String>,
    /// Findings beyond the event's bound (`schemas/migrations/004_omitted_counts.sql`).
    pub findings_omitted: u32,
    pub ml_label: Vec<String>,
    pub ml_score: Vec<f32>,
    pub ml_model_id: Vec<String>,
    pub ml_model_version: Vec<String>,
    pub ml_source: Vec<String>,
    pub ml_message_index: Vec<i32>,
    pub ml_block_index: Vec<i32>,
    pub ml_request_index: Vec<i32>,
    pub ml_verdicts_omitted: u32,
    pub latency_total_ms: u64,
    pub upstream_ms: Option<u64>,
    pub overhead_us: u64,
    pub user_agent: String,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub content_json: Option<String>,
}

/// `DateTime` covers 1970 ..= 2106; a clock that far off is clamped rather
/// than failing the whole batch.
fn datetime_secs(ts_ms: i64) -> u32 {
    u32::try_from(ts_ms.div_euclid(1000).max(0)).unwrap_or(u32::MAX)
}

fn index(i: Option<u32>) -> i32 {
    i.and_then(|i| i32::try_from(i).ok()).unwrap_or(-1)
}

pub fn kind_code(kind: EventKind) -> i8 {
    match kind {
        EventKind::Request => 1,
        EventKind::FollowUpDetection => 2,
    }
}

pub fn decision_code(decision: Decision) -> i8 {
    match decision {
        Decision::Allow => 1,
        Decision::Alert => 2,
        Decision::Block => 3,
        Decision::AuthFailed => 4,
        Decision::Error => 5,
    }
}

fn source_name(source: SegmentSource) -> &'static str {
    match source {
        SegmentSource::System => "system",
        SegmentSource::Message => "message",
        SegmentSource::ToolResult => "tool_result",
        SegmentSource::ToolUse => "tool_use",
        SegmentSource::ToolDefinition => "tool_definition",
        SegmentSource::Response => "response",
        SegmentSource::Metadata => "metadata",
        SegmentSource::File => "file",
    }
}

struct Segments {
    source: Vec<String>,
    role: Vec<String>,
    message_index: Vec<i32>,
    block_index: Vec<i32>,
    request_index: Vec<i32>,
}

fn segments<'a>(all: impl ExactSizeIterator<Item = &'a SegmentProvenance>) -> Segments {
    let mut s = Segments {
        source: Vec::with_capacity(all.len()),
        role: Vec::with_capacity(all.len()),
        message_index: Vec::with_capacity(all.len()),
        block_index: Vec::with_capacity(all.len()),
        request_index: Vec::with_capacity(all.len()),
    };
    for seg in all {
        s.source.push(source_name(seg.source).to_owned());
        s.role.push(seg.role.clone().unwrap_or_default());
        s.message_index.push(index(seg.message_index));
        s.block_index.push(index(seg.block_index));
        s.request_index.push(index(seg.request_index));
    }
    s
}

impl AuditRow {
    pub fn from_event(mut e: SecurityEvent) -> AuditRow {
        // Gateways bound their events; an older one may not have.
        e.bound_lists();
        let findings = segments(e.findings.iter().map(|f| &f.segment));
        let ml = segments(e.ml_verdicts.iter().map(|v| &v.segment));
        let content_json = e.content.as_ref().and_then(|c| serde_json::to_string(c).ok());
        AuditRow {
            event_id: e.event_id,
            schema_version: e.schema_version,
            kind: kind_code(e.kind),
            related_event_id: e.related_event_id,
            ts: datetime_secs(e.ts_ms),
            ts_ms: e.ts_ms,
            client_id: e.client_id.unwrap_or_default(),
            session_id: e.session_id.unwrap_or_default(),
            model: e.model.unwrap_or_default(),
            has_system_prompt: u8::from(e.has_system_prompt),
            max_tokens: e.max_tokens,
            stream: u8::from(e.stream),
            tool_count: e.tool_count,
            input_tokens: e.input_tokens,
            output_tokens: e.output_tokens,
            cache_creation_input_tokens: e.cache_creation_input_tokens,
            cache_read_input_tokens: e.cache_read_input_tokens,
            stop_reason: e.stop_reason.unwrap_or_default(),
            upstream_status: e.upstream_status,
            gateway_status: e.gateway_status,
            decision: decision_code(e.decision),
            reasons: e.reasons,
            finding_detector_id: e.findings.iter().map(|f| f.detector_id.clone()).collect(),
            finding_category: e.findings.iter().map(|f| f.category.clone()).collect(),
            finding_confidence: e.findings.iter().map(|f| f.confidence).collect(),
            finding_redacted: e.findings.into_iter().map(|f| f.redacted).collect(),
            finding_source: findings.source,
            finding_role: findings.role,
            finding_message_index: findings.message_index,
            finding_block_index: findings.block_index,
            finding_request_index: findings.request_index,
            findings_omitted: e.findings_omitted,
            ml_label: e.ml_verdicts.iter().map(|v| v.label.clone()).collect(),
            ml_score: e.ml_verdicts.iter().map(|v| v.score).collect(),
            ml_model_id: e.ml_verdicts.iter().map(|v| v.model_id.clone()).collect(),
            ml_model_version: e.ml_verdicts.into_iter().map(|v| v.model_version).collect(),
            ml_source: ml.source,
            ml_message_index: ml.message_index,
            ml_block_index: ml.block_index,
            ml_request_index: ml.request_index,
            ml_verdicts_omitted: e.ml_verdicts_omitted,
            latency_total_ms: e.latency_total_ms,
            upstream_ms: e.upstream_ms,
            overhead_us: e.overhead_us,
            user_agent: e.user_agent.unwrap_or_default(),
            bytes_in: e.bytes_in,
            bytes_out: e.bytes_out,
            content_json,
            tenant: e.tenant,
            project: e.project,
            path: e.path,
            method: e.method,
            tool_name: e.tool_name,
            mcp_server: e.mcp_server,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversion_keeps_values_and_maps_none_to_sentinels() {
        let mut e = SecurityEvent::new_request(1_700_000_000_999, "t", "p");
        e.decision = Decision::AuthFailed;
        e.findings.push(portcullis_schemas::EventFinding {
            detector_id: "d".into(),
            segment: SegmentProvenance {
                source: SegmentSource::ToolResult,
                message_index: Some(2),
                ..Default::default()
            },
            ..Default::default()
        });
        let row = AuditRow::from_event(e.clone());
        assert_eq!(row.event_id, e.event_id);
        assert_eq!(row.ts, 1_700_000_000);
        assert_eq!(row.decision, 4);
        assert_eq!(row.finding_source, vec!["tool_result"]);
        assert_eq!(row.finding_message_index, vec![2]);
        assert_eq!(row.finding_block_index, vec![-1]);
        assert_eq!(row.finding_request_index, vec![-1]);
        assert_eq!(row.model, "");
        assert_eq!(datetime_secs(-5), 0);
    }
}
