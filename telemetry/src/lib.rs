//! Prometheus metrics shared by the Portcullis services (gateway, audit-writer,
//! detector-worker), so the three expose one consistent format from one place:
//!
//! * [`buckets`]: the histogram buckets every service uses (latency, batch size);
//! * [`histogram`]: [`LatencyHistogram`] and [`SizeHistogram`], histograms with those
//!   buckets that implement `Default` (so they sit in the services' existing
//!   `#[derive(Default)]` stats structs) and share their state when cloned;
//! * [`snapshot`]: [`Snapshot`], counters and gauges read from a service's existing
//!   atomic stats at scrape time (no second set of counters to keep in step);
//! * [`exposition`]: rendering a registry plus a snapshot in the OpenMetrics text
//!   format, the axum response for `GET /metrics`, and a tiny standalone server for
//!   the services that have no HTTP listener of their own.
//!
//! Built on `prometheus-client` (the Prometheus organisation's Rust client).

pub mod buckets;
pub mod exposition;
pub mod histogram;
pub mod snapshot;

pub use exposition::{CONTENT_TYPE, MetricsServer, Render, listen_addr, metrics_response, render, scrape};
pub use histogram::{LatencyHistogram, SizeHistogram};
pub use prometheus_client::registry::Registry;
pub use snapshot::Snapshot;
