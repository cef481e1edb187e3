//! `GET /metrics` of the writer: batches, INSERT latency, events inserted,
//! dead letters, retries and the durable consumer's backlog, in the Prometheus
//! format on the `metrics_listen` address.
//!
//! The counters are [`WriterStats`] read at scrape time; the histograms are
//! observed by the insert loop. The backlog (JetStream consumer info:
//! `num_pending`, `num_ack_pending`) needs a request to the server, so a small
//! task polls it every [`LAG_POLL`] and the scrape reads the last answer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_nats::jetstream;
use portcullis_telemetry::{MetricsServer, Registry, Render, Snapshot, render};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::WriterConfig;
use crate::error::WriterError;
use crate::pipeline::WriterStats;

/// How often the consumer backlog is read from JetStream.
pub const LAG_POLL: Duration = Duration::from_secs(5);

/// The durable consumer's backlog as last read.
#[derive(Debug, Default)]
pub struct ConsumerLag {
    /// Messages in the stream not yet delivered to the consumer.
    pub pending: AtomicU64,
    /// Delivered, not yet acked (being batched or inserted).
    pub ack_pending: AtomicU64,
    /// The last read succeeded.
    pub known: AtomicBool,
}

/// The exposition of `stats` and `lag`, rendered afresh on every call.
pub fn renderer(stats: Arc<WriterStats>, lag: Arc<ConsumerLag>) -> Render {
    let mut registry = Registry::default();
    registry.register(
        "portcullis_writer_batch_rows",
        "Rows per successful INSERT (a batch less the events already stored)",
        stats.batch_rows.clone(),
    );
    registry.register(
        "portcullis_writer_insert_seconds",
        "Duration of each successful INSERT into ClickHouse",
        stats.insert_latency.clone(),
    );
    Arc::new(move || render(&registry, snapshot(&stats, &lag)))
}

fn snapshot(stats: &WriterStats, lag: &ConsumerLag) -> Snapshot {
    let s = stats.snapshot();
    let mut out = Snapshot::default();
    out.counter("portcullis_writer_received", "Messages pulled from JetStream (redeliveries included)", s.received)
        .counter("portcullis_writer_events_inserted", "Events inserted into ClickHouse", s.inserted)
        .counter(
            "portcullis_writer_duplicates_skipped",
            "Redelivered or re-published events found already stored and not inserted again",
            s.duplicates_skipped,
        )
        .counter(
            "portcullis_writer_dead_lettered",
            "Undecodable messages moved to the dead-letter stream",
            s.dead_lettered,
        )
        .counter(
            "portcullis_writer_insert_failures",
            "Failed INSERT attempts; each batch is retried with backoff",
            s.insert_failures,
        )
        .counter("portcullis_writer_secrets_scrubbed", "Secrets the writer's redactor replaced", s.scrubbed)
        .counter("portcullis_writer_batches", "Batches inserted and acked", s.batches)
        .counter("portcullis_writer_acked", "Messages acked after their INSERT", s.acked)
        .gauge(
            "portcullis_writer_consumer_pending",
            "Consumer lag: audit events in the stream not yet delivered to the writers",
            lag.pending.load(Ordering::Relaxed) as i64,
        )
        .gauge(
            "portcullis_writer_consumer_ack_pending",
            "Delivered to a writer, not yet acked (being batched or inserted)",
            lag.ack_pending.load(Ordering::Relaxed) as i64,
        )
        .gauge(
            "portcullis_writer_consumer_info_ok",
            "1 when the last read of the consumer's backlog succeeded",
            i64::from(lag.known.load(Ordering::Relaxed)),
        );
    out
}

/// Read the consumer's backlog every `every` until `stop`.
pub async fn poll_lag(
    cfg: &WriterConfig,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) -> Result<(Arc<ConsumerLag>, JoinHandle<()>), WriterError> {
    let client = crate::nats::connect(&cfg.nats.url).await?;
    let js = jetstream::new(client);
    let (stream, durable) = (cfg.nats.stream_name.clone(), cfg.nats.durable_name.clone());
    let lag = Arc::new(ConsumerLag::default());
    let shared = lag.clone();
    let task = tokio::spawn(async move {
        loop {
            read_lag(&js, &stream, &durable, &shared).await;
            if crate::pipeline::sleep_or_stop(every, &mut stop).await {
                return;
            }
        }
    });
    Ok((lag, task))
}

async fn read_lag(js: &jetstream::Context, stream: &str, durable: &str, lag: &ConsumerLag) {
    let info = match js.get_stream_no_info(stream).await {
        Ok(stream) => stream.consumer_info(durable).await.map_err(|e| e.to_string()),
        Err(err) => Err(err.to_string()),
    };
    match info {
        Ok(info) => {
            lag.pending.store(info.num_pending, Ordering::Relaxed);
            lag.ack_pending.store(info.num_ack_pending as u64, Ordering::Relaxed);
            lag.known.store(true, Ordering::Relaxed);
        }
        Err(err) => {
            if lag.known.swap(false, Ordering::Relaxed) {
                tracing::warn!(%err, "consumer backlog unknown (metrics)");
            }
        }
    }
}

/// Serve `GET /metrics` on `listen` until the returned server is dropped.
pub async fn serve(listen: SocketAddr, render: Render) -> Result<MetricsServer, WriterError> {
    MetricsServer::start(listen, render).await.map_err(|e| WriterError::Config(format!("metrics_listen {listen}: {e}")))
}

/// The listener and backlog poller of a running writer, per `cfg.metrics_listen`
/// (`None` when off). Writing matters more than its metrics: a taken port is
/// logged, not fatal.
pub async fn start(
    cfg: &WriterConfig,
    stats: Arc<WriterStats>,
    stop: watch::Receiver<bool>,
) -> Result<Option<(MetricsServer, JoinHandle<()>)>, WriterError> {
    let Some(listen) = cfg.metrics_addr()? else { return Ok(None) };
    let (lag, poller) = poll_lag(cfg, LAG_POLL, stop).await?;
    match serve(listen, renderer(stats, lag)).await {
        Ok(server) => Ok(Some((server, poller))),
        Err(err) => {
            poller.abort();
            tracing::warn!(%err, "metrics listener not started");
            Ok(None)
        }
    }
}
