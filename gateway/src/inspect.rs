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
    BodyError, Decision, Finding, InspectedBody, PolicyInput, RequestFacts, Scanner, Segment, SourceKind, Verdict,
    inspect_body,
};
use portcullis_schemas::{EventFinding, SegmentProvenance, SegmentSource};

use crate::auth::Identity;
use crate::error::GatewayError;
use crate::policies::ProjectPolicies;

/// A request's body, read and scanned by the signature catalogue; the policy has not
/// judged it yet (ML findings may still join the signature findings).
pub struct Scanned {
    pub facts: RequestFacts,
    pub segments: Vec<Segment>,
    pub findings: Vec<Finding>,
    /// Indices of the segments whose findings the scan's per-request bound cut short
    /// ([`portcullis_detection::ScanReport`]); content capture withholds their text.
    pub incomplete_segments: Vec<usize>,
    pub input: PolicyInput,
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
    pub body: &'a [u8],
}

/// Reads the body's facts and segments (from the bytes, no `Value` tree) and scans them.
pub fn scan(scanner: &Scanner, request: InspectRequest<'_>) -> Result<Scanned, GatewayError> {
    let InspectedBody { facts, segments } = inspect_body(request.body).map_err(|e| {
        GatewayError::BadRequest(match e {
            BodyError::NotObject => e.to_string(),
            _ => format!("{e}; it cannot be inspected"),
        })
    })?;
    let report = scanner.scan_report(&request.identity.tenant, &segments);
    let mut input = PolicyInput::from_facts(&facts);
    input.findings_omitted = report.omitted;
    input.tenant = request.identity.tenant.clone();
    input.project = request.identity.project.clone();
    input.path = request.path.to_string();
    input.method = request.method.to_string();
    input.session_id = request.session_id;
    input.headers = policy_headers(request.headers, request.gateway_key_headers);
    Ok(Scanned { facts, segments, findings: report.findings, incomplete_segments: report.incomplete_segments, input })
}

/// The project's policy (template, overrides, Rego) on `findings`.
pub fn judge(
    policies: &ProjectPolicies,
    project: &str,
    input: &PolicyInput,
    findings: &[Finding],
) -> Result<Verdict, GatewayError> {
    let policy =
        policies.get(project).ok_or_else(|| GatewayError::Internal(format!("no policy for project {project}")))?;
    policy
        .current()
        .evaluate(input, findings)
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
        _ => SegmentSource::Message,
    };
    let index = |i: Option<usize>| i.and_then(|i| u32::try_from(i).ok());
    SegmentProvenance {
        source,
        role: origin.role.clone(),
        message_index: index(origin.message_index),
        block_index: index(origin.block_index),
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
