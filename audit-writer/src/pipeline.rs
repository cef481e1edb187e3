//! The writer: pull events from JetStream, batch, insert, then ack.
//!
//! Two loops run side by side in the writer's task ([`Writer::run`]): the
//! fetch loop below pulls, decodes, scrubs and batches; the insert loop
//! ([`insert`]) writes each batch to ClickHouse and acks it. A full batch is
//! handed over and the next one is fetched while it is inserted, with at most
//! `batch.max_in_flight` batches handed over and not yet acked (a semaphore
//! permit travels with each batch and is released after its acks).
//!
//! Guarantees:
//! * A message is acked only after the INSERT holding its row succeeded, so
//!   a crash loses nothing (unacked messages are redelivered after `ack_wait`).
//!   Acks are explicit, one per message (see [`insert`] for why not AckAll).
//! * Redelivered messages, and every retry after a failed INSERT (whose
//!   outcome is unknown), are checked against `audit_events` first and rows
//!   already stored are skipped: each event is inserted once, so the
//!   materialized usage views stay exact; ReplacingMergeTree + `FINAL` is the
//!   second line of defence for the event table itself.
//! * ClickHouse down: the batch is kept and retried with exponential backoff.
//!   Fetching stops once the in-flight window and the batch filling are full,
//!   and every held message (being inserted, queued, or filling) gets
//!   in-progress acks, so an outage never pushes them towards `max_deliver`.
//! * A message that cannot be decoded is nak'ed with a delay, and after
//!   `dead_letter_after` deliveries published to the dead-letter subject
//!   (its own stream) with the reason, then acked and counted.
//! * Stop (SIGTERM/ctrl-c): the batch filling is handed over, and every
//!   handed-over batch is flushed and acked before `run` returns.
//! * Abort (the task is dropped, as in a crash): both loops stop at once,
//!   nothing more is acked.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, AckKind, Message, consumer::PullConsumer};
use futures_util::StreamExt;
use portcullis_schemas::SecurityEvent;
use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::time::Instant;

use crate::batcher::Batcher;
use crate::config::WriterConfig;
use crate::error::WriterError;
use crate::nats::{self, Streams};
use crate::redact::Redactor;
use crate::row::AuditRow;
use crate::store::Store;

mod insert;

/// Longest single pull request while idle (also the stop latency).
const IDLE_FETCH: Duration = Duration::from_millis(500);
/// Shortest pull request (the server wants a positive `expires`).
const MIN_FETCH: Duration = Duration::from_millis(5);
/// How long after a pull request's expiry its stream is given up without
/// the server's timeout status (see [`Writer::fetch`]).
const FETCH_GRACE: Duration = Duration::from_millis(250);
/// Most messages asked for in one pull.
const FETCH_MAX: usize = 1_000;

/// Counters, readable while the writer runs.
#[derive(Debug, Default)]
pub struct WriterStats {
    pub received: AtomicU64,
    pub inserted: AtomicU64,
    /// Redelivered events found already stored and not inserted again.
    pub duplicates_skipped: AtomicU64,
    pub dead_lettered: AtomicU64,
    pub insert_failures: AtomicU64,
    /// Secrets replaced by the redactor.
    pub scrubbed: AtomicU64,
    pub batches: AtomicU64,
    pub acked: AtomicU64,
    /// Rows per successful INSERT (for `/metrics`; not in the snapshot).
    pub batch_rows: portcullis_telemetry::SizeHistogram,
    /// Duration of each successful INSERT.
    pub insert_latency: portcullis_telemetry::LatencyHistogram,
}

/// A snapshot of [`WriterStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct WriterStatsSnapshot {
    pub received: u64,
    pub inserted: u64,
    pub duplicates_skipped: u64,
    pub dead_lettered: u64,
    pub insert_failures: u64,
    pub scrubbed: u64,
    pub batches: u64,
    pub acked: u64,
}

impl WriterStats {
    pub fn snapshot(&self) -> WriterStatsSnapshot {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        WriterStatsSnapshot {
            received: g(&self.received),
            inserted: g(&self.inserted),
            duplicates_skipped: g(&self.duplicates_skipped),
            dead_lettered: g(&self.dead_lettered),
            insert_failures: g(&self.insert_failures),
            scrubbed: g(&self.scrubbed),
            batches: g(&self.batches),
            acked: g(&self.acked),
        }
    }
}

/// Test hook: make the writer stop right after an INSERT, before acking
/// (what a crash at the worst moment looks like).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fault {
    #[default]
    None,
    ExitAfterInsert,
}

/// A decoded message waiting in the batch.
struct Held {
    message: Message,
    row: AuditRow,
    redelivered: bool,
}

/// A batch handed from the fetch loop to the insert loop, with its place in
/// the in-flight window (freed when the batch is dropped, after its acks).
struct InFlight {
    batch: Vec<Held>,
    _permit: OwnedSemaphorePermit,
}

pub struct Writer {
    cfg: WriterConfig,
    js: jetstream::Context,
    consumer: PullConsumer,
    store: Store,
    redactor: Redactor,
    stats: Arc<WriterStats>,
    fault: Fault,
}

impl Writer {
    /// Connect to NATS and ClickHouse (waiting for both to come up, until
    /// `stop`), create stream, dead-letter stream, consumer, apply migrations.
    pub async fn connect(
        cfg: WriterConfig,
        stats: Arc<WriterStats>,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<Writer, WriterError> {
        let redactor = Redactor::new(&cfg.redaction.extra_patterns)?;
        let Streams { js, consumer } = nats::setup(&cfg, stop).await?;
        let store = Store::new(&cfg.clickhouse);
        let mut delay = Duration::from_millis(cfg.batch.retry_initial_ms);
        loop {
            match store.migrate().await {
                Ok(_) => break,
                Err(err @ WriterError::Migration { .. }) => return Err(err),
                Err(err) => {
                    tracing::warn!(%err, "ClickHouse not ready, retrying");
                    if sleep_or_stop(delay, stop).await {
                        return Err(err);
                    }
                    delay = (delay * 2).min(Duration::from_millis(cfg.batch.retry_max_ms));
                }
            }
        }
        if let Err(err) = store.apply_retention(cfg.clickhouse.retention_days).await {
            tracing::warn!(%err, "retention not applied");
        }
        Ok(Writer { cfg, js, consumer, store, redactor, stats, fault: Fault::None })
    }

    #[doc(hidden)]
    pub fn with_fault(mut self, fault: Fault) -> Writer {
        self.fault = fault;
        self
    }

    /// Run until `stop` turns true; then flush and ack every batch held.
    pub async fn run(self, stop: watch::Receiver<bool>) -> Result<(), WriterError> {
        let window = Arc::new(Semaphore::new(self.cfg.batch.max_in_flight));
        let (to_insert, from_fetch) = mpsc::unbounded_channel();
        // One task, two loops: dropping the task (abort) stops both, like a crash.
        let ((), inserted) =
            tokio::join!(self.fetch_loop(to_insert, window, stop.clone()), self.insert_loop(from_fetch, stop));
        inserted
    }

    /// Pull and batch until `stop` (or until the insert loop has ended);
    /// hand every due batch, and the last one, to the insert loop.
    async fn fetch_loop(
        &self,
        to_insert: mpsc::UnboundedSender<InFlight>,
        window: Arc<Semaphore>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut batcher: Batcher<Held> =
            Batcher::new(self.cfg.batch.max_events, Duration::from_millis(self.cfg.batch.max_age_ms));
        loop {
            if *stop.borrow() || to_insert.is_closed() {
                break;
            }
            if batcher.is_due() {
                if !self.hand_over(&mut batcher, &to_insert, &window).await {
                    return;
                }
                continue;
            }
            let wait = batcher
                .deadline()
                .map_or(IDLE_FETCH, |d| d.saturating_duration_since(Instant::now()))
                .clamp(MIN_FETCH, IDLE_FETCH);
            let want = batcher.room().min(FETCH_MAX);
            if let Err(err) = self.fetch(want, wait, &mut batcher).await {
                tracing::warn!(%err, "pull from JetStream failed");
                if sleep_or_stop(Duration::from_millis(200), &mut stop).await {
                    break;
                }
            }
        }
        if !batcher.is_empty() {
            tracing::info!(events = batcher.len(), "stopping: flushing the last batch");
            self.hand_over(&mut batcher, &to_insert, &window).await;
        }
        // Dropping `to_insert` lets the insert loop finish what it holds and return.
    }

    /// Wait for a place in the in-flight window, keeping the waiting
    /// messages alive meanwhile, then hand the batch over. `false` when the
    /// insert loop has ended (its error is what `run` returns).
    async fn hand_over(
        &self,
        batcher: &mut Batcher<Held>,
        to_insert: &mpsc::UnboundedSender<InFlight>,
        window: &Arc<Semaphore>,
    ) -> bool {
        let permit = loop {
            tokio::select! {
                permit = window.clone().acquire_owned() => match permit {
                    Ok(permit) => break permit,
                    Err(_) => return false,
                },
                () = to_insert.closed() => return false,
                () = tokio::time::sleep(self.cfg.ack_wait() / 3) => self.keep_alive(batcher.items().iter()).await,
            }
        };
        to_insert.send(InFlight { batch: batcher.take(), _permit: permit }).is_ok()
    }

    /// One pull request: up to `want` messages, for at most `wait`.
    ///
    /// The server ends a pull request with a timeout status when `expires`
    /// passes, but nats-server 2.9 does not always send it (seen when an
    /// age-limited batch makes the expiry short), and the client then waits
    /// `expires` + 5 s: a 5 s stall per batch at steady rates. So the stream
    /// is also dropped `FETCH_GRACE` after the expiry; the server delivers
    /// nothing for an expired request, and anything still in flight would
    /// only be redelivered after `ack_wait`, never lost.
    async fn fetch(&self, want: usize, wait: Duration, batcher: &mut Batcher<Held>) -> Result<(), WriterError> {
        let mut give_up = Instant::now() + wait + FETCH_GRACE;
        let mut messages =
            self.consumer.batch().max_messages(want).expires(wait).messages().await.map_err(WriterError::nats)?;
        while let Ok(Some(message)) = tokio::time::timeout_at(give_up, messages.next()).await {
            let message = message.map_err(WriterError::nats)?;
            self.accept(message, batcher).await;
            // Still delivering: the server's clock for this request started
            // later than ours (a loaded server), so keep listening.
            give_up = give_up.max(Instant::now() + FETCH_GRACE);
        }
        Ok(())
    }

    async fn accept(&self, message: Message, batcher: &mut Batcher<Held>) {
        self.stats.received.fetch_add(1, Ordering::Relaxed);
        let delivered = message.info().map(|i| i.delivered).unwrap_or(1);
        match SecurityEvent::from_msgpack(&message.payload) {
            Ok(mut event) => {
                let scrubbed = self.redactor.scrub_event(&mut event);
                if scrubbed > 0 {
                    self.stats.scrubbed.fetch_add(scrubbed as u64, Ordering::Relaxed);
                    tracing::warn!(event_id = %event.event_id, scrubbed, "secrets scrubbed from an audit event");
                }
                let row = AuditRow::from_event(event);
                batcher.push(Held { message, row, redelivered: delivered > 1 });
            }
            Err(err) => self.undecodable(message, delivered, &err.to_string()).await,
        }
    }

    async fn undecodable(&self, message: Message, delivered: i64, reason: &str) {
        if (delivered as u64) < self.cfg.nats.dead_letter_after {
            tracing::warn!(delivered, %reason, "undecodable audit message, will retry");
            if let Err(err) = message.ack_with(AckKind::Nak(Some(Duration::from_millis(500)))).await {
                tracing::warn!(%err, "nak failed");
            }
            return;
        }
        match nats::dead_letter(&self.js, &self.cfg, &message, reason).await {
            Ok(()) => {
                self.stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
                tracing::error!(subject = %message.subject, %reason, "audit message dead-lettered");
                if let Err(err) = message.double_ack().await {
                    tracing::warn!(%err, "ack of dead-lettered message failed (it will come back and be dead-lettered again, deduplicated)");
                }
            }
            Err(err) => {
                tracing::error!(%err, "dead-letter publish failed; will retry");
                let _ = message.ack_with(AckKind::Nak(Some(Duration::from_secs(1)))).await;
            }
        }
    }
}

/// Sleep, returning early with `true` when `stop` turns true.
pub(crate) async fn sleep_or_stop(delay: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(delay) => *stop.borrow(),
        changed = stop.changed() => changed.is_err() || *stop.borrow(),
    }
}

/// A dead-letter message's headers (reason, origin).
pub(crate) fn dead_letter_headers(message: &Message, reason: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let one_line: String = reason.chars().filter(|c| !c.is_control()).take(512).collect();
    headers.insert("Portcullis-Dead-Letter-Reason", one_line.as_str());
    headers.insert("Portcullis-Original-Subject", message.subject.as_str());
    if let Ok(info) = message.info() {
        let seq = info.stream_sequence.to_string();
        headers.insert("Portcullis-Original-Sequence", seq.as_str());
        let id = format!("deadletter-{}-{}", info.stream, info.stream_sequence);
        headers.insert("Nats-Msg-Id", id.as_str());
    }
    headers
}
