//! The oracle for `inspect_body`: segment extraction and request facts over a parsed
//! `serde_json::Value`, as the gateway did it before it read them straight from the bytes.
//! Written independently of the typed reader, so the two checking each other catches a
//! mistake in either.

use portcullis_detection::{RequestFacts, Segment, SegmentRef, SourceKind};
use serde_json::Value;

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
    let empty = Vec::new();
    let messages = match body.get("messages") {
        Some(Value::Array(messages)) => messages,
        _ => &empty,
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
    if let Some(Value::Array(tools)) = body.get("tools") {
        for (t, tool) in tools.iter().enumerate() {
            let mut parts: Vec<&str> = tool.get("description").and_then(Value::as_str).into_iter().collect();
            for field in ["input_schema", "input_examples"] {
                if let Some(value) = tool.get(field) {
                    strings_of(value, &mut parts);
                }
            }
            push(&mut out, base(SourceKind::ToolDefinition, None, None), Some(t), &parts.join("\n"));
        }
    }
    out
}

/// Every key and string value, depth first (a `Value`'s objects iterate in key order).
fn strings_of<'v>(value: &'v Value, out: &mut Vec<&'v str>) {
    match value {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|item| strings_of(item, out)),
        Value::Object(map) => {
            for (key, item) in map {
                out.push(key);
                strings_of(item, out);
            }
        }
        _ => {}
    }
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
        Some("tool_result" | "mcp_tool_result") => match block.get("content") {
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
        Some("tool_use" | "server_tool_use" | "mcp_tool_use") => {
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
        Some("web_fetch_tool_result") => {
            let document = block.get("content").filter(|c| c.is_object()).and_then(|c| c.get("content"));
            if let Some(document) = document.filter(|d| d.is_object()) {
                for (n, text) in nested_texts(document).into_iter().enumerate() {
                    push_nested(out, at(SourceKind::Document), b, n, text);
                }
            }
        }
        Some("code_execution_tool_result" | "bash_code_execution_tool_result") => {
            if let Some(result) = block.get("content").filter(|c| c.is_object()) {
                for (n, stream) in ["stdout", "stderr"].into_iter().enumerate() {
                    if let Some(text) = result.get(stream).and_then(Value::as_str) {
                        push_nested(out, at(SourceKind::ToolResult), b, n, text);
                    }
                }
            }
        }
        Some("text_editor_code_execution_tool_result") => {
            let result = block.get("content").filter(|c| c.is_object());
            if let Some(text) = result.and_then(|r| r.get("content")).and_then(Value::as_str) {
                push_nested(out, at(SourceKind::ToolResult), b, 0, text);
            }
        }
        Some("web_search_tool_result") => {
            if let Some(Value::Array(results)) = block.get("content") {
                for (n, result) in results.iter().enumerate() {
                    if let Some(title) = result.get("title").and_then(Value::as_str) {
                        push_nested(out, at(SourceKind::ToolResult), b, n, title);
                    }
                }
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
    SegmentRef { source, role, message_index, block_index: None, nested_index: None, request_index: None }
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
            .map(|ts| ts.iter().filter_map(|t| t.get("name").and_then(Value::as_str).map(str::to_owned)).collect())
            .unwrap_or_default(),
        tool_count: tools.map_or(0, Vec::len),
    }
}
