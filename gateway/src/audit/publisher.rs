//! The background task that moves events from [`super::AuditSink::record`]
//! to JetStream, and to the spool while JetStream is out of reach.
//!
//! One task owns all state (spool, in-flight acks), so the order decisions
//! are race-free: while the spool holds anything, new events are appended
//! behind it and the spool is replayed head first; once it is empty, events
//! are published directly again. Publishes wait for their ack here, in a
//! window of at most `max_in_flight`, never on the request path. An event
//! whose publish or ack fails goes to the spool and is republished with the
//! same `Nats-Msg-Id`, so a publish that did land is deduplicated by the stream.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_nats::connection::State;
use async_nats::jetstream::{self, message::PublishMessage, stream};
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use portcullis_schemas::SecurityEvent;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use uuid::Uuid;

use super::config::AuditConfig;
use super::health::Counters;
use super::live_backlog::LiveBacklog;
use super::spool::{Spool, SpoolAppendError, SpoolRecord};
use super::subject::subject_for;

/// What the sink sends to its background task.
pub(super) enum Command {
    Event(Box<SecurityEvent>),
    /// Flush what can be flushed, then answer and stop.
    Shutdown(oneshot::Sender<()>),
}

/// Spooled records republished per round (then the task serves new events again).
const REPLAY_WINDOW: usize = 512;
/// Bytes a JetStream publish adds to the payload (the `Nats-Msg-Id` header and framing),
/// counted against the server's `max_payload`.
const PUBLISH_HEADER_ROOM: usize = 256;
/// Wait after a failed replay round before trying again.
const REPLAY_BACKOFF: Duration = Duration::from_millis(500);
/// Commands handled per wake-up before the spool is flushed.
const BURST: usize = 1024;
/// How often the task wakes to notice a reconnect and resume replay.
const TICK: Duration = Duration::from_millis(100);

/// An event published and waiting for its ack.
struct Pending {
    subject: String,
    event_id: Uuid,
    payload: Bytes,
}

type AckFuture = Pin<Box<dyn Future<Output = (Pending, Result<(), String>)> + Send>>;

pub(super) struct Publisher {
    cfg: AuditConfig,
    client: async_nats::Client,
    js: jetstream::Context,
    counters: Arc<Counters>,
    spool: Spool,
    stream_ready: bool,
    in_flight: FuturesUnordered<AckFuture>,
    replay_not_before: Instant,
    /// Spool bytes at which reject mode starts refusing (below the hard bound,
    /// so events already queued in memory still fit).
    full_threshold: u64,
    was_connected: bool,
    /// Live copies of events recorded while disconnected.
    live_backlog: LiveBacklog,
}

impl Publisher {
    pub(super) fn new(
        cfg: AuditConfig,
        client: async_nats::Client,
        counters: Arc<Counters>,
        spool: Spool,
    ) -> Publisher {
        let js = jetstream::ContextBuilder::new()
            .timeout(Duration::from_millis(cfg.publish_ack_timeout_ms))
            .max_ack_inflight(cfg.max_in_flight + REPLAY_WINDOW)
            .build(client.clone());
        let headroom = (cfg.spool_max_bytes / 10).min(4 * 1024 * 1024);
        let full_threshold = cfg.spool_max_bytes - headroom;
        Publisher {
            cfg,
            client,
            js,
            counters,
            spool,
            stream_ready: false,
            in_flight: FuturesUnordered::new(),
            replay_not_before: Instant::now(),
            full_threshold,
            was_connected: false,
            live_backlog: LiveBacklog::default(),
        }
    }

    pub(super) async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Command>) {
        self.update_spool_counters();
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            let connected = self.refresh_connected();
            if connected && !self.live_backlog.is_empty() {
                self.send_live_backlog().await;
            }
            if connected && !self.spool.is_empty() && Instant::now() >= self.replay_not_before {
                self.replay_window().await;
            }
            tokio::select! {
                Some((pending, result)) = self.in_flight.next(), if !self.in_flight.is_empty() => {
                    self.on_ack(pending, result);
                }
                command = rx.recv() => {
                    let Some(command) = command else {
                        self.finish().await;
                        return;
                    };
                    let mut next = Some(command);
                    let mut handled = 0;
                    while let Some(command) = next.take() {
                        match command {
                            Command::Event(event) => self.on_event(*event).await,
                            Command::Shutdown(done) => {
                                // Everything recorded before the shutdown is ahead of it in the channel.
                                while let Ok(Command::Event(event)) = rx.try_recv() {
                                    self.on_event(*event).await;
                                }
                                self.finish().await;
                                let _ = done.send(());
                                return;
                            }
                        }
                        handled += 1;
                        if handled < BURST {
                            next = rx.try_recv().ok();
                        }
                    }
                    self.flush_spool();
                }
                _ = tick.tick() => {}
            }
        }
    }

    fn refresh_connected(&mut self) -> bool {
        let connected = self.client.connection_state() == State::Connected;
        if connected != self.was_connected {
            if connected {
                tracing::info!(spooled = self.spool.depth(), "audit: NATS connected");
            } else {
                tracing::warn!("audit: NATS unreachable, spooling events to disk");
            }
            self.was_connected = connected;
        }
        self.counters.connected.store(connected, Ordering::Relaxed);
        connected
    }

    async fn on_event(&mut self, event: SecurityEvent) {
        self.counters.queued.fetch_sub(1, Ordering::Relaxed);
        let subject = subject_for(&self.cfg.subject_prefix, &event.tenant);
        let payload = match event.to_msgpack() {
            Ok(bytes) => Bytes::from(bytes),
            Err(err) => {
                self.counters.drop_event(&format!("encoding failed: {err}"));
                return;
            }
        };
        let connected = self.refresh_connected();
        if self.cfg.live_events {
            self.publish_live(&event, connected).await;
        }
        if self.exceeds_max_payload(payload.len()) {
            // Spooled, it would block every later event behind it forever.
            self.counters.drop_event("event larger than the NATS server's max_payload");
            return;
        }
        let pending = Pending { subject, event_id: event.event_id, payload };
        if !connected || !self.spool.is_empty() || !self.ensure_stream().await {
            self.spool_pending(pending);
            return;
        }
        while self.in_flight.len() >= self.cfg.max_in_flight {
            if let Some((done, result)) = self.in_flight.next().await {
                self.on_ack(done, result);
            }
        }
        if !self.spool.is_empty() {
            // An ack failed while we waited: stay behind the spooled events.
            self.spool_pending(pending);
            return;
        }
        self.publish(pending).await;
    }

    /// Core-NATS copy for live views: best effort, never spooled; kept in
    /// the bounded [`LiveBacklog`] while disconnected.
    async fn publish_live(&mut self, event: &SecurityEvent, connected: bool) {
        let subject = subject_for(&self.cfg.live_subject_prefix, &event.tenant);
        let json = match event.to_json() {
            Ok(json) => Bytes::from(json),
            Err(err) => {
                tracing::debug!(%err, "audit: live event not encoded");
                return;
            }
        };
        if connected {
            self.send_live(subject, json).await;
        } else {
            self.live_backlog.push(subject, json);
        }
    }

    async fn send_live_backlog(&mut self) {
        for (subject, json) in self.live_backlog.drain_fresh() {
            self.send_live(subject, json).await;
        }
    }

    async fn send_live(&mut self, subject: String, json: Bytes) {
        if let Err(err) = self.client.publish(subject, json).await {
            tracing::debug!(%err, "audit: live event not published");
        }
    }

    /// Whether a payload of `len` bytes can never be published to this server (its
    /// `max_payload`, with room for the message-id header). Unknown before the first
    /// connection: then nothing is refused.
    fn exceeds_max_payload(&self, len: usize) -> bool {
        let max = self.client.max_payload();
        max > 0 && len.saturating_add(PUBLISH_HEADER_ROOM) > max
    }

    async fn publish(&mut self, pending: Pending) {
        let message = PublishMessage::build().payload(pending.payload.clone()).message_id(pending.event_id.to_string());
        let sent = std::time::Instant::now();
        match self.js.send_publish(pending.subject.clone(), message).await {
            Ok(ack) => {
                self.counters.in_flight.fetch_add(1, Ordering::Relaxed);
                let latency = self.counters.publish_latency.clone();
                self.in_flight.push(Box::pin(async move {
                    let result = ack.await.map(|_| ()).map_err(|err| err.to_string());
                    if result.is_ok() {
                        latency.observe(sent.elapsed());
                    }
                    (pending, result)
                }));
            }
            Err(err) => {
                tracing::warn!(%err, "audit: publish failed, spooling");
                self.spool_pending(pending);
            }
        }
    }

    fn on_ack(&mut self, pending: Pending, result: Result<(), String>) {
        self.counters.in_flight.fetch_sub(1, Ordering::Relaxed);
        match result {
            Ok(()) => {
                self.counters.published.fetch_add(1, Ordering::Relaxed);
            }
            Err(err) => {
                if err.contains("no responders") {
                    // The stream is gone (deleted, or a fresh server): recreate it before the replay.
                    self.stream_ready = false;
                }
                tracing::warn!(%err, event_id = %pending.event_id, "audit: no publish ack, spooling");
                self.spool_pending(pending);
                self.flush_spool();
            }
        }
    }

    /// Create the stream if needed; `false` if JetStream cannot be reached.
    async fn ensure_stream(&mut self) -> bool {
        if self.stream_ready {
            return true;
        }
        let config = stream::Config {
            name: self.cfg.stream_name.clone(),
            subjects: vec![format!("{}.>", self.cfg.subject_prefix)],
            storage: stream::StorageType::File,
            retention: stream::RetentionPolicy::Limits,
            max_age: Duration::from_secs(self.cfg.stream_max_age_secs),
            duplicate_window: Duration::from_secs(self.cfg.duplicate_window_secs),
            num_replicas: self.cfg.stream_replicas,
            ..Default::default()
        };
        match self.js.get_or_create_stream(config).await {
            Ok(_) => {
                self.stream_ready = true;
                true
            }
            Err(err) => {
                tracing::warn!(%err, stream = %self.cfg.stream_name, "audit: JetStream stream not available");
                self.replay_not_before = Instant::now() + REPLAY_BACKOFF;
                false
            }
        }
    }

    fn spool_pending(&mut self, pending: Pending) {
        let record =
            SpoolRecord { subject: pending.subject, event_id: pending.event_id, payload: pending.payload.to_vec() };
        match self.spool.append(&record) {
            Ok(()) => {
                self.counters.spooled.fetch_add(1, Ordering::Relaxed);
            }
            Err(SpoolAppendError::Full) => self.counters.drop_event("audit spool full"),
            Err(SpoolAppendError::Io(err)) => {
                self.counters.drop_event(&format!("audit spool write failed: {err}"));
            }
        }
        self.update_spool_counters();
    }

    fn flush_spool(&mut self) {
        if let Err(err) = self.spool.flush() {
            tracing::error!(%err, "audit: spool flush failed");
        }
    }

    fn update_spool_counters(&self) {
        let bytes = self.spool.bytes();
        self.counters.spool_depth.store(self.spool.depth(), Ordering::Relaxed);
        self.counters.spool_bytes.store(bytes, Ordering::Relaxed);
        self.counters.spool_full.store(bytes >= self.full_threshold, Ordering::Relaxed);
    }

    /// Republish up to [`REPLAY_WINDOW`] spooled records, oldest first, and
    /// drop from the spool the longest prefix that JetStream acknowledged.
    async fn replay_window(&mut self) {
        let batch = match self.spool.peek(REPLAY_WINDOW) {
            Ok(batch) => batch,
            Err(err) => {
                tracing::error!(%err, "audit: spool read failed");
                self.replay_not_before = Instant::now() + REPLAY_BACKOFF;
                return;
            }
        };
        if batch.is_empty() || !self.ensure_stream().await {
            return;
        }
        let batch_len = batch.len() as u64;
        let mut acks = Vec::with_capacity(batch.len());
        for (record, pos) in batch {
            if self.exceeds_max_payload(record.payload.len()) {
                // Spooled before the server's limit was known: it can never be published,
                // and must not hold back the records behind it.
                self.counters.drop_event("spooled event larger than the NATS server's max_payload");
                acks.push((None, pos));
                continue;
            }
            let message =
                PublishMessage::build().payload(Bytes::from(record.payload)).message_id(record.event_id.to_string());
            match self.js.send_publish(record.subject, message).await {
                Ok(ack) => acks.push((Some(ack), pos)),
                Err(_) => break,
            }
        }
        let (futures, positions): (Vec<_>, Vec<_>) = acks.into_iter().unzip();
        let results = futures_util::future::join_all(futures.into_iter().map(|ack| async move {
            match ack {
                Some(ack) => ack.into_future().await.map(|_| true),
                None => Ok(false),
            }
        }))
        .await;
        let mut committed = None;
        let mut count = 0u64;
        let mut published = 0u64;
        for (result, pos) in results.into_iter().zip(positions) {
            let Ok(was_published) = result else { break };
            committed = Some(pos);
            count += 1;
            published += u64::from(was_published);
        }
        if let Some(pos) = committed {
            if let Err(err) = self.spool.commit(pos, count) {
                tracing::error!(%err, "audit: spool head not saved");
            }
            self.counters.published.fetch_add(published, Ordering::Relaxed);
            self.update_spool_counters();
            if self.spool.is_empty() {
                tracing::info!("audit: spool replayed");
            }
        }
        if count < batch_len {
            self.replay_not_before = Instant::now() + REPLAY_BACKOFF;
        }
    }

    /// Shutdown: wait for outstanding acks (spooling failures), replay what
    /// fits in one ack timeout, and leave the rest on disk for the next start.
    async fn finish(&mut self) {
        // Each ack future ends within the ack timeout (the context's timeout),
        // so this wait is bounded; failures land in the spool.
        while let Some((pending, result)) = self.in_flight.next().await {
            self.on_ack(pending, result);
        }
        if self.refresh_connected() && !self.live_backlog.is_empty() {
            self.send_live_backlog().await;
        }
        let deadline = Instant::now() + Duration::from_millis(self.cfg.publish_ack_timeout_ms);
        while self.refresh_connected() && !self.spool.is_empty() && Instant::now() < deadline {
            let before = self.spool.depth();
            self.replay_window().await;
            if self.spool.depth() >= before {
                break;
            }
        }
        self.flush_spool();
        self.update_spool_counters();
    }
}
