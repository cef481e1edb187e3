//! Counters of the audit sink and their serializable snapshot.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use portcullis_telemetry::LatencyHistogram;
use serde::Serialize;

/// Where events go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditMode {
    /// NATS JetStream (with the on-disk spool while NATS is unreachable).
    Jetstream,
    /// Local JSONL file (no NATS configured).
    Jsonl,
}

/// A snapshot for `/health` and metrics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditHealth {
    pub mode: AuditMode,
    /// JetStream mode: the NATS connection is up. JSONL mode: the file is writable.
    pub connected: bool,
    /// Events waiting in the on-disk spool.
    pub spool_depth: u64,
    pub spool_bytes: u64,
    /// The spool is at its bound (the spool-full mode is in effect).
    pub spool_full: bool,
    /// Events recorded but not yet handled by the background task.
    pub queued: u64,
    /// Publishes awaiting their JetStream ack.
    pub in_flight: u64,
    /// Events acknowledged by JetStream (including spool replays) or written
    /// to the JSONL file.
    pub published: u64,
    /// Events that went to the spool (total since start).
    pub spooled: u64,
    /// Events lost: spool full in keep-serving mode, or an I/O error. Never silent:
    /// each is counted here and logged.
    pub dropped: u64,
    /// Requests refused because of a full spool in reject mode.
    pub rejected: u64,
}

/// Shared live counters behind [`AuditHealth`].
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub connected: AtomicBool,
    pub spool_depth: AtomicU64,
    pub spool_bytes: AtomicU64,
    pub spool_full: AtomicBool,
    pub queued: AtomicU64,
    pub in_flight: AtomicU64,
    pub published: AtomicU64,
    pub spooled: AtomicU64,
    pub dropped: AtomicU64,
    pub rejected: AtomicU64,
    /// JetStream publish → ack round trips (for `/metrics`).
    pub publish_latency: LatencyHistogram,
}

impl Counters {
    pub fn snapshot(&self, mode: AuditMode) -> AuditHealth {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        AuditHealth {
            mode,
            connected: self.connected.load(Ordering::Relaxed),
            spool_depth: get(&self.spool_depth),
            spool_bytes: get(&self.spool_bytes),
            spool_full: self.spool_full.load(Ordering::Relaxed),
            queued: get(&self.queued),
            in_flight: get(&self.in_flight),
            published: get(&self.published),
            spooled: get(&self.spooled),
            dropped: get(&self.dropped),
            rejected: get(&self.rejected),
        }
    }

    /// Count one lost event and say so in the log (first, then every 10,000th,
    /// so an outage does not flood the log).
    pub fn drop_event(&self, why: &str) {
        let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        if n == 1 || n.is_multiple_of(10_000) {
            tracing::error!(dropped_total = n, reason = why, "audit event dropped");
        }
    }
}
