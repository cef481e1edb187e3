//! [`SecurityEvent`]: the audit record of one request, and its parts.
//!
//! # Compatibility rule
//!
//! Events are written by one service version and read by another (a gateway
//! may be upgraded before the audit-writer, or the other way round), and they
//! stay in the JetStream stream and the on-disk spool for a while. So:
//!
//! * **Additive only.** A new field is added with a `#[serde(default)]` value
//!   (the struct carries `#[serde(default)]`, so every field already has one)
//!   and old readers ignore it (no `deny_unknown_fields` here; msgpack is
//!   written with field names, see [`SecurityEvent::to_msgpack`]). Fields are
//!   never renamed, removed or given another type; enum variants are never
//!   removed or renamed.
//! * **[`SCHEMA_VERSION`]** is bumped with every additive change, so a reader
//!   can tell which fields the writer knew about (a `0` token count from a v1
//!   writer means "not measured" only if v1 did not measure it).
//! * A change that cannot follow these rules is a new type on a new subject,
//!   not a new version of this one.
//! * New [`Decision`] / [`EventKind`] variants need a ClickHouse migration
//!   extending the `Enum8` column *before* any writer emits them.
//! * A new variant of any enum cannot be read by an older reader, so readers (the
//!   audit-writer) are upgraded before the writers that emit it.
//!
//! # Units
//!
//! * `ts_ms`: Unix epoch milliseconds (UTC) when the gateway received the request.
//! * `latency_total_ms`: milliseconds from request received to the last byte
//!   relayed to the client (for streams: end of stream).
//! * `upstream_ms`: milliseconds from the upstream request sent to the last
//!   upstream byte received; `None` when nothing was sent upstream.
//! * `overhead_us`: microseconds the gateway itself spent on the request path
//!   (auth, parsing, detection, policy) before forwarding: what a user pays for
//!   having Portcullis in between.
//! * `bytes_in` / `bytes_out`: request body bytes received from the client and
//!   response body bytes relayed to it.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::content::CapturedConversation;

/// Version of the [`SecurityEvent`] layout written by this crate.
/// 2: `findings_omitted`, `ml_verdicts_omitted`.
/// 3: [`SegmentProvenance::request_index`] (requests of a Message Batches body).
/// 4: [`SegmentSource::File`] (the text of a Files API upload).
pub const SCHEMA_VERSION: u16 = 4;

/// Most findings one event carries (see [`SecurityEvent::bound_lists`]).
pub const MAX_EVENT_FINDINGS: usize = 256;
/// Most ML verdicts one event carries (see [`SecurityEvent::bound_lists`]).
pub const MAX_EVENT_ML_VERDICTS: usize = 256;

/// The value of [`SecurityEvent::tool_name`] for Messages API traffic.
pub const TOOL_NAME_ANTHROPIC_API: &str = "anthropic-api";
/// The value of [`SecurityEvent::mcp_server`] for Messages API traffic.
pub const MCP_SERVER_ANTHROPIC_PROXY: &str = "anthropic-proxy";

/// What the gateway decided about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Forwarded, nothing noteworthy.
    #[default]
    Allow,
    /// Forwarded, but findings were raised.
    Alert,
    /// Refused by policy; nothing was forwarded.
    Block,
    /// The gateway credential (key or JWT) was missing or invalid.
    AuthFailed,
    /// The gateway could not complete the request (upstream unreachable, limit breached, ...).
    Error,
}

impl Decision {
    /// The snake_case name used in JSON and in the ClickHouse `Enum8`.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Alert => "alert",
            Decision::Block => "block",
            Decision::AuthFailed => "auth_failed",
            Decision::Error => "error",
        }
    }
}

/// Whether an event records a request or a later detection about one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The record of one request handled by the gateway.
    #[default]
    Request,
    /// Findings produced after the fact (e.g. by the ML detector worker) about
    /// the request named in [`SecurityEvent::related_event_id`].
    FollowUpDetection,
}

impl EventKind {
    /// The snake_case name used in JSON and in the ClickHouse `Enum8`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Request => "request",
            EventKind::FollowUpDetection => "follow_up_detection",
        }
    }
}

/// Which part of the request a segment of text came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SegmentSource {
    /// The top-level `system` prompt (string or blocks).
    System,
    /// A content block of an entry in `messages`.
    #[default]
    Message,
    /// A `tool_result` block (text returned by a tool: the usual injection vector).
    ToolResult,
    /// A `tool_use` block's input.
    ToolUse,
    /// A tool definition (`tools[].description` / schema).
    ToolDefinition,
    /// The response from the model.
    Response,
    /// Request metadata (headers, `metadata` object).
    Metadata,
    /// A file uploaded to the Files API (`POST /v1/files`); `block_index` is its part in
    /// the multipart body. Schema 4: readers must be upgraded before writers send it.
    File,
}

/// Where in the request a finding or verdict applies.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SegmentProvenance {
    pub source: SegmentSource,
    /// `user`, `assistant`, `system`; `None` where roles do not apply.
    pub role: Option<String>,
    /// Index into `messages` (or `system` blocks / `tools` for those sources).
    pub message_index: Option<u32>,
    /// Index of the content block within that message.
    pub block_index: Option<u32>,
    /// For a Message Batches body (`POST /v1/messages/batches`): the index in its
    /// `requests` of the request the segment is in (`message_index` and `block_index`
    /// are then within that request). `None` for a Messages call, and in events of
    /// schema versions before 3.
    pub request_index: Option<u32>,
}

/// One signature-detector finding, already redacted.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct EventFinding {
    /// Stable detector id, e.g. `secret.anthropic_key`.
    pub detector_id: String,
    /// Category, e.g. `secret`, `pii`, `prompt_injection`.
    pub category: String,
    /// 0.0 ..= 1.0.
    pub confidence: f32,
    pub segment: SegmentProvenance,
    /// The matched span with its sensitive part masked (`sk-ant-…[REDACTED]`):
    /// enough for an analyst to recognise it, never the secret itself.
    pub redacted: String,
}

/// One ML classifier verdict on a segment.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MlVerdict {
    pub segment: SegmentProvenance,
    /// Classifier label, e.g. `injection` / `benign` (the worker's decision at the
    /// model's own threshold).
    pub label: String,
    /// The classifier's injection score (probability of injection), 0.0 ..= 1.0,
    /// whatever the label: sorting by it ranks segments by suspicion.
    pub score: f32,
    pub model_id: String,
    pub model_version: String,
}

/// The audit record of one request (or one follow-up detection).
///
/// Never contains the Anthropic key, the gateway key, JWTs or client secrets;
/// the audit-writer scrubs anything that looks like one again before insert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SecurityEvent {
    /// Layout version, see the module docs' compatibility rule.
    pub schema_version: u16,
    /// UUID v7 (time-ordered); also the JetStream `Nats-Msg-Id` and the
    /// ClickHouse deduplication key.
    pub event_id: Uuid,
    pub kind: EventKind,
    /// For [`EventKind::FollowUpDetection`]: the request event this refers to.
    pub related_event_id: Option<Uuid>,
    /// Unix epoch milliseconds (UTC).
    pub ts_ms: i64,
    pub tenant: String,
    pub project: String,
    /// OAuth client id in JWT mode.
    pub client_id: Option<String>,
    /// `X-Claude-Code-Session-Id` or equivalent.
    pub session_id: Option<String>,
    /// Request path as received (without query string).
    pub path: String,
    pub method: String,
    /// Always `"anthropic-api"` for Messages API traffic.
    pub tool_name: String,
    /// Always `"anthropic-proxy"` for Messages API traffic.
    pub mcp_server: String,
    /// `model` from the request body, when present.
    pub model: Option<String>,
    /// Whether a system prompt was present (never the prompt itself).
    pub has_system_prompt: bool,
    pub max_tokens: Option<u32>,
    pub stream: bool,
    pub tool_count: u32,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_creation_input_tokens: u64,
    pub cache_read_input_tokens: u64,
    pub stop_reason: Option<String>,
    /// Status the upstream answered with; `None` when nothing was forwarded.
    pub upstream_status: Option<u16>,
    /// Status the gateway answered the client with.
    pub gateway_status: u16,
    pub decision: Decision,
    /// Human-readable reasons for the decision (policy rule ids, error causes).
    pub reasons: Vec<String>,
    pub findings: Vec<EventFinding>,
    /// Findings the request raised beyond [`MAX_EVENT_FINDINGS`], counted, not listed.
    pub findings_omitted: u32,
    /// Empty when no ML detector ran (yet).
    pub ml_verdicts: Vec<MlVerdict>,
    /// Verdicts beyond [`MAX_EVENT_ML_VERDICTS`], counted, not listed.
    pub ml_verdicts_omitted: u32,
    /// Milliseconds, see the module docs.
    pub latency_total_ms: u64,
    /// Milliseconds, see the module docs.
    pub upstream_ms: Option<u64>,
    /// Microseconds, see the module docs.
    pub overhead_us: u64,
    pub user_agent: Option<String>,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// The redacted conversation, only for projects with content capture
    /// `redacted`; `None` (the default) means metadata only.
    pub content: Option<CapturedConversation>,
}

impl Default for SecurityEvent {
    fn default() -> Self {
        SecurityEvent {
            schema_version: SCHEMA_VERSION,
            event_id: Uuid::nil(),
            kind: EventKind::Request,
            related_event_id: None,
            ts_ms: 0,
            tenant: String::new(),
            project: String::new(),
            client_id: None,
            session_id: None,
            path: String::new(),
            method: String::new(),
            tool_name: TOOL_NAME_ANTHROPIC_API.to_owned(),
            mcp_server: MCP_SERVER_ANTHROPIC_PROXY.to_owned(),
            model: None,
            has_system_prompt: false,
            max_tokens: None,
            stream: false,
            tool_count: 0,
            input_tokens: 0,
            output_tokens: 0,
            cache_creation_input_tokens: 0,
            cache_read_input_tokens: 0,
            stop_reason: None,
            upstream_status: None,
            gateway_status: 0,
            decision: Decision::Allow,
            reasons: Vec::new(),
            findings: Vec::new(),
            findings_omitted: 0,
            ml_verdicts: Vec::new(),
            ml_verdicts_omitted: 0,
            latency_total_ms: 0,
            upstream_ms: None,
            overhead_us: 0,
            user_agent: None,
            bytes_in: 0,
            bytes_out: 0,
            content: None,
        }
    }
}

impl SecurityEvent {
    /// A new request event with a fresh UUID v7 id and the given timestamp;
    /// every other field at its default, for the gateway to fill in.
    pub fn new_request(ts_ms: i64, tenant: impl Into<String>, project: impl Into<String>) -> Self {
        SecurityEvent {
            event_id: Uuid::now_v7(),
            ts_ms,
            tenant: tenant.into(),
            project: project.into(),
            ..SecurityEvent::default()
        }
    }

    /// Bounds the event's lists, so its size is bounded whatever the request held
    /// (a 32 MB body can raise tens of thousands of findings; an event over the
    /// NATS `max_payload` could never be published). Keeps the findings the decision
    /// names in `reasons` first, then the most confident, in their original order,
    /// and the highest-scoring ML verdicts; the rest are counted in
    /// `findings_omitted` / `ml_verdicts_omitted`.
    pub fn bound_lists(&mut self) {
        let reasons = &self.reasons;
        let findings_omitted = keep_best(&mut self.findings, MAX_EVENT_FINDINGS, |f| {
            (reasons.iter().any(|r| r == &f.detector_id), f.confidence)
        });
        self.findings_omitted = self.findings_omitted.saturating_add(findings_omitted);
        let verdicts_omitted = keep_best(&mut self.ml_verdicts, MAX_EVENT_ML_VERDICTS, |v| (false, v.score));
        self.ml_verdicts_omitted = self.ml_verdicts_omitted.saturating_add(verdicts_omitted);
    }
}

/// Keeps the `max` items ranking highest by `rank` (ties: the earlier item), in their
/// original order; returns how many were dropped.
fn keep_best<T>(items: &mut Vec<T>, max: usize, rank: impl Fn(&T) -> (bool, f32)) -> u32 {
    if items.len() <= max {
        return 0;
    }
    let dropped = items.len() - max;
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| {
        let (ra, rb) = (rank(&items[a]), rank(&items[b]));
        rb.0.cmp(&ra.0).then(rb.1.total_cmp(&ra.1)).then(a.cmp(&b))
    });
    let mut keep = vec![false; items.len()];
    for &i in &order[..max] {
        keep[i] = true;
    }
    let mut flags = keep.into_iter();
    items.retain(|_| flags.next().unwrap_or(false));
    u32::try_from(dropped).unwrap_or(u32::MAX)
}
