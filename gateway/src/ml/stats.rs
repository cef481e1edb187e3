//! Counters of the gateway's ML step, as plain atomics: read them with
//! [`MlStats::snapshot`] (health, the metrics endpoint) without taking a lock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

use super::client::MlError;

/// Upper bounds (milliseconds, inclusive) of the verdict latency buckets; a last,
/// unbounded bucket counts the rest.
pub const LATENCY_BUCKETS_MS: [u64; 10] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000];

#[derive(Default)]
pub struct MlStats {
    /// Requests sent to the detector workers (one per gateway request with new segments).
    pub requests: AtomicU64,
    /// Segments sent for classification.
    pub segments_sent: AtomicU64,
    /// Segments answered from the incremental cache (already classified).
    pub segments_cached: AtomicU64,
    /// Segments that came back (or from the cache) as ML findings.
    pub segments_flagged: AtomicU64,
    /// Requests without a verdict, by reason.
    pub no_responders: AtomicU64,
    pub timeouts: AtomicU64,
    pub overloaded: AtomicU64,
    pub worker_errors: AtomicU64,
    pub disconnected: AtomicU64,
    /// Transport and decoding failures.
    pub other_failures: AtomicU64,
    /// Block-mode requests forwarded without a verdict (`fail_open`).
    pub fail_open: AtomicU64,
    /// Block-mode requests refused without a verdict (`fail_closed`).
    pub fail_closed: AtomicU64,
    /// Alert-mode follow-up events handed to the audit sink.
    pub follow_ups: AtomicU64,
    /// Verdict round trips (send to answer) per [`LATENCY_BUCKETS_MS`] bucket,
    /// not cumulative; the last entry counts everything above the last bound.
    pub latency_buckets: [AtomicU64; LATENCY_BUCKETS_MS.len() + 1],
    /// Sum of the verdict round trips, in microseconds.
    pub latency_us_sum: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MlStatsSnapshot {
    pub requests: u64,
    pub segments_sent: u64,
    pub segments_cached: u64,
    pub segments_flagged: u64,
    pub no_responders: u64,
    pub timeouts: u64,
    pub overloaded: u64,
    pub worker_errors: u64,
    pub disconnected: u64,
    pub other_failures: u64,
    pub fail_open: u64,
    pub fail_closed: u64,
    pub follow_ups: u64,
    pub latency_buckets: Vec<u64>,
    pub latency_us_sum: u64,
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl MlStats {
    pub(crate) fn sent(&self, segments: usize) {
        add(&self.requests, 1);
        add(&self.segments_sent, segments as u64);
    }

    pub(crate) fn cached(&self, segments: usize) {
        add(&self.segments_cached, segments as u64);
    }

    pub(crate) fn flagged(&self, segments: usize) {
        add(&self.segments_flagged, segments as u64);
    }

    pub(crate) fn verdict_latency(&self, took: Duration) {
        let us = took.as_micros() as u64;
        let bucket = LATENCY_BUCKETS_MS.iter().position(|bound| us <= bound * 1000).unwrap_or(LATENCY_BUCKETS_MS.len());
        if let Some(counter) = self.latency_buckets.get(bucket) {
            add(counter, 1);
        }
        add(&self.latency_us_sum, took.as_micros() as u64);
    }

    pub(crate) fn failure(&self, error: &MlError) {
        let counter = match error {
            MlError::NoResponders => &self.no_responders,
            MlError::Timeout => &self.timeouts,
            MlError::Overloaded => &self.overloaded,
            MlError::Worker(_) => &self.worker_errors,
            MlError::Disconnected => &self.disconnected,
            MlError::Transport(_) | MlError::Decode(_) => &self.other_failures,
        };
        add(counter, 1);
    }

    pub(crate) fn fell_back(&self, closed: bool) {
        add(if closed { &self.fail_closed } else { &self.fail_open }, 1);
    }

    pub(crate) fn follow_up(&self) {
        add(&self.follow_ups, 1);
    }

    pub fn snapshot(&self) -> MlStatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        MlStatsSnapshot {
            requests: get(&self.requests),
            segments_sent: get(&self.segments_sent),
            segments_cached: get(&self.segments_cached),
            segments_flagged: get(&self.segments_flagged),
            no_responders: get(&self.no_responders),
            timeouts: get(&self.timeouts),
            overloaded: get(&self.overloaded),
            worker_errors: get(&self.worker_errors),
            disconnected: get(&self.disconnected),
            other_failures: get(&self.other_failures),
            fail_open: get(&self.fail_open),
            fail_closed: get(&self.fail_closed),
            follow_ups: get(&self.follow_ups),
            latency_buckets: self.latency_buckets.iter().map(get).collect(),
            latency_us_sum: get(&self.latency_us_sum),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_lands_in_its_bucket() {
        let stats = MlStats::default();
        stats.verdict_latency(Duration::from_micros(1500));
        stats.verdict_latency(Duration::from_secs(3));
        let snap = stats.snapshot();
        assert_eq!(snap.latency_buckets[1], 1); // ≤ 2 ms
        assert_eq!(snap.latency_buckets[LATENCY_BUCKETS_MS.len()], 1); // > 1 s
        assert_eq!(snap.latency_us_sum, 3_001_500);
    }
}
