//! Streaming rendering of a [`Reply`]: the documented Messages SSE event
//! sequence, generated one event at a time with a delay between events, with a
//! guard that counts streams abandoned by their client.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use serde_json::{Value, json};

use crate::errors::ApiError;
use crate::reply::{Block, Reply};
use crate::state::MockState;

/// Deltas sent before the `[[mock:midstream_error]]` error event.
const DELTAS_BEFORE_MIDSTREAM_ERROR: usize = 3;

/// One `event: NAME\ndata: JSON\n\n` frame.
pub(crate) fn frame(name: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

#[derive(Debug, Clone, Copy)]
enum DeltaKind {
    Text,
    Thinking,
    InputJson,
}

impl DeltaKind {
    fn of(block: &Block) -> Self {
        match block {
            Block::Thinking { .. } => Self::Thinking,
            Block::Text { .. } => Self::Text,
            Block::ToolUse { .. } => Self::InputJson,
        }
    }

    fn delta(self, chunk: &str) -> Value {
        match self {
            Self::Text => json!({"type": "text_delta", "text": chunk}),
            Self::Thinking => json!({"type": "thinking_delta", "thinking": chunk}),
            Self::InputJson => json!({"type": "input_json_delta", "partial_json": chunk}),
        }
    }
}

#[derive(Debug)]
enum Step {
    Frame(Bytes),
    /// A block's text, cut into `content_block_delta` events lazily so long
    /// replies are never rendered in full up front.
    Deltas {
        index: usize,
        kind: DeltaKind,
        text: String,
    },
}

/// The remaining events of one stream, produced on demand.
#[derive(Debug)]
pub(crate) struct EventScript {
    steps: VecDeque<Step>,
    /// Byte offset into the text of the `Deltas` step at the front.
    cursor: usize,
    words_per_chunk: usize,
}

impl EventScript {
    /// The full event sequence for `reply`; with `midstream_error` the stream is
    /// cut after a few deltas by an `overloaded_error` event.
    pub(crate) fn new(reply: &Reply, words_per_chunk: usize, midstream_error: bool) -> Self {
        let words_per_chunk = words_per_chunk.max(1);
        let mut steps = VecDeque::new();
        steps.push_back(Step::Frame(frame(
            "message_start",
            &json!({"type": "message_start", "message": reply.message_start_json()}),
        )));
        let mut deltas_left = DELTAS_BEFORE_MIDSTREAM_ERROR;
        for (index, block) in reply.blocks.iter().enumerate() {
            steps.push_back(Step::Frame(frame(
                "content_block_start",
                &json!({"type": "content_block_start", "index": index, "content_block": block.start_json()}),
            )));
            if index == 0 {
                steps.push_back(Step::Frame(frame("ping", &json!({"type": "ping"}))));
            }
            let mut text = block.streamed_text();
            if midstream_error {
                let end = chunk_end(&text, 0, words_per_chunk * deltas_left);
                let sent = count_chunks(&text[..end], words_per_chunk);
                text.truncate(end);
                deltas_left = deltas_left.saturating_sub(sent);
            }
            steps.push_back(Step::Deltas { index, kind: DeltaKind::of(block), text });
            if midstream_error && deltas_left == 0 {
                break;
            }
            if let Block::Thinking { signature, .. } = block {
                steps.push_back(Step::Frame(frame(
                    "content_block_delta",
                    &json!({"type": "content_block_delta", "index": index,
                            "delta": {"type": "signature_delta", "signature": signature}}),
                )));
            }
            steps.push_back(Step::Frame(frame(
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": index}),
            )));
        }
        if midstream_error {
            let error = ApiError::Overloaded("Overloaded".to_owned());
            steps.push_back(Step::Frame(frame("error", &error.body())));
        } else {
            steps.push_back(Step::Frame(frame(
                "message_delta",
                &json!({"type": "message_delta",
                        "delta": {"stop_reason": reply.stop_reason, "stop_sequence": null},
                        "usage": {"output_tokens": reply.output_tokens}}),
            )));
            steps.push_back(Step::Frame(frame("message_stop", &json!({"type": "message_stop"}))));
        }
        Self { steps, cursor: 0, words_per_chunk }
    }

    /// True once the final event (`message_stop` or `error`) has been produced.
    pub(crate) fn is_done(&self) -> bool {
        self.steps.is_empty()
    }
}

impl Iterator for EventScript {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        loop {
            match self.steps.front()? {
                Step::Frame(_) => {
                    if let Some(Step::Frame(bytes)) = self.steps.pop_front() {
                        return Some(bytes);
                    }
                }
                Step::Deltas { index, kind, text } => {
                    if self.cursor < text.len() {
                        let end = chunk_end(text, self.cursor, self.words_per_chunk);
                        let data = json!({"type": "content_block_delta", "index": index,
                                          "delta": kind.delta(&text[self.cursor..end])});
                        self.cursor = end;
                        return Some(frame("content_block_delta", &data));
                    }
                    self.steps.pop_front();
                    self.cursor = 0;
                }
            }
        }
    }
}

/// Byte offset where the chunk of `words` words starting at `start` ends: just
/// before the whitespace preceding the next word, so the next chunk starts with
/// that whitespace and all chunks concatenate back to `text`.
fn chunk_end(text: &str, start: usize, words: usize) -> usize {
    let mut seen = 0;
    let mut in_word = false;
    for (offset, ch) in text[start..].char_indices() {
        if ch.is_whitespace() {
            if in_word {
                seen += 1;
                in_word = false;
                if seen >= words {
                    return start + offset;
                }
            }
        } else {
            in_word = true;
        }
    }
    text.len()
}

fn count_chunks(text: &str, words_per_chunk: usize) -> usize {
    let mut count = 0;
    let mut cursor = 0;
    while cursor < text.len() {
        cursor = chunk_end(text, cursor, words_per_chunk);
        count += 1;
    }
    count
}

/// Counts the stream as cancelled if it is dropped before its last event.
struct CancelGuard {
    state: MockState,
    finished: bool,
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        if !self.finished {
            tracing::debug!("mock-upstream stream dropped before its last event");
            self.state.record_cancelled_stream();
        }
    }
}

/// An incremental response body playing `script`, waiting `delay` before every
/// event after the first. Dropping it early (client gone) stops generation and
/// bumps the state's cancelled-stream counter.
pub(crate) fn event_stream_body(script: EventScript, delay: Duration, state: MockState) -> Body {
    let guard = CancelGuard { state, finished: false };
    let stream =
        futures_util::stream::unfold((script, guard, true), move |(mut script, mut guard, first)| async move {
            if script.is_done() {
                return None;
            }
            if !first && !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let event = script.next()?;
            guard.finished = script.is_done();
            Some((Ok::<_, Infallible>(event), (script, guard, false)))
        });
    Body::from_stream(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_concatenate_to_text() {
        let text = "one two  three\nfour five";
        for words in 1..4 {
            let mut cursor = 0;
            let mut rebuilt = String::new();
            while cursor < text.len() {
                let end = chunk_end(text, cursor, words);
                assert!(end > cursor);
                rebuilt.push_str(&text[cursor..end]);
                cursor = end;
            }
            assert_eq!(rebuilt, text);
        }
        assert_eq!(count_chunks("a b c d e", 2), 3);
        assert_eq!(count_chunks("", 2), 0);
    }
}
