//! [`AuditSink`]: the gateway's handle for recording events.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use portcullis_schemas::SecurityEvent;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::config::{AuditConfig, SpoolFullMode};
use super::error::{AuditError, AuditRejected};
use super::health::{AuditHealth, AuditMode, Counters};
use super::jsonl;
use super::publisher::{Command, Publisher};
use super::spool::Spool;

/// Records [`SecurityEvent`]s without ever making a request wait for NATS.
/// Cheap to clone; all clones feed the same background task.
#[derive(Clone)]
pub struct AuditSink {
    inner: Arc<Inner>,
}

struct Inner {
    tx: mpsc::UnboundedSender<Command>,
    counters: Arc<Counters>,
    mode: AuditMode,
    spool_full: SpoolFullMode,
    max_queued: u64,
    shutdown_wait: Duration,
    worker: Mutex<Option<JoinHandle<()>>>,
}

impl AuditSink {
    /// Start the background task. With `nats_url` set this does not fail
    /// when NATS is down: events are spooled and the client keeps
    /// reconnecting. Fails on an invalid configuration, an unusable spool
    /// directory or JSONL file, or an unparseable NATS URL.
    pub async fn start(cfg: &AuditConfig) -> Result<AuditSink, AuditError> {
        cfg.validate()?;
        let counters = Arc::new(Counters::default());
        let (tx, rx) = mpsc::unbounded_channel();
        let (mode, worker) = match &cfg.nats_url {
            None => {
                let file = jsonl::open(&cfg.jsonl_path)
                    .map_err(|source| AuditError::Jsonl { path: cfg.jsonl_path.display().to_string(), source })?;
                let counters = counters.clone();
                let worker = tokio::task::spawn_blocking(move || jsonl::run(file, rx, counters));
                (AuditMode::Jsonl, worker)
            }
            Some(url) => {
                let spool = Spool::open(&cfg.spool_dir, cfg.spool_max_bytes, cfg.spool_segment_bytes)
                    .map_err(|source| AuditError::Spool { path: cfg.spool_dir.display().to_string(), source })?;
                let client = connect(url).await?;
                crate::nats::wait_for_first_connection(&client, INITIAL_CONNECT_WAIT).await;
                let publisher = Publisher::new(cfg.clone(), client, counters.clone(), spool);
                (AuditMode::Jetstream, tokio::spawn(publisher.run(rx)))
            }
        };
        Ok(AuditSink {
            inner: Arc::new(Inner {
                tx,
                counters,
                mode,
                spool_full: cfg.spool_full,
                max_queued: cfg.max_queued_events as u64,
                shutdown_wait: Duration::from_millis(cfg.publish_ack_timeout_ms * 2 + 5_000),
                worker: Mutex::new(Some(worker)),
            }),
        })
    }

    /// Hand an event to the background task. Never waits. `Err` only in
    /// `spool_full = "reject"` mode while the spool (or the in-memory queue)
    /// is full: the gateway then answers 503 instead of serving unaudited.
    /// In `keep_serving` mode an event that cannot be kept is counted in
    /// `dropped` and logged.
    pub fn record(&self, mut event: SecurityEvent) -> Result<(), AuditRejected> {
        // Bounded before it is queued: a request with thousands of findings must not
        // make an event the transport cannot carry.
        event.bound_lists();
        let inner = &*self.inner;
        let counters = &inner.counters;
        let queue_full = counters.queued.load(Ordering::Relaxed) >= inner.max_queued;
        let spool_full = counters.spool_full.load(Ordering::Relaxed);
        if queue_full || spool_full {
            match inner.spool_full {
                SpoolFullMode::Reject => {
                    counters.rejected.fetch_add(1, Ordering::Relaxed);
                    let reason = if spool_full { "audit spool full" } else { "audit queue full" };
                    return Err(AuditRejected { reason });
                }
                SpoolFullMode::KeepServing if queue_full => {
                    counters.drop_event("audit queue full");
                    return Ok(());
                }
                // Spool nearly full: the task still tries (there is headroom) and counts what does not fit.
                SpoolFullMode::KeepServing => {}
            }
        }
        counters.queued.fetch_add(1, Ordering::Relaxed);
        if inner.tx.send(Command::Event(Box::new(event))).is_err() {
            counters.queued.fetch_sub(1, Ordering::Relaxed);
            counters.drop_event("audit sink stopped");
        }
        Ok(())
    }

    pub fn health(&self) -> AuditHealth {
        self.inner.counters.snapshot(self.inner.mode)
    }

    /// The JetStream publish → ack latency histogram (shared, for `/metrics`).
    pub fn publish_latency(&self) -> portcullis_telemetry::LatencyHistogram {
        self.inner.counters.publish_latency.clone()
    }

    /// Flush what can be flushed: queued events are published (or spooled),
    /// outstanding acks awaited, the spool replayed as far as one ack
    /// timeout allows (the rest stays on disk for the next start), the JSONL
    /// file flushed. Events recorded afterwards are counted as dropped.
    pub async fn shutdown(&self) {
        let worker = match self.inner.worker.lock() {
            Ok(mut guard) => guard.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        let Some(worker) = worker else { return };
        let (done_tx, done_rx) = oneshot::channel();
        if self.inner.tx.send(Command::Shutdown(done_tx)).is_ok()
            && tokio::time::timeout(self.inner.shutdown_wait, done_rx).await.is_err()
        {
            tracing::warn!("audit: shutdown timed out; unflushed events stay queued");
            worker.abort();
            return;
        }
        let _ = worker.await;
    }
}

/// How long `start` waits for NATS before it begins with the spool.
const INITIAL_CONNECT_WAIT: Duration = Duration::from_secs(1);

async fn connect(url: &str) -> Result<async_nats::Client, AuditError> {
    crate::nats::connect(url, "portcullis-gateway-audit")
        .await
        .map_err(|err| AuditError::Nats { url: url.to_owned(), reason: err.to_string() })
}
