//! [`AuditObserver`]: the relay observer that reads token usage from the relayed bytes
//! and finishes the request's audit record when the relay ends.
//!
//! SSE responses go through the incremental [`UsageTap`]. JSON responses are kept as
//! refcounted chunks (no copy while relaying) up to a bound and parsed once at the end.

use axum::body::Bytes;

use super::relay::{RelayEnd, RelayObserver};
use crate::audit::{Usage, UsageTap};
use crate::record::RequestRecord;

/// JSON bodies larger than this are not parsed for usage (a Messages API response
/// with 64k output tokens is ~300 KB).
const MAX_JSON_FOR_USAGE: usize = 8 * 1024 * 1024;

enum Tap {
    Sse(UsageTap),
    Json { chunks: Vec<Bytes>, len: usize },
    Skip,
}

pub struct AuditObserver {
    record: RequestRecord,
    status: u16,
    tap: Tap,
}

impl AuditObserver {
    pub fn new(record: RequestRecord, status: u16, is_sse: bool, is_json: bool) -> AuditObserver {
        let tap = if is_sse {
            Tap::Sse(UsageTap::new())
        } else if is_json {
            Tap::Json { chunks: Vec::new(), len: 0 }
        } else {
            Tap::Skip
        };
        AuditObserver { record, status, tap }
    }
}

impl RelayObserver for AuditObserver {
    fn on_chunk(&mut self, chunk: &Bytes) {
        match &mut self.tap {
            Tap::Sse(tap) => tap.observe(chunk),
            Tap::Json { chunks, len } => {
                *len += chunk.len();
                if *len > MAX_JSON_FOR_USAGE {
                    self.tap = Tap::Skip;
                } else {
                    chunks.push(chunk.clone());
                }
            }
            Tap::Skip => {}
        }
    }

    fn on_end(self: Box<Self>, end: RelayEnd, bytes_out: u64) {
        let usage = match self.tap {
            Tap::Sse(tap) => tap.finish(),
            Tap::Json { chunks, .. } if end == RelayEnd::Complete => {
                let body: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
                UsageTap::from_json_response(&body)
            }
            _ => Usage::default(),
        };
        self.record.finish_relay(self.status, usage, end, bytes_out);
    }
}
