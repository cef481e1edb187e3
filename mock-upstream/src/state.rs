//! Shared state of one mock server: its configuration, the log of every request
//! it received, id counters and the count of streams abandoned by their client.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;

use crate::config::MockConfig;

/// One request exactly as the mock received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// Path without the query string, e.g. `/v1/messages`.
    pub path: String,
    /// Raw query string without `?`, e.g. `beta=true`.
    pub query: Option<String>,
    /// Headers with lowercase names, in the order they were first seen
    /// (repeated headers are adjacent). Values that are not UTF-8 are kept lossily.
    pub headers: Vec<(String, String)>,
    /// The exact body bytes received.
    pub body: Bytes,
}

impl RecordedRequest {
    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }

    /// Every value of header `name` (case-insensitive), in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str()).collect()
    }

    /// The body parsed as JSON, if it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// Cheaply clonable handle on a mock server's state; pass it to [`crate::router`].
#[derive(Debug, Clone)]
pub struct MockState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: MockConfig,
    requests: Mutex<Vec<RecordedRequest>>,
    request_seq: AtomicU64,
    object_seq: AtomicU64,
    // A watch channel rather than an atomic so tests can await a count.
    cancelled_streams: watch::Sender<usize>,
    connections: AtomicU64,
}

impl MockState {
    /// Fresh state with nothing recorded.
    pub fn new(config: MockConfig) -> Self {
        let (cancelled_streams, _) = watch::channel(0);
        Self {
            inner: Arc::new(Inner {
                config,
                requests: Mutex::new(Vec::new()),
                request_seq: AtomicU64::new(0),
                object_seq: AtomicU64::new(0),
                cancelled_streams,
                connections: AtomicU64::new(0),
            }),
        }
    }

    /// The configuration this server runs with.
    pub fn config(&self) -> &MockConfig {
        &self.inner.config
    }

    /// Every request received so far (any path, accepted or rejected), oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock_requests().clone()
    }

    /// Number of requests received so far (any path).
    pub fn call_count(&self) -> usize {
        self.lock_requests().len()
    }

    /// TCP connections accepted so far.
    pub fn connection_count(&self) -> u64 {
        self.inner.connections.load(Ordering::Relaxed)
    }

    pub(crate) fn connection_accepted(&self) {
        self.inner.connections.fetch_add(1, Ordering::Relaxed);
    }

    /// Forgets recorded requests and zeroes the cancelled-stream counter.
    pub fn reset(&self) {
        self.lock_requests().clear();
        self.inner.cancelled_streams.send_replace(0);
    }

    /// Streams whose client went away before `message_stop` (or the final
    /// mid-stream `error` event) was sent.
    pub fn cancelled_streams(&self) -> usize {
        *self.inner.cancelled_streams.borrow()
    }

    /// Waits until at least `n` streams were cancelled; false on timeout.
    pub async fn wait_for_cancelled_streams(&self, n: usize, timeout: Duration) -> bool {
        let mut receiver = self.inner.cancelled_streams.subscribe();
        tokio::time::timeout(timeout, receiver.wait_for(|count| *count >= n)).await.is_ok_and(|result| result.is_ok())
    }

    pub(crate) fn record(&self, request: RecordedRequest) {
        self.lock_requests().push(request);
    }

    pub(crate) fn record_cancelled_stream(&self) {
        self.inner.cancelled_streams.send_modify(|count| *count += 1);
    }

    /// Next `request-id` header value, e.g. `req_mock_000000000001`.
    pub(crate) fn next_request_id(&self) -> String {
        let n = self.inner.request_seq.fetch_add(1, Ordering::Relaxed) + 1;
        format!("req_mock_{n:012}")
    }

    /// Next object number for message and tool-use ids.
    pub(crate) fn next_object_number(&self) -> u64 {
        self.inner.object_seq.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn lock_requests(&self) -> MutexGuard<'_, Vec<RecordedRequest>> {
        // A panic while holding the lock cannot leave the Vec half-updated, so a
        // poisoned lock is still safe to use.
        self.inner.requests.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
