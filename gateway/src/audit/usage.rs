//! Token usage read from upstream responses.
//!
//! [`UsageTap`] is fed every chunk the gateway relays to the client, *after*
//! (or while) the chunk is handed on: it borrows the bytes, never holds the
//! chunk, and keeps only the few SSE events it needs (`message_start`,
//! `message_delta`, `error`). Large `content_block_delta` events are skipped
//! without copying their data, so a long stream costs a line scan and nothing
//! else. Events split across chunks at any byte are handled.
//!
//! [`UsageTap::from_json_response`] reads the same numbers from a
//! non-streaming Messages API response.
//!
//! Responses of the OpenAI compatibility endpoint (`/v1/chat/completions`) count
//! the same tokens under OpenAI's names: `prompt_tokens` (with
//! `prompt_tokens_details.cached_tokens`) and `completion_tokens`, in the JSON
//! body or in a stream's `chat.completion.chunk` (which has no `event:` line),
//! and the stop reason as `choices[0].finish_reason`. They are read into the
//! same fields, so token analytics cover both APIs.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Tokens and outcome of one Messages API response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_creation_input_tokens: u64,
    pub cache_read_input_tokens: u64,
    pub stop_reason: Option<String>,
    /// `"<error.type>: <error.message>"` of an `error` event in the stream or
    /// of an error body of a non-streaming response.
    pub stream_error: Option<String>,
}

/// Longest SSE line kept while looking for usage; a longer line in an event
/// we need is dropped (and its event ignored) rather than buffered without bound.
const MAX_KEPT_LINE: usize = 256 * 1024;

/// Events that never carry usage: their data lines are skipped, not buffered.
const SKIPPED_EVENTS: [&str; 4] = ["content_block_delta", "content_block_start", "content_block_stop", "ping"];

/// Incremental SSE parser extracting [`Usage`] from a Messages API stream.
#[derive(Debug, Default)]
pub struct UsageTap {
    usage: Usage,
    /// Bytes of the current, incomplete line (only while the line is kept).
    line: Vec<u8>,
    /// Length of the current line so far, kept or not (0 = at line start).
    line_len: usize,
    /// The current line is longer than [`MAX_KEPT_LINE`]: its bytes are dropped.
    line_overflowed: bool,
    /// `event:` name of the event being read.
    event_name: Option<String>,
    /// The current event is one of [`SKIPPED_EVENTS`]: ignore its data lines.
    skipping: bool,
    /// Concatenated `data:` lines of the current event.
    data: Vec<u8>,
    /// The current event lost a line to the size cap: do not interpret it.
    event_damaged: bool,
}

impl UsageTap {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed the next chunk exactly as relayed to the client.
    pub fn observe(&mut self, chunk: &[u8]) {
        let mut rest = chunk;
        while !rest.is_empty() {
            match rest.iter().position(|&b| b == b'\n') {
                Some(end) => {
                    self.take_partial(&rest[..end]);
                    self.end_line();
                    rest = &rest[end + 1..];
                }
                None => {
                    self.take_partial(rest);
                    rest = &[];
                }
            }
        }
    }

    /// Usage seen so far.
    pub fn usage(&self) -> &Usage {
        &self.usage
    }

    /// End of stream: interpret a last event that had no terminating blank
    /// line, and return the usage.
    pub fn finish(mut self) -> Usage {
        if self.line_len > 0 {
            self.end_line();
        }
        self.dispatch();
        self.usage
    }

    /// Usage of a non-streaming response body (`{"type":"message","usage":..}`
    /// or an error body). Unparseable bodies give all zeros.
    pub fn from_json_response(body: &[u8]) -> Usage {
        let mut usage = Usage::default();
        if let Ok(value) = serde_json::from_slice::<Value>(body) {
            apply_usage(&mut usage, value.get("usage"));
            if let Some(reason) = value.get("stop_reason").and_then(Value::as_str).or_else(|| finish_reason(&value)) {
                usage.stop_reason = Some(reason.to_owned());
            }
            if value.get("type").and_then(Value::as_str) == Some("error") {
                usage.stream_error = Some(describe_error(&value));
            }
        }
        usage
    }

    fn take_partial(&mut self, bytes: &[u8]) {
        if self.skipping {
            // Only the blank line that ends the event matters here: remember
            // the first byte of the line (to tell a lone "\r" from data), copy
            // nothing else.
            if self.line_len == 0
                && let Some(&first) = bytes.first()
            {
                self.line.push(first);
            }
            self.line_len += bytes.len();
            return;
        }
        self.line_len += bytes.len();
        self.keep_bytes(bytes);
    }

    fn keep_bytes(&mut self, bytes: &[u8]) {
        if self.line_overflowed {
            return;
        }
        if self.line.len() + bytes.len() > MAX_KEPT_LINE {
            self.line_overflowed = true;
            self.line.clear();
            return;
        }
        self.line.extend_from_slice(bytes);
    }

    fn end_line(&mut self) {
        let overflowed = std::mem::take(&mut self.line_overflowed);
        let empty = self.line_len == 0 || (self.line_len == 1 && self.line == b"\r");
        let mut line = std::mem::take(&mut self.line);
        self.line_len = 0;
        if empty {
            self.dispatch();
            return;
        }
        if overflowed {
            if !self.skipping {
                self.event_damaged = true;
            }
            return;
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if let Some(value) = field_value(&line, b"event") {
            let name = String::from_utf8_lossy(value).into_owned();
            self.skipping = SKIPPED_EVENTS.contains(&name.as_str());
            self.event_name = Some(name);
        } else if self.skipping {
            // data/id/retry lines of an event we do not need.
        } else if let Some(value) = field_value(&line, b"data") {
            if !self.data.is_empty() {
                self.data.push(b'\n');
            }
            if self.data.len() + value.len() > MAX_KEPT_LINE {
                self.event_damaged = true;
            } else {
                self.data.extend_from_slice(value);
            }
        }
        // Reuse the allocation for the next line.
        line.clear();
        self.line = line;
    }

    /// A blank line ends an event: interpret it and reset.
    fn dispatch(&mut self) {
        let name = self.event_name.take();
        let skipping = std::mem::take(&mut self.skipping);
        let damaged = std::mem::take(&mut self.event_damaged);
        let data = std::mem::take(&mut self.data);
        if skipping || damaged || data.is_empty() {
            return;
        }
        let Ok(value) = serde_json::from_slice::<Value>(&data) else {
            return;
        };
        // The data's own `type` names the event when there was no `event:` line.
        let kind = name.as_deref().or_else(|| value.get("type").and_then(Value::as_str)).unwrap_or_default();
        match kind {
            "message_start" => {
                apply_usage(&mut self.usage, value.get("message").and_then(|m| m.get("usage")));
            }
            "message_delta" => {
                apply_usage(&mut self.usage, value.get("usage"));
                if let Some(reason) = value.get("delta").and_then(|d| d.get("stop_reason")).and_then(Value::as_str) {
                    self.usage.stop_reason = Some(reason.to_owned());
                }
            }
            "error" => self.usage.stream_error = Some(describe_error(&value)),
            _ if value.get("object").and_then(Value::as_str) == Some("chat.completion.chunk") => {
                apply_usage(&mut self.usage, value.get("usage"));
                if let Some(reason) = finish_reason(&value) {
                    self.usage.stop_reason = Some(reason.to_owned());
                }
            }
            _ => {}
        }
    }
}

/// `choices[0].finish_reason` of an OpenAI-shaped response or chunk, when set.
fn finish_reason(value: &Value) -> Option<&str> {
    value.get("choices")?.get(0)?.get("finish_reason")?.as_str()
}

/// The value of an SSE field line `name: value` / `name:value`.
fn field_value<'a>(line: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let rest = line.strip_prefix(name)?.strip_prefix(b":")?;
    Some(rest.strip_prefix(b" ").unwrap_or(rest))
}

/// Overwrite the counters present in a `usage` object. Anthropic's counts are
/// cumulative (message_delta repeats the totals so far), so assignment, not
/// addition, is right.
fn apply_usage(usage: &mut Usage, object: Option<&Value>) {
    let Some(object) = object else { return };
    let read = |key: &str| object.get(key).and_then(Value::as_u64);
    if let Some(n) = read("input_tokens") {
        usage.input_tokens = n;
    }
    if let Some(n) = read("output_tokens") {
        usage.output_tokens = n;
    }
    if let Some(n) = read("cache_creation_input_tokens") {
        usage.cache_creation_input_tokens = n;
    }
    if let Some(n) = read("cache_read_input_tokens") {
        usage.cache_read_input_tokens = n;
    }
    // OpenAI's names (the compatibility endpoint); a Messages response has none of them.
    if let Some(n) = read("prompt_tokens") {
        usage.input_tokens = n;
    }
    if let Some(n) = read("completion_tokens") {
        usage.output_tokens = n;
    }
    if let Some(n) = object.get("prompt_tokens_details").and_then(|d| d.get("cached_tokens")).and_then(Value::as_u64) {
        usage.cache_read_input_tokens = n;
    }
}

fn describe_error(value: &Value) -> String {
    let error = value.get("error");
    let kind = error.and_then(|e| e.get("type")).and_then(Value::as_str).unwrap_or("error");
    match error.and_then(|e| e.get("message")).and_then(Value::as_str) {
        Some(message) => format!("{kind}: {message}"),
        None => kind.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &str = concat!(
        "event: message_start\n",
        "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-sonnet-4-5\",\"stop_reason\":null,\"usage\":{\"input_tokens\":25,\"cache_creation_input_tokens\":100,\"cache_read_input_tokens\":2000,\"output_tokens\":1}}}\n",
        "\n",
        "event: content_block_start\n",
        "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n",
        "\n",
        "event: ping\n",
        "data: {\"type\": \"ping\"}\n",
        "\n",
        "event: content_block_delta\n",
        "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello \\\"usage\\\": {\\\"output_tokens\\\": 999}\"}}\n",
        "\n",
        "event: content_block_stop\n",
        "data: {\"type\":\"content_block_stop\",\"index\":0}\n",
        "\n",
        "event: message_delta\n",
        "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":15}}\n",
        "\n",
        "event: message_stop\n",
        "data: {\"type\":\"message_stop\"}\n",
        "\n",
    );

    fn expected() -> Usage {
        Usage {
            input_tokens: 25,
            output_tokens: 15,
            cache_creation_input_tokens: 100,
            cache_read_input_tokens: 2000,
            stop_reason: Some("end_turn".into()),
            stream_error: None,
        }
    }

    #[test]
    fn whole_stream_in_one_chunk() {
        let mut tap = UsageTap::new();
        tap.observe(STREAM.as_bytes());
        assert_eq!(tap.finish(), expected());
    }

    #[test]
    fn every_split_point_gives_the_same_usage() {
        let bytes = STREAM.as_bytes();
        for split in 0..=bytes.len() {
            let mut tap = UsageTap::new();
            tap.observe(&bytes[..split]);
            tap.observe(&bytes[split..]);
            assert_eq!(tap.finish(), expected(), "split at {split}");
        }
    }

    #[test]
    fn byte_by_byte_and_crlf() {
        let crlf = STREAM.replace('\n', "\r\n");
        let mut tap = UsageTap::new();
        for b in crlf.as_bytes() {
            tap.observe(std::slice::from_ref(b));
        }
        assert_eq!(tap.finish(), expected());
    }

    #[test]
    fn mid_stream_error_is_reported() {
        let stream = concat!(
            "event: message_start\n",
            "data: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":7,\"output_tokens\":1}}}\n\n",
            "event: error\n",
            "data: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
        );
        let mut tap = UsageTap::new();
        tap.observe(stream.as_bytes());
        assert_eq!(tap.usage().stream_error.as_deref(), Some("overloaded_error: Overloaded"));
        let usage = tap.finish();
        assert_eq!(usage.input_tokens, 7);
        assert_eq!(usage.output_tokens, 1);
    }

    #[test]
    fn data_without_event_line_and_unterminated_last_event() {
        let stream = "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\"},\"usage\":{\"output_tokens\":3}}";
        let mut tap = UsageTap::new();
        tap.observe(stream.as_bytes());
        let usage = tap.finish();
        assert_eq!(usage.output_tokens, 3);
        assert_eq!(usage.stop_reason.as_deref(), Some("max_tokens"));
    }

    #[test]
    fn huge_deltas_are_not_buffered_and_garbage_is_harmless() {
        let mut tap = UsageTap::new();
        tap.observe(b"event: content_block_delta\ndata: ");
        let big = vec![b'x'; 1024 * 1024];
        tap.observe(&big);
        assert!(tap.line.len() <= 1, "skipped event data must not be kept");
        tap.observe(b"\n\n");
        tap.observe(b"event: message_start\ndata: {not json\n\n\xff\xfe\n\n");
        tap.observe(&big);
        tap.observe(b"\n\n");
        tap.observe(STREAM.as_bytes());
        assert_eq!(tap.finish(), expected());
    }

    #[test]
    fn non_streaming_response() {
        let body = br#"{"id":"msg_1","type":"message","role":"assistant","content":[{"type":"text","text":"hi"}],"model":"m","stop_reason":"tool_use","usage":{"input_tokens":10,"output_tokens":4,"cache_creation_input_tokens":0,"cache_read_input_tokens":5}}"#;
        let usage = UsageTap::from_json_response(body);
        assert_eq!(usage.input_tokens, 10);
        assert_eq!(usage.output_tokens, 4);
        assert_eq!(usage.cache_read_input_tokens, 5);
        assert_eq!(usage.stop_reason.as_deref(), Some("tool_use"));
        let error = br#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#;
        let usage = UsageTap::from_json_response(error);
        assert_eq!(usage.stream_error.as_deref(), Some("authentication_error: invalid x-api-key"));
        assert_eq!(UsageTap::from_json_response(b"not json"), Usage::default());
    }

    #[test]
    fn openai_shaped_usage_is_read_into_the_same_fields() {
        let body = br#"{"object":"chat.completion","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"hi"}}],"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17,"prompt_tokens_details":{"cached_tokens":4}}}"#;
        let usage = UsageTap::from_json_response(body);
        assert_eq!((usage.input_tokens, usage.output_tokens, usage.cache_read_input_tokens), (12, 5, 4));
        assert_eq!(usage.stop_reason.as_deref(), Some("stop"));
        let stream = concat!(
            "data: {\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":null}]}\n\n",
            "data: {\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}\n\n",
            "data: {\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":30,\"completion_tokens\":8}}\n\n",
            "data: [DONE]\n\n",
        );
        let mut tap = UsageTap::new();
        tap.observe(stream.as_bytes());
        let usage = tap.finish();
        assert_eq!((usage.input_tokens, usage.output_tokens), (30, 8));
        assert_eq!(usage.stop_reason.as_deref(), Some("length"));
    }
}
