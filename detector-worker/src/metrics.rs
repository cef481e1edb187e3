//! `GET /metrics` of a worker: the engine's queue, batch and inference
//! figures in the Prometheus format, on the `metrics_listen` address.
//!
//! Histograms (batch size, inference time, queue wait) are observed by the
//! model thread; the counters and gauges are read from [`EngineStats`] at
//! scrape time, so they are the very numbers `detect.health` reports.

use std::net::SocketAddr;
use std::sync::Arc;

use portcullis_telemetry::{MetricsServer, Registry, Render, Snapshot, render};

use crate::{Engine, EngineStats, WorkerError};

/// The exposition of `engine`, rendered afresh on every call.
pub fn renderer(engine: Engine) -> Render {
    let histograms = engine.histograms();
    let mut registry = Registry::default();
    registry.register("portcullis_detector_batch_segments", "Segments per model batch", histograms.batch_segments);
    registry.register(
        "portcullis_detector_inference_seconds",
        "Duration of one model batch (tokenization and forward passes)",
        histograms.inference,
    );
    registry.register(
        "portcullis_detector_queue_wait_seconds",
        "Time a request waited for its batch to start",
        histograms.queue_wait,
    );
    Arc::new(move || render(&registry, snapshot(&engine.stats())))
}

fn snapshot(stats: &EngineStats) -> Snapshot {
    let mut s = Snapshot::default();
    s.gauge("portcullis_detector_queue_depth", "Requests waiting for the model", stats.queue_depth as i64)
        .gauge(
            "portcullis_detector_queue_capacity",
            "Queue bound; beyond it requests are answered overloaded",
            stats.queue_capacity as i64,
        )
        .counter("portcullis_detector_requests", "Requests scored", stats.requests)
        .counter("portcullis_detector_segments", "Segments scored", stats.segments)
        .counter("portcullis_detector_windows", "Model windows (token chunks) scored", stats.windows)
        .counter("portcullis_detector_batches", "Model batches run", stats.batches)
        .counter(
            "portcullis_detector_overloaded",
            "Requests refused at once because the queue was full",
            stats.overloaded,
        )
        .counter("portcullis_detector_failed_batches", "Model batches that failed", stats.failed_batches)
        .counter(
            "portcullis_detector_abandoned",
            "Requests whose caller had given up before their batch started",
            stats.abandoned,
        );
    s
}

/// Serve `GET /metrics` on `listen` until the returned server is dropped.
pub async fn serve(listen: SocketAddr, engine: Engine) -> Result<MetricsServer, WorkerError> {
    MetricsServer::start(listen, renderer(engine))
        .await
        .map_err(|e| WorkerError::Config(format!("metrics_listen {listen}: {e}")))
}
