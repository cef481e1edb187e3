//! The request description the policy (and its Rego rules) sees.

use std::collections::BTreeMap;

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
/// `nested_index`, `transform`; never the matched text). Absent optional fields are
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

    pub(crate) fn to_rego(&self, findings: &[Finding]) -> regorus::Value {
        regorus::Value::from(self.to_json(findings))
    }
}
