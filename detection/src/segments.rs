//! Turns a parsed Messages API body into scannable text segments with provenance.
//!
//! The gateway forwards the original bytes untouched; this module only reads a parsed
//! copy. Every place where text can reach the model is extracted (the full text, never a
//! prefix): the `system` prompt (string or blocks), a `{"role":"system"}` entry inside
//! `messages` (Claude Code sends one), text and thinking blocks of user and assistant
//! turns, `tool_result` contents (string or nested blocks, where indirect prompt injection
//! arrives), `tool_use` inputs (as compact JSON), and `document` / `search_result` text.
//! Images and binary document sources are skipped.

use serde::Serialize;
use serde_json::Value;

/// Where a segment's text came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// The top-level `system` prompt, or a `{"role":"system"}` message.
    System,
    /// Text written in a user turn.
    UserText,
    /// Text (or thinking) in an assistant turn.
    AssistantText,
    /// The content of a `tool_result` block: tool output fed back to the model.
    ToolResult,
    /// The `input` of a `tool_use` block, as compact JSON.
    ToolUseInput,
    /// A `document` or `search_result` block's text.
    Document,
}

impl SourceKind {
    /// Snake-case name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::System => "system",
            SourceKind::UserText => "user_text",
            SourceKind::AssistantText => "assistant_text",
            SourceKind::ToolResult => "tool_result",
            SourceKind::ToolUseInput => "tool_use_input",
            SourceKind::Document => "document",
        }
    }
}

/// Provenance of a segment: which part of the request body it was taken from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct SegmentRef {
    pub source: SourceKind,
    /// The message's `role` (`user`, `assistant`, `system`); `None` for the top-level system prompt.
    pub role: Option<String>,
    /// Index into `messages`; `None` for the top-level system prompt.
    pub message_index: Option<usize>,
    /// Index of the content block (in `messages[i].content` or in the `system` array).
    pub block_index: Option<usize>,
    /// Index of a nested block inside a `tool_result` / `document` / `search_result`.
    pub nested_index: Option<usize>,
}

/// One piece of text to scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub origin: SegmentRef,
    pub text: String,
}

/// Request-level facts the policy needs (read from the same parsed copy).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RequestFacts {
    pub model: Option<String>,
    pub max_tokens: Option<u64>,
    pub stream: bool,
    /// A non-empty top-level `system`, or a `{"role":"system"}` message.
    pub has_system_prompt: bool,
    pub tool_names: Vec<String>,
    pub tool_count: usize,
}

/// Extracts every scannable segment, in body order. Non-object bodies yield nothing.
pub fn extract_segments(body: &Value) -> Vec<Segment> {
    let mut out = Vec::new();
    match body.get("system") {
        Some(Value::String(s)) => push(&mut out, base(SourceKind::System, None, None), None, s),
        Some(Value::Array(blocks)) => {
            for (b, block) in blocks.iter().enumerate() {
                if let Some(text) = block_text(block) {
                    push(&mut out, base(SourceKind::System, None, None), Some(b), text);
                }
            }
        }
        _ => {}
    }
    let Some(Value::Array(messages)) = body.get("messages") else {
        return out;
    };
    for (m, message) in messages.iter().enumerate() {
        let role = message.get("role").and_then(Value::as_str);
        let text_kind = match role {
            Some("assistant") => SourceKind::AssistantText,
            Some("system") => SourceKind::System,
            _ => SourceKind::UserText,
        };
        let owned_role = role.map(str::to_owned);
        match message.get("content") {
            Some(Value::String(s)) => {
                push(&mut out, base(text_kind, owned_role.clone(), Some(m)), None, s);
            }
            Some(Value::Array(blocks)) => {
                for (b, block) in blocks.iter().enumerate() {
                    extract_block(&mut out, block, text_kind, &owned_role, m, b);
                }
            }
            _ => {}
        }
    }
    out
}

fn extract_block(
    out: &mut Vec<Segment>,
    block: &Value,
    text_kind: SourceKind,
    role: &Option<String>,
    m: usize,
    b: usize,
) {
    let at = |kind| base(kind, role.clone(), Some(m));
    match block.get("type").and_then(Value::as_str) {
        Some("text") => {
            if let Some(text) = block.get("text").and_then(Value::as_str) {
                push(out, at(text_kind), Some(b), text);
            }
        }
        Some("thinking") => {
            if let Some(text) = block.get("thinking").and_then(Value::as_str) {
                push(out, at(text_kind), Some(b), text);
            }
        }
        Some("tool_result") => match block.get("content") {
            Some(Value::String(s)) => push(out, at(SourceKind::ToolResult), Some(b), s),
            Some(Value::Array(nested)) => {
                for (n, inner) in nested.iter().enumerate() {
                    let kind = match inner.get("type").and_then(Value::as_str) {
                        Some("document" | "search_result") => SourceKind::Document,
                        _ => SourceKind::ToolResult,
                    };
                    for text in nested_texts(inner) {
                        push_nested(out, at(kind), b, n, text);
                    }
                }
            }
            _ => {}
        },
        Some("tool_use" | "server_tool_use") => {
            if let Some(input) = block.get("input") {
                // Compact JSON: what the model produced as tool arguments. Serialising a
                // `Value` cannot fail; an empty string on the impossible error is harmless.
                let text = serde_json::to_string(input).unwrap_or_default();
                push(out, at(SourceKind::ToolUseInput), Some(b), &text);
            }
        }
        Some("document" | "search_result") => {
            for (n, text) in nested_texts(block).into_iter().enumerate() {
                push_nested(out, at(SourceKind::Document), b, n, text);
            }
        }
        _ => {} // image, redacted_thinking, unknown: nothing textual to scan
    }
}

/// Texts inside a document / search_result / text block nested in a tool_result.
fn nested_texts(block: &Value) -> Vec<&str> {
    let mut texts = Vec::new();
    match block.get("type").and_then(Value::as_str) {
        Some("text") => texts.extend(block.get("text").and_then(Value::as_str)),
        Some("document") => {
            if let Some(source) = block.get("source") {
                match source.get("type").and_then(Value::as_str) {
                    Some("text") => texts.extend(source.get("data").and_then(Value::as_str)),
                    Some("content") => match source.get("content") {
                        Some(Value::String(s)) => texts.push(s),
                        Some(Value::Array(items)) => {
                            texts.extend(items.iter().filter_map(block_text));
                        }
                        _ => {}
                    },
                    _ => {} // base64 PDFs, URLs, files: not text we hold
                }
            }
            texts.extend(block.get("context").and_then(Value::as_str));
        }
        Some("search_result") => {
            if let Some(Value::Array(items)) = block.get("content") {
                texts.extend(items.iter().filter_map(block_text));
            }
        }
        _ => {}
    }
    texts
}

fn block_text(block: &Value) -> Option<&str> {
    match block.get("type").and_then(Value::as_str) {
        Some("text") | None => block.get("text").and_then(Value::as_str),
        _ => None,
    }
}

fn base(source: SourceKind, role: Option<String>, message_index: Option<usize>) -> SegmentRef {
    SegmentRef { source, role, message_index, block_index: None, nested_index: None }
}

fn push(out: &mut Vec<Segment>, mut origin: SegmentRef, block: Option<usize>, text: &str) {
    if text.is_empty() {
        return;
    }
    origin.block_index = block;
    out.push(Segment { origin, text: text.to_owned() });
}

fn push_nested(out: &mut Vec<Segment>, mut origin: SegmentRef, b: usize, n: usize, text: &str) {
    if text.is_empty() {
        return;
    }
    origin.block_index = Some(b);
    origin.nested_index = Some(n);
    out.push(Segment { origin, text: text.to_owned() });
}

/// Reads the request-level facts the policy input needs.
pub fn request_facts(body: &Value) -> RequestFacts {
    let system_nonempty = match body.get("system") {
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        _ => false,
    };
    let system_message = body
        .get("messages")
        .and_then(Value::as_array)
        .is_some_and(|ms| ms.iter().any(|m| m.get("role").and_then(Value::as_str) == Some("system")));
    let tools = body.get("tools").and_then(Value::as_array);
    RequestFacts {
        model: body.get("model").and_then(Value::as_str).map(str::to_owned),
        max_tokens: body.get("max_tokens").and_then(Value::as_u64),
        stream: body.get("stream").and_then(Value::as_bool).unwrap_or(false),
        has_system_prompt: system_nonempty || system_message,
        tool_names: tools
            .map(|ts| {
                ts.iter()
                    .filter_map(|t| t.get("name").and_then(Value::as_str).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        tool_count: tools.map_or(0, Vec::len),
    }
}
