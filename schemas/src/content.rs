//! The redacted conversation kept when a project's content capture is `redacted`.
//!
//! Plain structs rather than tagged enums so msgpack and JSON decode the same
//! way and new block kinds can be added without breaking old readers.

use serde::{Deserialize, Serialize};

/// The rendered request: system prompt, turns, tool calls, every PII/secret
/// span found by the signature detectors already masked.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CapturedConversation {
    /// System prompt blocks, in order.
    pub system: Vec<String>,
    pub messages: Vec<CapturedMessage>,
    /// Names of the tools offered to the model.
    pub tools: Vec<String>,
    /// The model's answer when it was captured (non-streaming or reassembled).
    pub response: Vec<CapturedBlock>,
    /// True when the capture was cut to the configured size limit.
    pub truncated: bool,
}

/// One entry of `messages`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CapturedMessage {
    pub role: String,
    pub blocks: Vec<CapturedBlock>,
    /// For a Message Batches body: the index in `requests` of the request this message
    /// belongs to (a request's `system` prompt is then a message of role `system`).
    /// `None` for a Messages call (schema version 3).
    pub request_index: Option<u32>,
}

/// Kind of a content block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapturedBlockKind {
    #[default]
    Text,
    ToolUse,
    ToolResult,
    Thinking,
    Image,
    Document,
    /// A block type this gateway version does not render.
    Other,
}

/// One content block, rendered to text.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CapturedBlock {
    pub kind: CapturedBlockKind,
    /// Redacted text; for `tool_use` the input JSON; empty for images.
    pub text: String,
    /// Tool name for `tool_use`; `tool_use_id` for `tool_result`.
    pub name: Option<String>,
}
