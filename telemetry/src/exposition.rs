//! Rendering metrics in the OpenMetrics text format (which Prometheus scrapes
//! natively) and serving them on `GET /metrics`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::Snapshot;

/// The `Content-Type` of [`render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The registry's metrics (histograms, labelled counters) followed by the scrape-time
/// `snapshot`, then the `# EOF` marker.
pub fn render(registry: &Registry, snapshot: Snapshot) -> String {
    let mut scraped = Registry::default();
    scraped.register_collector(Box::new(snapshot));
    let mut text = String::with_capacity(8 * 1024);
    let encoded = encode_registry(&mut text, registry)
        .and_then(|()| encode_registry(&mut text, &scraped))
        .and_then(|()| encode_eof(&mut text));
    match encoded {
        Ok(()) => text,
        // Writing to a String cannot fail; a metric's own encoder could (a bad label).
        Err(_) => {
            tracing::error!("metrics encoding failed");
            String::from("# EOF\n")
        }
    }
}

/// The HTTP response for a rendered exposition.
pub fn metrics_response(text: String) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response()
}

/// Parse a `metrics_listen` setting: an empty value turns the listener off.
pub fn listen_addr(setting: &str) -> Result<Option<SocketAddr>, String> {
    let listen = setting.trim();
    if listen.is_empty() {
        return Ok(None);
    }
    listen.parse().map(Some).map_err(|_| format!("metrics_listen: {listen:?} is not an address like 127.0.0.1:9102"))
}

/// Produces the current exposition (called on every scrape).
pub type Render = Arc<dyn Fn() -> String + Send + Sync>;

/// A standalone `GET /metrics` listener for services without an HTTP server of their
/// own (audit-writer, detector-worker). Stops when dropped.
pub struct MetricsServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl MetricsServer {
    /// Bind `listen` (port 0 picks a free port) and serve `render` on `/metrics`.
    pub async fn start(listen: SocketAddr, render: Render) -> std::io::Result<MetricsServer> {
        Self::start_until(listen, render, std::future::pending()).await
    }

    /// Like [`start`](Self::start), ending when `shutdown` completes.
    pub async fn start_until(
        listen: SocketAddr,
        render: Render,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<MetricsServer> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let router = Router::new().route(
            "/metrics",
            get(move || {
                let render = render.clone();
                async move { metrics_response(render()) }
            }),
        );
        let task = tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, router).with_graceful_shutdown(shutdown).await {
                tracing::warn!(%err, "metrics listener stopped");
            }
        });
        tracing::info!(%addr, "metrics on http://{addr}/metrics");
        Ok(MetricsServer { addr, task })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `GET /metrics` from `addr` over plain HTTP/1.1: the status code and the body.
/// For tests and smoke checks of the services' listeners (no HTTP client needed).
pub async fn scrape(addr: SocketAddr) -> std::io::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: metrics\r\nConnection: close\r\n\r\n").await?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await?;
    let status = reply.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    let body = reply.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default();
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LatencyHistogram, SizeHistogram};

    #[test]
    fn renders_histograms_counters_gauges_and_labels() {
        let mut registry = Registry::default();
        let latency = LatencyHistogram::default();
        registry.register("demo_latency_seconds", "A latency", latency.clone());
        registry.register("demo_batch_size", "A size", SizeHistogram::default());
        latency.observe_micros(300);
        let mut snapshot = Snapshot::default();
        snapshot
            .counter("demo_events", "Events seen", 7)
            .gauge("demo_depth", "Queue depth", 3)
            .gauge_f64("demo_mean", "A mean", 1.5)
            .counter_by("demo_failures", "Failures by reason", "reason", [("timeout".into(), 2), ("busy".into(), 1)])
            .histogram("demo_rtt_seconds", "Round trips", &[0.001, 0.01], &[2, 0, 1], 5.5);
        let text = render(&registry, snapshot);
        for line in [
            "# TYPE demo_latency_seconds histogram",
            "demo_latency_seconds_bucket{le=\"0.0005\"} 1",
            "demo_latency_seconds_bucket{le=\"0.00025\"} 0",
            "demo_latency_seconds_count 1",
            "demo_batch_size_count 0",
            "# TYPE demo_events counter",
            "demo_events_total 7",
            "# TYPE demo_depth gauge",
            "demo_depth 3",
            "demo_mean 1.5",
            "demo_failures_total{reason=\"timeout\"} 2",
            "demo_failures_total{reason=\"busy\"} 1",
            "# TYPE demo_rtt_seconds histogram",
            "demo_rtt_seconds_count 3",
            "demo_rtt_seconds_sum 5.5",
            "demo_rtt_seconds_bucket{le=\"0.001\"} 2",
            "demo_rtt_seconds_bucket{le=\"0.01\"} 2",
            "demo_rtt_seconds_bucket{le=\"+Inf\"} 3",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert_eq!(text.matches("# EOF").count(), 1);
    }

    #[tokio::test]
    async fn the_server_answers_on_metrics() {
        let server = MetricsServer::start(
            "127.0.0.1:0".parse().unwrap(),
            Arc::new(|| {
                let mut snapshot = Snapshot::default();
                snapshot.gauge("demo_up", "Up", 1);
                render(&Registry::default(), snapshot)
            }),
        )
        .await
        .unwrap();
        let (status, body) = scrape(server.addr()).await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, "# HELP demo_up Up.\n# TYPE demo_up gauge\ndemo_up 1\n# EOF\n");
    }
}
