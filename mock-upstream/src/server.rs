//! Serving the router on a TCP listener, and [`MockUpstream`], the in-process
//! server handle tests use.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tower::ServiceExt;

use crate::config::MockConfig;
use crate::routes::router;
use crate::state::{MockState, RecordedRequest};

/// Pause after a failed `accept` (e.g. out of file descriptors) before retrying.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(10);

/// Serves the mock on `listener` (HTTP/1.1 and h2c) until the future is dropped.
/// Connection tasks are owned by this future, so dropping it also cuts every open
/// connection, in-flight streams included.
pub async fn serve(listener: TcpListener, state: MockState) {
    let app = router(state.clone());
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    // Streams must reach the client event by event.
                    if let Err(error) = stream.set_nodelay(true) {
                        tracing::debug!(%error, "set_nodelay failed");
                    }
                    state.connection_accepted();
                    let app = app.clone();
                    let max_streams = state.config().http2_max_concurrent_streams;
                    connections.spawn(async move {
                        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                            app.clone().oneshot(request.map(Body::new))
                        });
                        let mut builder = auto::Builder::new(TokioExecutor::new());
                        builder.http2().max_concurrent_streams(max_streams);
                        let served = builder
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                        if let Err(error) = served {
                            tracing::debug!(%peer, %error, "mock-upstream connection ended with an error");
                        }
                    });
                }
                Err(error) => {
                    tracing::warn!(%error, "mock-upstream accept failed");
                    tokio::time::sleep(ACCEPT_RETRY_DELAY).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// A mock server running in the current tokio runtime. Dropping it stops the
/// server and closes its open connections.
#[derive(Debug)]
pub struct MockUpstream {
    state: MockState,
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl MockUpstream {
    /// Starts a server on `127.0.0.1` with an OS-chosen port.
    pub async fn start(config: MockConfig) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        Self::start_on(listener, config)
    }

    /// Starts a server on an already bound listener.
    pub fn start_on(listener: TcpListener, config: MockConfig) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let state = MockState::new(config);
        let task = tokio::spawn(serve(listener, state.clone()));
        Ok(Self { state, addr, task })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL, e.g. `http://127.0.0.1:40123` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The shared state (recorded requests, counters).
    pub fn state(&self) -> &MockState {
        &self.state
    }

    /// See [`MockState::requests`].
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.requests()
    }

    /// See [`MockState::call_count`].
    pub fn call_count(&self) -> usize {
        self.state.call_count()
    }

    /// See [`MockState::reset`].
    pub fn reset(&self) {
        self.state.reset();
    }

    /// See [`MockState::cancelled_streams`].
    pub fn cancelled_streams(&self) -> usize {
        self.state.cancelled_streams()
    }

    /// See [`MockState::wait_for_cancelled_streams`].
    pub async fn wait_for_cancelled_streams(&self, n: usize, timeout: Duration) -> bool {
        self.state.wait_for_cancelled_streams(n, timeout).await
    }
}

impl Drop for MockUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}
