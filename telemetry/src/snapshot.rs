//! [`Snapshot`]: counters and gauges copied from a service's own stats at scrape time.
//!
//! The services already keep atomic counters for their health endpoints (`AuditHealth`,
//! `WriterStats`, `EngineStats`, ...). Rather than mirror each in a second Prometheus
//! counter, the `/metrics` handler reads them once per scrape into a `Snapshot`, which
//! encodes them with their help text and type.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// One label (`name`, value) of a sample.
pub type Label = (&'static str, String);

#[derive(Debug, Clone)]
enum Value {
    Counter(u64),
    Gauge(i64),
    GaugeF64(f64),
    /// Per-bucket (not cumulative) counts with their upper bounds, the last
    /// bound being `f64::MAX` (`+Inf`), and the sum of the observations.
    Histogram {
        buckets: Vec<(f64, u64)>,
        sum: f64,
    },
}

#[derive(Debug)]
struct Family {
    name: &'static str,
    help: &'static str,
    samples: Vec<(Vec<Label>, Value)>,
}

/// Metric families read at scrape time; register it with a registry (or pass it to
/// [`render`](crate::render)) to encode it.
#[derive(Debug, Default)]
pub struct Snapshot {
    families: Vec<Family>,
}

impl Snapshot {
    /// A monotonic count (exposed as `<name>_total`).
    pub fn counter(&mut self, name: &'static str, help: &'static str, value: u64) -> &mut Self {
        self.push(name, help, vec![(Vec::new(), Value::Counter(value))])
    }

    /// A count split by one label, e.g. failures by reason.
    pub fn counter_by(
        &mut self,
        name: &'static str,
        help: &'static str,
        label: &'static str,
        values: impl IntoIterator<Item = (String, u64)>,
    ) -> &mut Self {
        let samples = values.into_iter().map(|(v, n)| (vec![(label, v)], Value::Counter(n))).collect();
        self.push(name, help, samples)
    }

    /// A value that goes up and down (queue depth, connected 0/1).
    pub fn gauge(&mut self, name: &'static str, help: &'static str, value: i64) -> &mut Self {
        self.push(name, help, vec![(Vec::new(), Value::Gauge(value))])
    }

    /// A fractional gauge (means, ratios).
    pub fn gauge_f64(&mut self, name: &'static str, help: &'static str, value: f64) -> &mut Self {
        self.push(name, help, vec![(Vec::new(), Value::GaugeF64(value))])
    }

    /// A histogram kept elsewhere as per-bucket counts: `upper_bounds` (ascending) pair
    /// with the first counts, one more count is the overflow (`+Inf`) bucket; `sum` is
    /// the total of the observations, in the bounds' unit.
    pub fn histogram(
        &mut self,
        name: &'static str,
        help: &'static str,
        upper_bounds: &[f64],
        counts: &[u64],
        sum: f64,
    ) -> &mut Self {
        let bounds = upper_bounds.iter().copied().chain(std::iter::once(f64::MAX));
        let buckets = bounds.zip(counts.iter().copied()).collect();
        self.push(name, help, vec![(Vec::new(), Value::Histogram { buckets, sum })])
    }

    fn push(&mut self, name: &'static str, help: &'static str, samples: Vec<(Vec<Label>, Value)>) -> &mut Self {
        self.families.push(Family { name, help, samples });
        self
    }
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for family in &self.families {
            let Some((_, first)) = family.samples.first() else { continue };
            let metric_type = match first {
                Value::Counter(_) => MetricType::Counter,
                Value::Gauge(_) | Value::GaugeF64(_) => MetricType::Gauge,
                Value::Histogram { .. } => MetricType::Histogram,
            };
            // Registered metrics get a closing period from the registry; match them.
            let help = format!("{}.", family.help);
            let mut metric = encoder.encode_descriptor(family.name, &help, None, metric_type)?;
            match family.samples.as_slice() {
                [(labels, value)] if labels.is_empty() => encode_value(value, metric)?,
                samples => {
                    for (labels, value) in samples {
                        encode_value(value, metric.encode_family(labels)?)?;
                    }
                }
            }
        }
        Ok(())
    }
}

fn encode_value(value: &Value, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
    match value {
        Value::Counter(n) => ConstCounter::new(*n).encode(encoder),
        Value::Gauge(n) => ConstGauge::new(*n).encode(encoder),
        Value::GaugeF64(n) => ConstGauge::new(*n).encode(encoder),
        Value::Histogram { buckets, sum } => {
            let count = buckets.iter().map(|(_, n)| n).sum();
            encoder.encode_histogram::<NoLabelSet>(*sum, count, buckets, None)
        }
    }
}
