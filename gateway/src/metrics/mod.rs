//! `GET /metrics`: the gateway's Prometheus metrics (OpenMetrics text).
//!
//! Two kinds of figures:
//! * observed as requests pass, in [`GatewayMetrics`]: requests by status and
//!   decision, gateway overhead, upstream time and detection time histograms. The
//!   request figures are taken when a request's `SecurityEvent` is finalised
//!   ([`crate::record`]), so they count exactly the requests the audit trail holds;
//! * read at scrape time from the counters `/health` already shows: the audit sink
//!   (NATS publish latency, spool depth, drops), the upstream (failures) and the ML
//!   step (verdict latency, failures, fail-open/closed).
//!
//! See the README's Metrics section for every name.

pub mod config;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use portcullis_schemas::SecurityEvent;
use portcullis_telemetry::{LatencyHistogram, Registry, Snapshot, metrics_response, render};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use crate::auth::keys::KeyHash;
use crate::error::GatewayError;
use crate::state::AppState;
pub use config::MetricsConfig;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    status: u16,
    decision: &'static str,
}

/// Metrics observed on the request path; cheap to update from any task.
#[derive(Debug)]
pub struct GatewayMetrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    overhead: LatencyHistogram,
    upstream: LatencyHistogram,
    detection: LatencyHistogram,
}

impl GatewayMetrics {
    /// `publish_latency` is the audit sink's JetStream round-trip histogram.
    pub fn new(publish_latency: LatencyHistogram) -> GatewayMetrics {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let (overhead, upstream, detection) =
            (LatencyHistogram::default(), LatencyHistogram::default(), LatencyHistogram::default());
        registry.register(
            "portcullis_gateway_requests",
            "Proxied requests by the gateway's answer status and decision (one per audit event)",
            requests.clone(),
        );
        registry.register(
            "portcullis_gateway_overhead_seconds",
            "Time the gateway spent on a request before forwarding it (auth, body, detection, policy); upstream time excluded",
            overhead.clone(),
        );
        registry.register(
            "portcullis_gateway_upstream_seconds",
            "Forwarded requests: from sending upstream to the last relayed byte",
            upstream.clone(),
        );
        registry.register(
            "portcullis_gateway_detection_seconds",
            "Signature detection of one request body (parse, segment extraction, catalogue scan)",
            detection.clone(),
        );
        registry.register(
            "portcullis_gateway_audit_publish_seconds",
            "Audit events: JetStream publish to its ack",
            publish_latency,
        );
        GatewayMetrics { registry, requests, overhead, upstream, detection }
    }

    /// Count a finalised request (called once per `SecurityEvent`).
    pub fn record_request(&self, event: &SecurityEvent) {
        let labels = RequestLabels { status: event.gateway_status, decision: event.decision.as_str() };
        self.requests.get_or_create(&labels).inc();
        self.overhead.observe_micros(event.overhead_us);
        if let Some(upstream_ms) = event.upstream_ms {
            self.upstream.observe(Duration::from_millis(upstream_ms));
        }
    }

    /// Time one signature detection pass.
    pub fn observe_detection(&self, took: Duration) {
        self.detection.observe(took);
    }

    /// The full exposition: the registry plus the figures read from `state` now.
    pub fn render(&self, state: &AppState) -> String {
        render(&self.registry, scraped(state))
    }
}

/// Figures other components already count, read once per scrape.
fn scraped(state: &AppState) -> Snapshot {
    let mut s = Snapshot::default();
    let audit = state.audit.health();
    s.gauge(
        "portcullis_gateway_audit_connected",
        "1 while the audit sink's NATS connection (or JSONL file) is up",
        i64::from(audit.connected),
    )
    .gauge(
        "portcullis_gateway_audit_spool_depth",
        "Audit events waiting in the on-disk spool",
        audit.spool_depth as i64,
    )
    .gauge("portcullis_gateway_audit_spool_bytes", "Bytes in the on-disk spool", audit.spool_bytes as i64)
    .gauge("portcullis_gateway_audit_spool_full", "1 while the spool is at its bound", i64::from(audit.spool_full))
    .gauge(
        "portcullis_gateway_audit_queued",
        "Audit events recorded but not yet handled by the sink task",
        audit.queued as i64,
    )
    .gauge("portcullis_gateway_audit_in_flight", "Audit publishes awaiting their JetStream ack", audit.in_flight as i64)
    .counter(
        "portcullis_gateway_audit_published",
        "Audit events acknowledged by JetStream (or written to the JSONL file)",
        audit.published,
    )
    .counter(
        "portcullis_gateway_audit_spooled",
        "Audit events written to the spool while NATS was unavailable",
        audit.spooled,
    )
    .counter(
        "portcullis_gateway_audit_dropped",
        "Audit events lost (spool full in keep-serving mode, I/O error); each is also logged",
        audit.dropped,
    )
    .counter(
        "portcullis_gateway_audit_rejected",
        "Requests refused because the spool was full in reject mode",
        audit.rejected,
    );
    let upstream = &state.upstream_stats;
    s.counter(
        "portcullis_gateway_upstream_responses",
        "Upstream responses whose headers arrived",
        upstream.responses.load(Ordering::Relaxed),
    )
    .counter(
        "portcullis_gateway_upstream_failures",
        "Upstream connection failures and response-header timeouts",
        upstream.failures.load(Ordering::Relaxed),
    );
    ml_figures(&mut s, state);
    s
}

/// The ML step's counters (see `crate::ml::stats`).
fn ml_figures(s: &mut Snapshot, state: &AppState) {
    let ml = state.ml.stats.snapshot();
    let bounds: Vec<f64> = crate::ml::stats::LATENCY_BUCKETS_MS.iter().map(|ms| *ms as f64 / 1e3).collect();
    s.histogram(
        "portcullis_gateway_ml_verdict_seconds",
        "Detector-worker round trips (request sent to verdict received)",
        &bounds,
        &ml.latency_buckets,
        ml.latency_us_sum as f64 / 1e6,
    )
    .counter("portcullis_gateway_ml_requests", "Classification requests sent to the detector workers", ml.requests)
    .counter("portcullis_gateway_ml_segments_sent", "Segments sent for classification", ml.segments_sent)
    .counter("portcullis_gateway_ml_segments_cached", "Segments answered from the score cache", ml.segments_cached)
    .counter("portcullis_gateway_ml_segments_flagged", "Segments the model flagged", ml.segments_flagged)
    .counter_by(
        "portcullis_gateway_ml_failures",
        "Classification requests without a verdict, by reason",
        "reason",
        [
            ("no_responders".to_owned(), ml.no_responders),
            ("timeout".to_owned(), ml.timeouts),
            ("overloaded".to_owned(), ml.overloaded),
            ("worker_error".to_owned(), ml.worker_errors),
            ("disconnected".to_owned(), ml.disconnected),
            ("other".to_owned(), ml.other_failures),
        ],
    )
    .counter(
        "portcullis_gateway_ml_fail_open",
        "Block-mode requests forwarded without an ML verdict (on_failure = fail_open)",
        ml.fail_open,
    )
    .counter(
        "portcullis_gateway_ml_fail_closed",
        "Block-mode requests refused without an ML verdict (on_failure = fail_closed)",
        ml.fail_closed,
    )
    .counter(
        "portcullis_gateway_ml_follow_ups",
        "Alert-mode follow-up events sent to the audit trail",
        ml.follow_ups,
    );
}

/// `GET /metrics`; 404 when turned off, 401 without the configured bearer token.
pub async fn handler(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let config = state.config();
    if !config.metrics.enabled {
        return GatewayError::NotFound { method: "GET".into(), path: "/metrics".into() }.into_response();
    }
    if let Some(expected) = config.metrics.token_hash() {
        let presented = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|token| KeyHash::of(token.trim()));
        if !presented.is_some_and(|p| p.matches(&expected)) {
            return GatewayError::Unauthenticated("the metrics endpoint needs its bearer token".into()).into_response();
        }
    }
    metrics_response(state.metrics.render(&state))
}
