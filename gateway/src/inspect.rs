//! Inspection of a request before it is forwarded: parse a copy of the body, extract
//! segments, scan them with the signature catalogue ([`scan`]), and let the project's
//! policy (template, overrides, Rego) decide ([`judge`]), with the ML findings when the
//! project classifies in block mode (see [`crate::ml`]). Forwarding still uses the
//! original bytes.
//!
//! Only the endpoints that carry prompts are inspected (which ones, and why their paths
//! must be spelled canonically: [`crate::proxy::endpoint`]); other paths (e.g.
//! `GET /v1/models`) get a neutral verdict.

use std::collections::BTreeMap;

use axum::http::{HeaderMap, HeaderValue, Method};
use portcullis_detection::{
    BatchRequest, BodyError, Decision, Finding, InspectedBatch, InspectedBody, PolicyInput, RequestFacts, Scanner,
    Segment, SourceKind, Verdict, inspect_batch_body, inspect_body, inspect_chat_completion_body,
    inspect_completion_body, inspect_session_events_body,
};
use portcullis_schemas::{EventFinding, SegmentProvenance, SegmentSource};

use crate::auth::Identity;
use crate::error::GatewayError;
use crate::policies::ProjectPolicies;
use crate::proxy::endpoint::Endpoint;

/// Most requests in one Message Batches body, as the API documents.
pub const MAX_BATCH_REQUESTS: usize = 100_000;

/// A request's body, read and scanned by the signature catalogue; the policy has not
/// judged it yet (ML findings may still join the signature findings).
pub struct Scanned {
    /// The body's facts; for a batch, a summary of its requests' ([`batch_facts`]).
    pub facts: RequestFacts,
    pub segments: Vec<Segment>,
    pub findings: Vec<Finding>,
    /// Indices of the segments whose findings the scan's per-request bound cut short
    /// ([`portcullis_detection::ScanReport`]); content capture withholds their text.
    pub incomplete_segments: Vec<usize>,
    /// The policy input; for a batch, what its requests' inputs share.
    pub input: PolicyInput,
    /// A Message Batches body's requests, each judged on its own ([`judge`]).
    pub batch: Option<Vec<BatchRequest>>,
}

/// Headers the policy may see: everything but credentials and cookies.
fn policy_headers(headers: &HeaderMap, gateway_key_headers: &[axum::http::HeaderName]) -> BTreeMap<String, String> {
    const SECRET: [&str; 6] =
        ["authorization", "x-api-key", "x-anthropic-key", "cookie", "proxy-authorization", "set-cookie"];
    headers
        .iter()
        .filter(|(name, _)| !SECRET.contains(&name.as_str()) && !gateway_key_headers.contains(name))
        .filter_map(|(name, value)| value.to_str().ok().map(|v| (name.as_str().to_string(), v.to_string())))
        .collect()
}

pub struct InspectRequest<'a> {
    pub identity: &'a Identity,
    pub method: &'a Method,
    pub path: &'a str,
    pub headers: &'a HeaderMap,
    pub gateway_key_headers: &'a [axum::http::HeaderName],
    pub session_id: Option<String>,
    pub body: &'a axum::body::Bytes,
}

/// Reads the body's facts and segments as `endpoint`'s (from the bytes, no `Value` tree)
/// and scans them.
pub fn scan(scanner: &Scanner, endpoint: Endpoint, request: InspectRequest<'_>) -> Result<Scanned, GatewayError> {
    let unreadable = |e: BodyError| {
        GatewayError::BadRequest(match e {
            BodyError::NotObject => e.to_string(),
            _ => format!("{e}; it cannot be inspected"),
        })
    };
    // A body read into facts and segments by one of the detection crate's readers.
    let read = |reader: fn(&[u8]) -> Result<InspectedBody, BodyError>| {
        reader(request.body).map(|InspectedBody { facts, segments }| (facts, segments, None)).map_err(unreadable)
    };
    let (facts, segments, batch) = match endpoint {
        Endpoint::Messages | Endpoint::CountTokens => read(inspect_body)?,
        Endpoint::Complete => read(inspect_completion_body)?,
        Endpoint::ChatCompletions => read(inspect_chat_completion_body)?,
        Endpoint::SessionEvents => read(inspect_session_events_body)?,
        Endpoint::FileUpload => {
            (RequestFacts::default(), crate::upload::file_segments(request.headers, request.body)?, None)
        }
        Endpoint::MessageBatches => {
            let InspectedBatch { requests, segments } = inspect_batch_body(request.body).map_err(unreadable)?;
            // The API's own bound; it also bounds the policy evaluations one body can cost.
            if requests.len() > MAX_BATCH_REQUESTS {
                return Err(GatewayError::BadRequest(format!(
                    "a message batch holds at most {MAX_BATCH_REQUESTS} requests; this one has {}",
                    requests.len()
                )));
            }
            (batch_facts(&requests), segments, Some(requests))
        }
    };
    let report = scanner.scan_report(&request.identity.tenant, &segments);
    let mut input = PolicyInput::from_facts(&facts);
    input.findings_omitted = report.omitted;
    input.tenant = request.identity.tenant.clone();
    input.project = request.identity.project.clone();
    input.path = request.path.to_string();
    input.method = request.method.to_string();
    input.session_id = request.session_id;
    input.headers = policy_headers(request.headers, request.gateway_key_headers);
    Ok(Scanned {
        facts,
        segments,
        findings: report.findings,
        incomplete_segments: report.incomplete_segments,
        input,
        batch,
    })
}

/// What a batch's audit event and shared policy input say of its requests: their model
/// when they all name the same one, whether any has a system prompt, the largest
/// `max_tokens` and tool count, and their tool names (each once). A batch never streams.
pub fn batch_facts(requests: &[BatchRequest]) -> RequestFacts {
    let first_model = requests.first().and_then(|r| r.facts.model.as_ref());
    let mut facts = RequestFacts {
        model: first_model.filter(|m| requests.iter().all(|r| r.facts.model.as_ref() == Some(*m))).cloned(),
        has_system_prompt: requests.iter().any(|r| r.facts.has_system_prompt),
        max_tokens: requests.iter().filter_map(|r| r.facts.max_tokens).max(),
        stream: false,
        tool_names: Vec::new(),
        tool_count: requests.iter().map(|r| r.facts.tool_count).max().unwrap_or(0),
    };
    let mut seen = std::collections::HashSet::new();
    for name in requests.iter().flat_map(|r| &r.facts.tool_names) {
        if seen.insert(name.as_str()) {
            facts.tool_names.push(name.clone());
        }
    }
    facts
}

/// The project's policy (template, overrides, Rego) on `findings`; a batch's requests
/// are judged one by one ([`portcullis_detection::Policy::evaluate_batch`]).
pub fn judge(
    policies: &ProjectPolicies,
    project: &str,
    input: &PolicyInput,
    batch: Option<&[BatchRequest]>,
    findings: &[Finding],
) -> Result<Verdict, GatewayError> {
    let policy =
        policies.get(project).ok_or_else(|| GatewayError::Internal(format!("no policy for project {project}")))?;
    let policy = policy.current();
    match batch {
        None => policy.evaluate(input, findings),
        Some(requests) => policy.evaluate_batch(input, requests, findings),
    }
    .map_err(|e| GatewayError::Internal(format!("policy evaluation failed: {e}")))
}

/// `X-Risk-*` headers for a response.
pub fn risk_headers(headers: &mut HeaderMap, verdict: Option<&Verdict>) {
    let (blocked, categories, confidence) = match verdict {
        Some(v) => (v.decision == Decision::Block, v.categories_header(), v.confidence_header()),
        None => (false, String::new(), "0.00".to_string()),
    };
    headers.insert("x-risk-blocked", HeaderValue::from_static(if blocked { "true" } else { "false" }));
    if let Ok(value) = HeaderValue::from_str(&categories) {
        headers.insert("x-risk-categories", value);
    }
    if let Ok(value) = HeaderValue::from_str(&confidence) {
        headers.insert("x-risk-confidence", value);
    }
}

pub fn provenance(origin: &portcullis_detection::SegmentRef) -> SegmentProvenance {
    let source = match origin.source {
        SourceKind::System if origin.message_index.is_none() => SegmentSource::System,
        SourceKind::ToolResult => SegmentSource::ToolResult,
        SourceKind::ToolUseInput => SegmentSource::ToolUse,
        SourceKind::ToolDefinition => SegmentSource::ToolDefinition,
        SourceKind::Document if origin.message_index.is_none() => SegmentSource::File,
        _ => SegmentSource::Message,
    };
    let index = |i: Option<usize>| i.and_then(|i| u32::try_from(i).ok());
    SegmentProvenance {
        source,
        role: origin.role.clone(),
        message_index: index(origin.message_index),
        block_index: index(origin.block_index),
        request_index: index(origin.request_index),
    }
}

/// Findings as they go into the audit event: redacted renderings only.
pub fn event_findings(findings: &[Finding]) -> Vec<EventFinding> {
    findings
        .iter()
        .map(|f| EventFinding {
            detector_id: f.detector_id.to_string(),
            category: f.category.as_str().to_string(),
            confidence: f.confidence,
            segment: provenance(&f.segment),
            redacted: f.redacted.clone(),
        })
        .collect()
}
