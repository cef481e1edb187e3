//! Histograms with the shared [`buckets`](crate::buckets), usable as plain struct fields.
//!
//! `prometheus_client`'s `Histogram` has no `Default` (it needs buckets); these wrappers
//! pick the buckets, so a service adds one to a `#[derive(Default)]` stats struct and
//! registers a clone (clones share the same counts) with its registry.

use std::time::Duration;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::{MetricType, TypedMetric};

use crate::buckets::{LATENCY_SECONDS, SIZES};

/// Durations, observed in seconds with [`LATENCY_SECONDS`] buckets.
#[derive(Debug, Clone)]
pub struct LatencyHistogram(Histogram);

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram(Histogram::new(LATENCY_SECONDS))
    }
}

impl LatencyHistogram {
    pub fn observe(&self, elapsed: Duration) {
        self.0.observe(elapsed.as_secs_f64());
    }

    pub fn observe_micros(&self, micros: u64) {
        self.0.observe(micros as f64 / 1e6);
    }
}

/// Counts of items (events, segments), with [`SIZES`] buckets.
#[derive(Debug, Clone)]
pub struct SizeHistogram(Histogram);

impl Default for SizeHistogram {
    fn default() -> Self {
        SizeHistogram(Histogram::new(SIZES))
    }
}

impl SizeHistogram {
    pub fn observe(&self, size: usize) {
        self.0.observe(size as f64);
    }
}

macro_rules! encode_as_histogram {
    ($wrapper:ty) => {
        impl EncodeMetric for $wrapper {
            fn encode(&self, encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
                self.0.encode(encoder)
            }

            fn metric_type(&self) -> MetricType {
                Histogram::TYPE
            }
        }
    };
}

encode_as_histogram!(LatencyHistogram);
encode_as_histogram!(SizeHistogram);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Registry, Snapshot, render};

    #[test]
    fn clones_share_their_counts() {
        let mut registry = Registry::default();
        let latency = LatencyHistogram::default();
        let sizes = SizeHistogram::default();
        registry.register("t_latency_seconds", "", latency.clone());
        registry.register("t_size", "", sizes.clone());
        latency.clone().observe(Duration::from_millis(3));
        latency.observe_micros(1_500);
        sizes.clone().observe(40);
        let text = render(&registry, Snapshot::default());
        assert!(text.contains("\nt_latency_seconds_count 2\n"), "{text}");
        assert!(text.contains("\nt_size_sum 40.0\n"), "{text}");
        assert!(text.contains("\nt_size_bucket{le=\"50.0\"} 1\n"), "{text}");
    }
}
