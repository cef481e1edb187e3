//! The request description the policy (and its Rego rules) sees.

use std::collections::BTreeMap;

use regorus::Value as RegoValue;
use serde::Serialize;
use serde_json::{Map, Value as Json, json};

use crate::finding::Finding;
use crate::segments::RequestFacts;

/// Value of `input.mcp_server` for Anthropic API traffic.
pub const MCP_SERVER: &str = "anthropic-proxy";
/// Value of `input.tool_name` for Anthropic API traffic.
pub const TOOL_NAME: &str = "anthropic-api";

/// What the gateway knows about a request. Serialized as the Rego `input` document, with
/// `mcp_server: "anthropic-proxy"`, `tool_name: "anthropic-api"` and `findings` added
/// (each: `id`, `category`, `confidence`, `source`, `role`, `message_index`, `block_index`,
/// `nested_index`, `transform`; never the matched text; at most
/// [`crate::MAX_REQUEST_FINDINGS_PER_GROUP`] per detector and kind of text, the rest
/// counted in `findings_omitted`). Absent optional fields are
/// omitted (so `input.model` is undefined, not null, when the body has no model).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PolicyInput {
    pub tenant: String,
    pub project: String,
    /// Request path, e.g. `/v1/messages`.
    pub path: String,
    pub method: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub has_system_prompt: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    pub stream: bool,
    pub tool_names: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Non-secret request headers (lower-case names). The gateway must leave out
    /// credentials (`x-api-key`, `authorization`, cookies).
    pub headers: BTreeMap<String, String>,
    /// Findings the scan left out of `findings` ([`crate::ScanReport::omitted`]): a rule
    /// that counts findings adds this.
    pub findings_omitted: u32,
    /// For one request of a Message Batches body (each is judged on its own): its index
    /// in `requests`; absent for a Messages call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_index: Option<usize>,
    /// That request's `custom_id`, when it has a string one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_id: Option<String>,
}

impl PolicyInput {
    /// Fills the body-derived fields from [`RequestFacts`]; set the rest (tenant, project,
    /// path, method, session id, headers) on the result.
    pub fn from_facts(facts: &RequestFacts) -> PolicyInput {
        PolicyInput {
            model: facts.model.clone(),
            has_system_prompt: facts.has_system_prompt,
            max_tokens: facts.max_tokens,
            stream: facts.stream,
            tool_names: facts.tool_names.clone(),
            ..PolicyInput::default()
        }
    }

    /// The Rego input document as JSON.
    pub fn to_json(&self, findings: &[Finding]) -> Json {
        let mut obj = match serde_json::to_value(self) {
            Ok(Json::Object(m)) => m,
            _ => Map::new(), // a struct of strings, bools and maps always serializes
        };
        obj.insert("mcp_server".into(), Json::from(MCP_SERVER));
        obj.insert("tool_name".into(), Json::from(TOOL_NAME));
        let list: Vec<Json> = findings
            .iter()
            .map(|f| {
                json!({
                    "id": f.detector_id,
                    "category": f.category.as_str(),
                    "confidence": f.confidence,
                    "source": f.segment.source.as_str(),
                    "role": f.segment.role,
                    "message_index": f.segment.message_index,
                    "block_index": f.segment.block_index,
                    "nested_index": f.segment.nested_index,
                    "transform": f.transform,
                })
            })
            .collect();
        obj.insert("findings".into(), Json::Array(list));
        Json::Object(obj)
    }

    /// The Rego input document, built directly as a `regorus::Value` (the same document as
    /// [`PolicyInput::to_json`], without a round trip through `serde_json`: this is on the
    /// per-request path).
    pub(crate) fn to_rego(&self, findings: &[Finding]) -> RegoValue {
        let mut obj = BTreeMap::new();
        let mut put = |key: &str, value: RegoValue| {
            obj.insert(RegoValue::from(key), value);
        };
        put("tenant", RegoValue::from(self.tenant.as_str()));
        put("project", RegoValue::from(self.project.as_str()));
        put("path", RegoValue::from(self.path.as_str()));
        put("method", RegoValue::from(self.method.as_str()));
        if let Some(model) = &self.model {
            put("model", RegoValue::from(model.as_str()));
        }
        put("has_system_prompt", RegoValue::from(self.has_system_prompt));
        if let Some(max_tokens) = self.max_tokens {
            put("max_tokens", RegoValue::from(max_tokens));
        }
        put("stream", RegoValue::from(self.stream));
        put(
            "tool_names",
            RegoValue::from(self.tool_names.iter().map(|t| RegoValue::from(t.as_str())).collect::<Vec<_>>()),
        );
        if let Some(session_id) = &self.session_id {
            put("session_id", RegoValue::from(session_id.as_str()));
        }
        let headers: BTreeMap<RegoValue, RegoValue> =
            self.headers.iter().map(|(k, v)| (RegoValue::from(k.as_str()), RegoValue::from(v.as_str()))).collect();
        put("headers", RegoValue::from(headers));
        put("findings_omitted", RegoValue::from(u64::from(self.findings_omitted)));
        if let Some(batch_index) = self.batch_index {
            put("batch_index", RegoValue::from(batch_index));
        }
        if let Some(custom_id) = &self.custom_id {
            put("custom_id", RegoValue::from(custom_id.as_str()));
        }
        put("mcp_server", RegoValue::from(MCP_SERVER));
        put("tool_name", RegoValue::from(TOOL_NAME));
        put("findings", RegoValue::from(findings.iter().map(finding_to_rego).collect::<Vec<_>>()));
        RegoValue::from(obj)
    }
}

fn opt_index(i: Option<usize>) -> RegoValue {
    i.map_or(RegoValue::Null, RegoValue::from)
}

fn finding_to_rego(f: &Finding) -> RegoValue {
    let fields = [
        ("id", RegoValue::from(f.detector_id)),
        ("category", RegoValue::from(f.category.as_str())),
        ("confidence", RegoValue::from(f64::from(f.confidence))),
        ("source", RegoValue::from(f.segment.source.as_str())),
        ("role", f.segment.role.as_deref().map_or(RegoValue::Null, RegoValue::from)),
        ("message_index", opt_index(f.segment.message_index)),
        ("block_index", opt_index(f.segment.block_index)),
        ("nested_index", opt_index(f.segment.nested_index)),
        ("transform", RegoValue::from(f.transform.as_str())),
    ];
    RegoValue::from(fields.into_iter().map(|(k, v)| (RegoValue::from(k), v)).collect::<BTreeMap<_, _>>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{Category, Transform};
    use crate::segments::{SegmentRef, SourceKind};

    #[test]
    fn rego_input_is_the_json_document() {
        let finding = |source, role: Option<&str>, index, transform| Finding {
            detector_id: "secret.jwt",
            category: Category::Secret,
            confidence: 0.9,
            segment: SegmentRef {
                source,
                role: role.map(str::to_owned),
                message_index: index,
                block_index: Some(2),
                nested_index: None,
                request_index: None,
            },
            span: 0..5,
            redacted: "eyJ…[REDACTED]".into(),
            transform,
        };
        let findings = [
            finding(SourceKind::ToolResult, Some("user"), Some(3), Transform::Base64),
            finding(SourceKind::System, None, None, Transform::None),
        ];
        let full = PolicyInput {
            tenant: "t".into(),
            project: "p".into(),
            path: "/v1/messages".into(),
            method: "POST".into(),
            model: Some("claude-opus-4-1".into()),
            has_system_prompt: true,
            max_tokens: Some(64000),
            stream: true,
            tool_names: vec!["Read".into(), "Bash".into()],
            session_id: Some("s-1".into()),
            headers: [("x-app".to_owned(), "cli".to_owned())].into_iter().collect(),
            findings_omitted: 7,
            batch_index: Some(2),
            custom_id: Some("req-2".into()),
        };
        for input in [full, PolicyInput::default()] {
            for f in [&findings[..], &[]] {
                assert_eq!(input.to_rego(f), RegoValue::from(input.to_json(f)), "{input:?}");
            }
        }
    }
}
