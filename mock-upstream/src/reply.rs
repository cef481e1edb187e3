//! The deterministic assistant reply for a validated request: which content
//! blocks it has, their text, its stop reason and token usage. Both the JSON and
//! the SSE renderings are built from this one value so they always agree.

use serde_json::{Value, json};

use crate::config::MockConfig;
use crate::request::{InputUsage, MessagesRequest};

/// Characters of the prompt echoed back in the reply.
const ECHO_CHARS: usize = 200;
/// Characters of the prompt put into a mock tool call's input.
const TOOL_QUERY_CHARS: usize = 50;
const THINKING_TEXT: &str = "Let me think about how to answer this mock request.";

/// One content block of the reply.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Block {
    Thinking { thinking: String, signature: String },
    Text { text: String },
    ToolUse { id: String, name: String, input: Value },
}

impl Block {
    /// The complete block as it appears in a non-streaming Message.
    pub(crate) fn full_json(&self) -> Value {
        match self {
            Self::Thinking { thinking, signature } => {
                json!({"type": "thinking", "thinking": thinking, "signature": signature})
            }
            Self::Text { text } => json!({"type": "text", "text": text}),
            Self::ToolUse { id, name, input } => {
                json!({"type": "tool_use", "id": id, "name": name, "input": input})
            }
        }
    }

    /// The empty block announced by `content_block_start`.
    pub(crate) fn start_json(&self) -> Value {
        match self {
            Self::Thinking { .. } => json!({"type": "thinking", "thinking": "", "signature": ""}),
            Self::Text { .. } => json!({"type": "text", "text": ""}),
            Self::ToolUse { id, name, .. } => {
                json!({"type": "tool_use", "id": id, "name": name, "input": {}})
            }
        }
    }

    /// The text streamed in deltas: prose, thinking, or the tool input's JSON.
    pub(crate) fn streamed_text(&self) -> String {
        match self {
            Self::Thinking { thinking, .. } => thinking.clone(),
            Self::Text { text } => text.clone(),
            Self::ToolUse { input, .. } => input.to_string(),
        }
    }
}

/// Everything the mock answers to one Messages request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reply {
    pub(crate) id: String,
    pub(crate) model: String,
    pub(crate) blocks: Vec<Block>,
    pub(crate) stop_reason: &'static str,
    pub(crate) usage: InputUsage,
    /// Number of whitespace-separated words across all streamed block text.
    pub(crate) output_tokens: u64,
}

impl Reply {
    /// Builds the reply; `object_number` makes the message and tool ids unique.
    pub(crate) fn build(request: &MessagesRequest, config: &MockConfig, object_number: u64) -> Self {
        let mut blocks = Vec::new();
        if request.thinking {
            blocks.push(Block::Thinking {
                thinking: THINKING_TEXT.to_owned(),
                signature: format!("EqMockSignature{object_number:012}"),
            });
        }
        let stop_reason = if request.triggers.tool_use {
            let query: String = normalize(&request.last_text).chars().take(TOOL_QUERY_CHARS).collect();
            blocks.push(Block::ToolUse {
                id: format!("toolu_mock_{object_number:012}"),
                name: request.first_tool_name.clone().unwrap_or_else(|| "mock_tool".to_owned()),
                input: json!({ "query": query }),
            });
            "tool_use"
        } else {
            let words = request.triggers.words.or(config.reply_words);
            blocks.push(Block::Text { text: reply_text(&request.last_text, words) });
            "end_turn"
        };
        let output_tokens = blocks.iter().map(|block| block.streamed_text().split_whitespace().count()).sum::<usize>();
        Self {
            id: format!("msg_mock_{object_number:012}"),
            model: request.model.clone(),
            blocks,
            stop_reason,
            usage: request.usage,
            output_tokens: u64::try_from(output_tokens).unwrap_or(u64::MAX),
        }
    }

    /// The non-streaming Message object.
    pub(crate) fn message_json(&self) -> Value {
        let content: Vec<Value> = self.blocks.iter().map(Block::full_json).collect();
        self.message_with(content, Value::from(self.stop_reason), self.output_tokens)
    }

    /// The message carried by `message_start`: no content, no stop reason yet,
    /// and `output_tokens: 1` as the real API reports at that point.
    pub(crate) fn message_start_json(&self) -> Value {
        self.message_with(Vec::new(), Value::Null, 1)
    }

    fn message_with(&self, content: Vec<Value>, stop_reason: Value, output_tokens: u64) -> Value {
        json!({
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": null,
            "usage": {
                "input_tokens": self.usage.input_tokens,
                "cache_creation_input_tokens": self.usage.cache_creation_input_tokens,
                "cache_read_input_tokens": self.usage.cache_read_input_tokens,
                "output_tokens": output_tokens,
            },
        })
    }
}

/// `Mock reply to: <prompt>`, or exactly `words` words cycling through it.
fn reply_text(last_text: &str, words: Option<usize>) -> String {
    let echo: String = last_text.chars().take(ECHO_CHARS).collect();
    let base = format!("Mock reply to: {echo}");
    let base_words: Vec<&str> = base.split_whitespace().collect();
    let count = words.unwrap_or(base_words.len());
    let mut text = String::new();
    for (i, word) in base_words.iter().cycle().take(count).enumerate() {
        if i > 0 {
            text.push(' ');
        }
        text.push_str(word);
    }
    text
}

fn normalize(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_reply_echoes_prompt() {
        assert_eq!(reply_text("hello\n  there", None), "Mock reply to: hello there");
    }

    #[test]
    fn word_count_is_exact() {
        for n in [0, 1, 2, 5, 1000] {
            assert_eq!(reply_text("hi", Some(n)).split_whitespace().count(), n);
        }
    }

    #[test]
    fn echo_is_cut_at_200_chars() {
        let prompt = "é".repeat(500);
        let text = reply_text(&prompt, None);
        assert_eq!(text.chars().count(), "Mock reply to: ".len() + 200);
    }
}
