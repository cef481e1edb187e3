//! Knobs of the mock: how fast it streams and how long its replies are.

use std::time::Duration;

/// Behaviour of a mock server. Build with struct-update syntax:
/// `MockConfig { chunk_delay: Duration::from_millis(20), ..Default::default() }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockConfig {
    /// Delay before every SSE event after `message_start` (default 0). A request
    /// header `x-mock-chunk-delay-ms: N` overrides it for that request.
    pub chunk_delay: Duration,
    /// Words carried by each `text_delta` / `thinking_delta` /
    /// `input_json_delta` event (default 1; 0 is treated as 1).
    pub words_per_chunk: usize,
    /// When set, every text reply has exactly this many words (the prompt's
    /// `[[mock:words=N]]` trigger still wins). Default: the natural reply
    /// `Mock reply to: <prompt>`.
    pub reply_words: Option<usize>,
    /// Concurrent HTTP/2 streams per connection (`SETTINGS_MAX_CONCURRENT_STREAMS`),
    /// as real servers cap them; HTTP/2 is spoken to clients that use prior
    /// knowledge (h2c). Default 100; `None` lifts the cap.
    pub http2_max_concurrent_streams: Option<u32>,
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            chunk_delay: Duration::ZERO,
            words_per_chunk: 1,
            reply_words: None,
            http2_max_concurrent_streams: Some(100),
        }
    }
}
