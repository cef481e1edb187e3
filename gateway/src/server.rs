//! Serving the router with hyper: HTTP/1.1 and h2c on one port, header hard caps, and
//! graceful shutdown that lets in-flight streams finish.
//!
//! HTTP/1.1 connections (every SDK and Claude Code) are recognised by peeking at their
//! first bytes and served by hyper's HTTP/1 connection directly; only what may be h2c
//! goes through the auto-detecting builder. Through it, every open HTTP/1.1 stream held a
//! 16 KB rewind/read buffer and a connection task of 3.5 KB instead of 1 KB (heaptrack,
//! 1,000 concurrent streams).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};

use crate::state::AppState;

/// How long a client may take to send a request head (and its first bytes).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long shutdown waits for in-flight requests (long streams) before giving up.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let limits = state.config().limits;
    let router = crate::build_router(state.clone());
    // Hard caps sit above the configured limits; see `limits` for why.
    let max_headers = limits.max_headers.saturating_mul(2).max(200);
    let max_buf_size = limits.max_header_bytes.saturating_mul(2).max(64 * 1024);
    let mut auto_builder = auto::Builder::new(TokioExecutor::new());
    auto_builder
        .http1()
        .max_headers(max_headers)
        .max_buf_size(max_buf_size)
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    auto_builder
        .http2()
        .max_header_list_size(u32::try_from(limits.max_header_bytes.saturating_mul(2)).unwrap_or(u32::MAX));
    let mut http1_builder = http1::Builder::new();
    http1_builder
        .max_headers(max_headers)
        .max_buf_size(max_buf_size)
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let builders = Arc::new((http1_builder, auto_builder));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    // Tells connections still waiting for their first bytes that shutdown has begun.
    let (stopping_tx, stopping_rx) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _peer) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // Typically EMFILE: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let service = TowerToHyperService::new(router.clone());
                let builders = builders.clone();
                let watcher = graceful.watcher();
                let mut stopping = stopping_rx.clone();
                tokio::spawn(async move {
                    let (http1_builder, auto_builder) = &*builders;
                    let opening = tokio::select! {
                        opening = Opening::of(&stream, HEADER_READ_TIMEOUT) => opening,
                        // A connection that has not sent a byte yet is idle: close it.
                        _ = stopping.wait_for(|stopping| *stopping) => return,
                    };
                    let result = match opening {
                        Opening::Silent => return,
                        Opening::Http1 => {
                            watcher.watch(http1_builder.serve_connection(TokioIo::new(stream), service)).await.map_err(Into::into)
                        }
                        // Boxed so that the task is sized for the HTTP/1 connection it
                        // almost always serves, not for the larger auto/HTTP/2 one.
                        Opening::Undecided => {
                            Box::pin(watcher.watch(auto_builder.serve_connection_with_upgrades(TokioIo::new(stream), service))).await
                        }
                    };
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    let _ = stopping_tx.send(true);
    tracing::info!("shutting down: draining in-flight requests");
    // Dashboard live streams never end by themselves: close them so they do not hold the drain.
    crate::dashboard::live::close_streams(&state);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await.is_err() {
        tracing::warn!("drain timed out after {DRAIN_TIMEOUT:?}");
    }
    Ok(())
}

/// What a connection's first bytes say, read without consuming them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opening {
    /// An HTTP/1 request line (not the h2c preface `PRI * HTTP/2.0`).
    Http1,
    /// The h2c preface, or fewer than three bytes so far: the auto builder reads on
    /// and applies its own timeout.
    Undecided,
    /// Closed, or not a byte within the header read timeout: closed at once rather
    /// than handed to the auto builder, which would wait as long again.
    Silent,
}

impl Opening {
    async fn of(stream: &TcpStream, wait: Duration) -> Opening {
        let mut first = [0u8; 3];
        match tokio::time::timeout(wait, stream.peek(&mut first)).await {
            Ok(Ok(3)) if &first != b"PRI" => Opening::Http1,
            Ok(Ok(0) | Err(_)) | Err(_) => Opening::Silent,
            Ok(Ok(_)) => Opening::Undecided,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// The server side of a fresh loopback connection after the client sent `bytes`
    /// (and closed, when `close`).
    async fn opening_after(bytes: &[u8], close: bool) -> Opening {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        client.write_all(bytes).await.unwrap();
        if close {
            client.shutdown().await.unwrap();
        }
        // Let the bytes cross loopback before peeking.
        tokio::time::sleep(Duration::from_millis(50)).await;
        Opening::of(&server, Duration::from_millis(200)).await
    }

    #[tokio::test]
    async fn openings_are_told_apart_by_their_first_bytes() {
        assert_eq!(opening_after(b"POST /v1/messages HTTP/1.1\r\n", false).await, Opening::Http1);
        assert_eq!(opening_after(b"PRI * HTTP/2.0\r\n", false).await, Opening::Undecided);
        assert_eq!(opening_after(b"PO", false).await, Opening::Undecided);
        // Nothing within the wait, or closed before a byte: closed at once.
        assert_eq!(opening_after(b"", false).await, Opening::Silent);
        assert_eq!(opening_after(b"", true).await, Opening::Silent);
    }
}
