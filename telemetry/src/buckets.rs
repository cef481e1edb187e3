//! Histogram buckets shared by every service, so dashboards can compare them.

/// Latencies in seconds, 100 µs to 30 s: wide enough for the gateway's sub-millisecond
/// overhead, NATS round trips, model batches and ClickHouse inserts alike.
pub const LATENCY_SECONDS: [f64; 17] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Item counts (events per insert, segments per model batch), 1 to 10,000.
pub const SIZES: [f64; 13] =
    [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1_000.0, 2_000.0, 5_000.0, 10_000.0];
