//! Scannable text segments with provenance, and the request-level facts the policy needs.
//!
//! [`crate::inspect_body`] reads them from a request body. Every place where text can
//! reach the model is a segment (the full text, never a prefix): the `system` prompt
//! (string or blocks), a `{"role":"system"}` entry inside `messages` (Claude Code sends
//! one), text and thinking blocks of user and assistant turns, `tool_result` contents
//! (string or nested blocks, where indirect prompt injection arrives), `tool_use` inputs
//! (as compact JSON), and `document` / `search_result` text; and, as a client sends them
//! back in later turns, the results of Anthropic's server tools (`web_fetch_tool_result`'s
//! fetched document, code execution stdout/stderr, a text editor view, web search
//! titles) and of the MCP connector (`mcp_tool_result`, `mcp_tool_use` inputs); and each
//! tool definition in `tools` (description and input schema). Images, binary document
//! sources and encrypted search content are skipped.

use serde::Serialize;

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
    /// A tool definition in `tools`: its `description`, then every key and string value of
    /// its input schema and input examples, one per line. Where a poisoned MCP server
    /// hides instructions.
    ToolDefinition,
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
            SourceKind::ToolDefinition => "tool_definition",
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
    /// Index of the content block (in `messages[i].content` or in the `system` array), or
    /// of the tool in `tools` for a [`SourceKind::ToolDefinition`].
    pub block_index: Option<usize>,
    /// Index of a nested block inside a `tool_result` / `document` / `search_result`.
    pub nested_index: Option<usize>,
    /// Index into a Message Batches body's `requests` (the other indexes are then within
    /// that request's `params`); `None` for a Messages body.
    pub request_index: Option<usize>,
}

/// One piece of text to scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub origin: SegmentRef,
    pub text: String,
}

/// Request-level facts the policy needs (read from the same parsed copy).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
pub struct RequestFacts {
    pub model: Option<String>,
    pub max_tokens: Option<u64>,
    pub stream: bool,
    /// A non-empty top-level `system`, or a `{"role":"system"}` message.
    pub has_system_prompt: bool,
    pub tool_names: Vec<String>,
    pub tool_count: usize,
}
