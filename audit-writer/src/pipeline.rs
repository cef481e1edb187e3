//! The writer loop: pull events from JetStream, batch, insert, then ack.
//!
//! Guarantees:
//! * A message is acked only after the INSERT holding its row succeeded, so
//!   a crash loses nothing (unacked messages are redelivered after `ack_wait`).
//! * Redelivered messages, and every retry after a failed INSERT (whose
//!   outcome is unknown), are checked against `audit_events` first and rows
//!   already stored are skipped: each event is inserted once, so the
//!   materialized usage views stay exact; ReplacingMergeTree + `FINAL` is the
//!   second line of defence for the event table itself.
//! * ClickHouse down: the batch is kept and retried with exponential backoff;
//!   nothing new is fetched meanwhile and the held messages get in-progress
//!   acks, so an outage never pushes them towards `max_deliver`.
//! * A message that cannot be decoded is nak'ed with a delay, and after
//!   `dead_letter_after` deliveries published to the dead-letter subject
//!   (its own stream) with the reason, then acked and counted.
//! * Stop (SIGTERM/ctrl-c): the current batch is flushed and acked.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, AckKind, Message, consumer::PullConsumer};
use futures_util::StreamExt;
use portcullis_schemas::SecurityEvent;
use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;
use uuid::Uuid;

use crate::batcher::Batcher;
use crate::config::WriterConfig;
use crate::error::WriterError;
use crate::nats::{self, Streams};
use crate::redact::Redactor;
use crate::row::AuditRow;
use crate::store::Store;

/// Longest single pull request while idle (also the stop latency).
const IDLE_FETCH: Duration = Duration::from_millis(500);
/// Shortest pull request (the server wants a positive `expires`).
const MIN_FETCH: Duration = Duration::from_millis(5);
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

    /// Run until `stop` turns true; then flush and ack the current batch.
    pub async fn run(self, mut stop: watch::Receiver<bool>) -> Result<(), WriterError> {
        let mut batcher: Batcher<Held> =
            Batcher::new(self.cfg.batch.max_events, Duration::from_millis(self.cfg.batch.max_age_ms));
        loop {
            if *stop.borrow() {
                break;
            }
            if batcher.is_due() {
                self.flush(&mut batcher, &mut stop).await?;
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
            self.flush(&mut batcher, &mut stop).await?;
        }
        Ok(())
    }

    async fn fetch(&self, want: usize, wait: Duration, batcher: &mut Batcher<Held>) -> Result<(), WriterError> {
        let mut messages = self
            .consumer
            .batch()
            .max_messages(want)
            .expires(wait)
            .messages()
            .await
            .map_err(WriterError::nats)?;
        while let Some(message) = messages.next().await {
            let message = message.map_err(WriterError::nats)?;
            self.accept(message, batcher).await;
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

    /// Insert the batch (retrying as long as it takes), then ack it.
    async fn flush(&self, batcher: &mut Batcher<Held>, stop: &mut watch::Receiver<bool>) -> Result<(), WriterError> {
        let batch = batcher.take();
        let mut must_check = batch.iter().any(|h| h.redelivered);
        let mut delay = Duration::from_millis(self.cfg.batch.retry_initial_ms);
        let max_delay = Duration::from_millis(self.cfg.batch.retry_max_ms);
        let mut last_progress = Instant::now();
        let shutdown_deadline = Duration::from_secs(self.cfg.batch.shutdown_timeout_secs);
        let mut stopping_since: Option<Instant> = None;
        loop {
            match self.insert_missing(&batch, must_check).await {
                Ok(()) => break,
                Err(err) => {
                    self.stats.insert_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%err, events = batch.len(), retry_in = ?delay, "insert failed, keeping the batch");
                    // The failed INSERT may have landed after all: check before the next one.
                    must_check = true;
                }
            }
            if *stop.borrow() {
                let since = *stopping_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= shutdown_deadline {
                    tracing::error!(events = batch.len(), "shutdown timeout: batch left unacked for redelivery");
                    return Ok(());
                }
            }
            if last_progress.elapsed() >= self.cfg.ack_wait() / 3 {
                self.keep_alive(&batch).await;
                last_progress = Instant::now();
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(max_delay);
        }
        if self.fault == Fault::ExitAfterInsert {
            return Err(WriterError::Nats("fault injection: exit after insert".to_owned()));
        }
        for held in &batch {
            match held.message.ack().await {
                Ok(()) => {
                    self.stats.acked.fetch_add(1, Ordering::Relaxed);
                }
                // Redelivered later and then skipped as already stored.
                Err(err) => tracing::warn!(%err, "ack failed"),
            }
        }
        // Acks are buffered by the client: push them out now, so a stop (or a
        // crash) right after this batch does not leave it to be redelivered.
        if let Err(err) = self.js.client().flush().await {
            tracing::warn!(%err, "flushing acks failed");
        }
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn insert_missing(&self, batch: &[Held], check: bool) -> Result<(), WriterError> {
        let mut rows: Vec<&AuditRow> = batch.iter().map(|h| &h.row).collect();
        if check {
            let ids: Vec<Uuid> = rows.iter().map(|r| r.event_id).collect();
            let existing = self.store.existing_ids(&ids).await?;
            if !existing.is_empty() {
                rows.retain(|r| !existing.contains(&r.event_id));
                self.stats.duplicates_skipped.fetch_add((batch.len() - rows.len()) as u64, Ordering::Relaxed);
            }
        }
        // Several copies of one event in the same batch (a re-publish from a
        // gateway spool outside the dedup window): keep the first.
        let mut seen = std::collections::HashSet::with_capacity(rows.len());
        let before = rows.len();
        rows.retain(|r| seen.insert(r.event_id));
        self.stats.duplicates_skipped.fetch_add((before - rows.len()) as u64, Ordering::Relaxed);
        self.store.insert(&rows).await?;
        self.stats.inserted.fetch_add(rows.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// In-progress acks: reset `ack_wait` for every held message so an
    /// outage does not turn into redeliveries (and towards `max_deliver`).
    async fn keep_alive(&self, batch: &[Held]) {
        for held in batch {
            if let Err(err) = held.message.ack_with(AckKind::Progress).await {
                tracing::debug!(%err, "in-progress ack failed");
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
