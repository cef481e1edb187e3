//! [`RequestRecord`]: the facts of one request, gathered as it passes through the
//! gateway and turned into exactly one redacted `SecurityEvent` at the end.
//!
//! The record never holds a credential: it takes the user agent and session id from
//! the headers, identity names from [`Identity`], and body-derived facts from the
//! inspection step. It is finished exactly once: when the gateway answers with its own
//! error, or when the relayed response ends (completed, failed or abandoned). Finishing
//! also counts the request in [`GatewayMetrics`], and the record fills in the request's
//! tracing span ([`crate::request_span`]) with the event id and identity.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, Method};
use portcullis_schemas::{Decision, SecurityEvent};

use crate::audit::{AuditSink, Usage};
use crate::auth::Identity;
use crate::metrics::GatewayMetrics;
use crate::proxy::relay::RelayEnd;

pub struct RequestRecord {
    event: SecurityEvent,
    started: Instant,
    /// When the request was handed to the upstream client.
    forwarded_at: Option<Instant>,
    /// When the upstream's response headers arrived.
    headers_at: Option<Instant>,
    sink: AuditSink,
    metrics: Arc<GatewayMetrics>,
    /// The request's span; entered again when the event is finished from the relay.
    span: tracing::Span,
}

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

fn header_string(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(|v| v.chars().take(512).collect())
}

impl RequestRecord {
    pub fn start(
        sink: AuditSink,
        metrics: Arc<GatewayMetrics>,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
    ) -> RequestRecord {
        let mut event = SecurityEvent::new_request(now_ms(), "", "");
        event.method = method.to_string();
        event.path = path.chars().take(2048).collect();
        event.user_agent = header_string(headers, "user-agent");
        event.session_id = header_string(headers, "x-claude-code-session-id");
        let span = tracing::Span::current();
        span.record("event_id", tracing::field::display(event.event_id));
        RequestRecord { event, started: Instant::now(), forwarded_at: None, headers_at: None, sink, metrics, span }
    }

    pub fn event_id(&self) -> uuid::Uuid {
        self.event.event_id
    }

    pub fn set_identity(&mut self, identity: &Identity) {
        self.event.tenant = identity.tenant.clone();
        self.event.project = identity.project.clone();
        self.event.client_id = identity.client_id.clone();
        self.span.record("tenant", identity.tenant.as_str());
        self.span.record("project", identity.project.as_str());
    }

    /// Body-derived facts and the inspection outcome.
    pub fn event_mut(&mut self) -> &mut SecurityEvent {
        &mut self.event
    }

    pub fn set_bytes_in(&mut self, bytes: usize) {
        self.event.bytes_in = bytes as u64;
    }

    pub fn mark_forwarded(&mut self) {
        self.forwarded_at = Some(Instant::now());
    }

    pub fn mark_upstream_headers(&mut self, status: u16) {
        self.headers_at = Some(Instant::now());
        self.event.upstream_status = Some(status);
    }

    /// The gateway answered itself (auth failure, limit, block, upstream unreachable).
    pub fn finish_with_gateway_answer(mut self, status: u16, decision: Decision, reason: String) {
        self.event.gateway_status = status;
        self.event.decision = decision;
        if !reason.is_empty() && !self.event.reasons.contains(&reason) {
            self.event.reasons.push(reason);
        }
        self.emit(None);
    }

    /// The relayed response ended.
    pub fn finish_relay(mut self, status: u16, usage: Usage, end: RelayEnd, bytes_out: u64) {
        self.event.gateway_status = status;
        self.event.bytes_out = bytes_out;
        self.event.input_tokens = usage.input_tokens;
        self.event.output_tokens = usage.output_tokens;
        self.event.cache_creation_input_tokens = usage.cache_creation_input_tokens;
        self.event.cache_read_input_tokens = usage.cache_read_input_tokens;
        self.event.stop_reason = usage.stop_reason;
        if let Some(error) = usage.stream_error {
            self.event.reasons.push(format!("upstream error: {error}"));
        }
        match end {
            RelayEnd::Complete => {}
            RelayEnd::UpstreamError => self.event.reasons.push("upstream stream failed".into()),
            RelayEnd::IdleTimeout => self.event.reasons.push("upstream stream idle timeout".into()),
            RelayEnd::ClientGone => self.event.reasons.push("client disconnected".into()),
        }
        let upstream = self.forwarded_at.map(|at| at.elapsed());
        self.emit(upstream);
    }

    fn emit(mut self, upstream: Option<Duration>) {
        let total = self.started.elapsed();
        self.event.latency_total_ms = total.as_millis() as u64;
        self.event.upstream_ms = upstream.map(|d| d.as_millis() as u64);
        // Gateway overhead is the work before forwarding (auth, body, inspection); the
        // relay itself adds no waiting. Without an upstream call, all time is overhead.
        let overhead = match (self.forwarded_at, upstream) {
            (Some(forwarded), Some(_)) => forwarded.duration_since(self.started),
            _ => total,
        };
        self.event.overhead_us = overhead.as_micros() as u64;
        self.metrics.record_request(&self.event);
        let _in_request = self.span.enter();
        tracing::debug!(
            status = self.event.gateway_status,
            decision = self.event.decision.as_str(),
            total_ms = self.event.latency_total_ms,
            overhead_us = self.event.overhead_us,
            "request finished"
        );
        let event_id = self.event.event_id;
        if let Err(rejected) = self.sink.record(self.event) {
            tracing::warn!(%event_id, reason = rejected.reason, "audit event refused");
        }
    }
}
