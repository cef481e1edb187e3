//! The insert loop: one batch at a time into ClickHouse, then its acks.
//!
//! Batches are inserted in the order the fetch loop handed them over, one
//! INSERT at a time: two concurrent INSERTs would only compete for the same
//! two cores on the ClickHouse side, while overlapping an INSERT with the
//! next fetch uses the NATS server and ClickHouse at the same time.
//!
//! Acks are explicit, one per message, sent only after the INSERT holding
//! the row succeeded (then flushed to the server). `AckPolicy::All` (one ack
//! of the last message acks everything below it) would save the NATS server
//! most of its ack work, but is not safe here, so it is not used:
//! * a redelivered message (low stream sequence) can sit in a later batch than
//!   higher sequences that are acked first: the ack of those would ack it
//!   before its row is stored, and a crash at that moment would lose it;
//! * an undecodable message is nak'ed to be retried and then dead-lettered;
//!   any later ack would silently ack it, skipping the dead-letter stream;
//! * writers sharing the durable consumer (scaling out) get interleaved
//!   sequences, and one writer's ack would ack the other's unwritten batch;
//! * nats-server 2.9 cannot change a durable consumer's ack policy in place.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_nats::jetstream::AckKind;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use uuid::Uuid;

use super::{Fault, Held, InFlight, Writer};
use crate::error::WriterError;
use crate::row::AuditRow;

/// What became of a batch.
enum Flushed {
    Acked,
    /// Stopping, and ClickHouse stayed down past `shutdown_timeout_secs`:
    /// left unacked, JetStream redelivers it to the next writer.
    GaveUp,
}

impl Writer {
    /// Insert and ack every batch handed over, in order, until the fetch
    /// loop has stopped and nothing is left.
    pub(super) async fn insert_loop(
        &self,
        mut from_fetch: mpsc::UnboundedReceiver<InFlight>,
        mut stop: watch::Receiver<bool>,
    ) -> Result<(), WriterError> {
        // Batches received while an earlier one is being retried (kept alive with it).
        let mut queued: VecDeque<InFlight> = VecDeque::new();
        loop {
            let next = match queued.pop_front() {
                Some(next) => next,
                None => match from_fetch.recv().await {
                    Some(next) => next,
                    None => return Ok(()),
                },
            };
            match self.flush(next, &mut queued, &mut from_fetch, &mut stop).await? {
                Flushed::Acked => {}
                Flushed::GaveUp => {
                    let left: usize = queued.iter().map(|b| b.batch.len()).sum();
                    tracing::error!(events = left, "shutdown timeout: queued batches left unacked for redelivery");
                    return Ok(());
                }
            }
        }
    }

    /// Insert the batch (retrying as long as it takes), then ack it.
    async fn flush(
        &self,
        in_flight: InFlight,
        queued: &mut VecDeque<InFlight>,
        from_fetch: &mut mpsc::UnboundedReceiver<InFlight>,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<Flushed, WriterError> {
        let batch = &in_flight.batch;
        let mut must_check = batch.iter().any(|h| h.redelivered);
        let mut delay = Duration::from_millis(self.cfg.batch.retry_initial_ms);
        let max_delay = Duration::from_millis(self.cfg.batch.retry_max_ms);
        let mut last_progress = Instant::now();
        let shutdown_deadline = Duration::from_secs(self.cfg.batch.shutdown_timeout_secs);
        let mut stopping_since: Option<Instant> = None;
        loop {
            match self.insert_missing(batch, must_check).await {
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
                    return Ok(Flushed::GaveUp);
                }
            }
            // Batches handed over meanwhile wait here, and are kept alive with this one.
            while let Ok(next) = from_fetch.try_recv() {
                queued.push_back(next);
            }
            if last_progress.elapsed() >= self.cfg.ack_wait() / 3 {
                self.keep_alive(batch.iter().chain(queued.iter().flat_map(|b| b.batch.iter()))).await;
                last_progress = Instant::now();
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(max_delay);
        }
        if self.fault == Fault::ExitAfterInsert {
            return Err(WriterError::Nats("fault injection: exit after insert".to_owned()));
        }
        for held in batch {
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
        Ok(Flushed::Acked)
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
        let mut seen = HashSet::with_capacity(rows.len());
        let before = rows.len();
        rows.retain(|r| seen.insert(r.event_id));
        self.stats.duplicates_skipped.fetch_add((before - rows.len()) as u64, Ordering::Relaxed);
        let inserting = std::time::Instant::now();
        self.store.insert(&rows).await?;
        self.stats.insert_latency.observe(inserting.elapsed());
        self.stats.batch_rows.observe(rows.len());
        self.stats.inserted.fetch_add(rows.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// In-progress acks: reset `ack_wait` for every held message so an
    /// outage does not turn into redeliveries (and towards `max_deliver`).
    pub(super) async fn keep_alive(&self, held: impl Iterator<Item = &Held>) {
        for held in held {
            if let Err(err) = held.message.ack_with(AckKind::Progress).await {
                tracing::debug!(%err, "in-progress ack failed");
            }
        }
    }
}
