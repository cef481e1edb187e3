//! Shared helpers for the integration tests: servers, configs, events.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use audit_writer::pipeline::Fault;
use audit_writer::{Writer, WriterConfig, WriterStats};
use portcullis_schemas::{Decision, SecurityEvent};
use test_support::{ClickHouseServer, NatsServer};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub const TEST_KEY: &str = "sk-ant-api03-TESTKEYdonotstore0123456789abcdefghij";

pub fn writer_config(nats: &NatsServer, ch: &ClickHouseServer) -> WriterConfig {
    let mut cfg = WriterConfig::default();
    cfg.nats.url = nats.url();
    cfg.nats.ack_wait_secs = 3;
    cfg.clickhouse.url = ch.http_url();
    cfg.batch.max_events = 500;
    cfg.batch.max_age_ms = 200;
    cfg.batch.retry_initial_ms = 100;
    cfg.batch.retry_max_ms = 1_000;
    cfg.validate().unwrap();
    cfg
}

pub struct RunningWriter {
    pub stats: Arc<WriterStats>,
    pub stop: watch::Sender<bool>,
    pub task: JoinHandle<Result<(), audit_writer::WriterError>>,
}

impl RunningWriter {
    pub async fn start(cfg: WriterConfig, fault: Fault) -> RunningWriter {
        let stats = Arc::new(WriterStats::default());
        let (stop, mut stop_rx) = watch::channel(false);
        let writer = Writer::connect(cfg, stats.clone(), &mut stop_rx).await.unwrap().with_fault(fault);
        let task = tokio::spawn(writer.run(stop_rx));
        RunningWriter { stats, stop, task }
    }

    pub async fn stop(self) -> Result<(), audit_writer::WriterError> {
        let _ = self.stop.send(true);
        self.task.await.unwrap()
    }
}

/// A request event with deterministic tokens derived from `i`.
pub fn event(i: u64) -> SecurityEvent {
    let tenant = ["acme", "globex", "initech"][(i % 3) as usize];
    let mut e = SecurityEvent::new_request(now_ms(), tenant, format!("proj-{}", i % 2));
    e.path = "/v1/messages".into();
    e.method = "POST".into();
    e.model = Some(if i.is_multiple_of(2) { "claude-sonnet-4-5" } else { "claude-haiku-4-5" }.into());
    e.session_id = Some(format!("session-{}", i % 5));
    e.input_tokens = 10 + i;
    e.output_tokens = 1 + i % 7;
    e.cache_read_input_tokens = i % 3;
    e.gateway_status = 200;
    e.upstream_status = Some(200);
    e.decision = if i.is_multiple_of(10) { Decision::Block } else { Decision::Allow };
    e
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

pub async fn count(ch: &ClickHouseServer, sql: &str) -> u64 {
    match ch.query(sql).await {
        Ok(text) => text.trim().parse().unwrap_or(0),
        Err(_) => 0,
    }
}

/// Poll `sql` (a single number) until it equals `expected` or `timeout` passes; returns the last value.
pub async fn wait_for_count(ch: &ClickHouseServer, sql: &str, expected: u64, timeout: Duration) -> u64 {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let n = count(ch, sql).await;
        if n == expected || tokio::time::Instant::now() >= deadline {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Publish events straight to JetStream as the gateway would.
pub async fn publish(nats: &NatsServer, events: &[SecurityEvent]) {
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    js.get_or_create_stream(audit_writer::nats::audit_stream_config(&WriterConfig::default())).await.unwrap();
    let mut acks = Vec::new();
    for e in events {
        let msg = async_nats::jetstream::message::PublishMessage::build()
            .payload(e.to_msgpack().unwrap().into())
            .message_id(e.event_id.to_string());
        acks.push(js.send_publish(format!("audit.events.{}", e.tenant), msg).await.unwrap());
    }
    for ack in acks {
        ack.await.unwrap();
    }
}

pub const DB: &str = "portcullis";
