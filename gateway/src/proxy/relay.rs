//! The response body relay: upstream chunks go to the client as they arrive.
//!
//! [`RelayStream`] wraps the upstream byte stream without buffering: each chunk is handed
//! to an observer (token-usage tap) by reference and yielded at once. It enforces the idle
//! timeout (silence between chunks, never a total timeout) and reports how the relay ended
//! exactly once, including when the client went away: dropping the stream drops the
//! upstream response, which closes that connection, so the upstream request is
//! cancelled immediately.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use futures_util::Stream;
use tokio::time::{Instant, Sleep};

/// How a relayed response ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayEnd {
    Complete,
    UpstreamError,
    IdleTimeout,
    ClientGone,
}

/// Sees every relayed chunk and is told once how the relay ended.
pub trait RelayObserver: Send + 'static {
    /// `chunk` is the refcounted buffer being relayed: cloning it does not copy bytes.
    fn on_chunk(&mut self, chunk: &Bytes);
    fn on_end(self: Box<Self>, end: RelayEnd, bytes_out: u64);
}

pub type UpstreamBytes = Pin<Box<dyn Stream<Item = Result<Bytes, reqwest::Error>> + Send>>;

pub struct RelayStream {
    upstream: UpstreamBytes,
    idle_timeout: Duration,
    idle: Pin<Box<Sleep>>,
    is_sse: bool,
    /// The upstream's `content-length`: hyper stops polling once it has sent that many
    /// bytes, so the relay counts itself complete there rather than waiting for an end
    /// of stream it would never see.
    expected_len: Option<u64>,
    bytes_out: u64,
    observer: Option<Box<dyn RelayObserver>>,
    finished: bool,
}

/// The SSE error event sent when the stream stalls, in the shape the API itself uses
/// mid-stream, so SDKs raise a proper error instead of hanging.
fn idle_error_event(timeout: Duration) -> Bytes {
    Bytes::from(format!(
        "event: error\ndata: {{\"type\":\"error\",\"error\":{{\"type\":\"api_error\",\"message\":\"Portcullis gateway: upstream stream idle for {} ms\"}}}}\n\n",
        timeout.as_millis()
    ))
}

impl RelayStream {
    pub fn new(
        upstream: UpstreamBytes,
        idle_timeout: Duration,
        is_sse: bool,
        expected_len: Option<u64>,
        observer: Box<dyn RelayObserver>,
    ) -> Self {
        Self {
            upstream,
            idle_timeout,
            idle: Box::pin(tokio::time::sleep(idle_timeout)),
            is_sse,
            expected_len,
            bytes_out: 0,
            observer: Some(observer),
            finished: false,
        }
    }

    fn end(&mut self, end: RelayEnd) {
        self.finished = true;
        if let Some(observer) = self.observer.take() {
            observer.on_end(end, self.bytes_out);
        }
    }
}

impl Stream for RelayStream {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.finished {
            return Poll::Ready(None);
        }
        match self.upstream.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                let deadline = Instant::now() + self.idle_timeout;
                self.idle.as_mut().reset(deadline);
                self.bytes_out += chunk.len() as u64;
                if let Some(observer) = self.observer.as_mut() {
                    observer.on_chunk(&chunk);
                }
                if self.expected_len.is_some_and(|expected| self.bytes_out >= expected) {
                    self.end(RelayEnd::Complete);
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => {
                tracing::warn!(error = %e, "upstream stream failed");
                self.end(RelayEnd::UpstreamError);
                Poll::Ready(Some(Err(std::io::Error::other(e))))
            }
            Poll::Ready(None) => {
                self.end(RelayEnd::Complete);
                Poll::Ready(None)
            }
            Poll::Pending => match self.idle.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    tracing::warn!(timeout_ms = self.idle_timeout.as_millis() as u64, "upstream stream idle timeout");
                    self.end(RelayEnd::IdleTimeout);
                    if self.is_sse {
                        let event = idle_error_event(self.idle_timeout);
                        Poll::Ready(Some(Ok(event)))
                    } else {
                        Poll::Ready(Some(Err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "upstream idle timeout",
                        ))))
                    }
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl Drop for RelayStream {
    fn drop(&mut self) {
        if !self.finished {
            self.end(RelayEnd::ClientGone);
        }
    }
}
