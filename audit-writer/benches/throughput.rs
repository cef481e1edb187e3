#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Audit pipeline benchmark against real servers (from test-support):
//!
//! 1. **Sustained throughput**: N events are first put into JetStream, then a
//!    writer with the default batching (10,000 events / 1 s) drains them into
//!    ClickHouse; events/s = N / time until all N rows are counted.
//! 2. **End-to-end lag** at a fixed rate (default 5,000 events/s for 10 s)
//!    while the writer runs: per event, the time from its publish until a
//!    `count()` poll (every 20 ms) first includes it; p50/p99 reported.
//!
//! `AUDIT_BENCH_EVENTS` and `AUDIT_BENCH_RATE` override the sizes;
//! `AUDIT_BENCH_IN_FLIGHT` sets `batch.max_in_flight` (1 = no overlap of the
//! next fetch with the current INSERT, for comparison) and
//! `AUDIT_BENCH_BATCH` sets `batch.max_events`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, message::PublishMessage};
use audit_writer::{Writer, WriterConfig, WriterStats};
use portcullis_schemas::{Decision, SecurityEvent};
use test_support::{ClickHouseServer, NatsServer};
use tokio::sync::watch;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn event(i: u64) -> SecurityEvent {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let mut e = SecurityEvent::new_request(now, ["acme", "globex", "initech"][(i % 3) as usize], "proj");
    e.path = "/v1/messages".into();
    e.method = "POST".into();
    e.model = Some("claude-sonnet-4-5".into());
    e.session_id = Some(format!("session-{}", i % 100));
    e.user_agent = Some("claude-cli/2.1.0 (external, sdk-cli)".into());
    e.has_system_prompt = true;
    e.max_tokens = Some(64_000);
    e.stream = true;
    e.tool_count = 25;
    e.input_tokens = 12_000 + i % 1000;
    e.output_tokens = 300;
    e.cache_read_input_tokens = 80_000;
    e.gateway_status = 200;
    e.upstream_status = Some(200);
    e.decision = Decision::Allow;
    e.latency_total_ms = 2_500;
    e.upstream_ms = Some(2_480);
    e.overhead_us = 90;
    e.bytes_in = 87_000;
    e.bytes_out = 4_000;
    e
}

async fn count(ch: &ClickHouseServer) -> u64 {
    ch.query("SELECT count() FROM portcullis.audit_events").await.map(|t| t.trim().parse().unwrap_or(0)).unwrap_or(0)
}

async fn publish_all(js: &jetstream::Context, from: u64, to: u64) {
    let mut acks = Vec::with_capacity(4096);
    for i in from..to {
        let e = event(i);
        let msg = PublishMessage::build().payload(e.to_msgpack().unwrap().into()).message_id(e.event_id.to_string());
        acks.push(js.send_publish(format!("audit.events.{}", e.tenant), msg).await.unwrap());
        if acks.len() == 4096 {
            for ack in acks.drain(..) {
                ack.await.unwrap();
            }
        }
    }
    for ack in acks {
        ack.await.unwrap();
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let n = env_u64("AUDIT_BENCH_EVENTS", 200_000);
    let rate = env_u64("AUDIT_BENCH_RATE", 5_000);
    let nats = NatsServer::start().await.unwrap();
    let ch = Arc::new(ClickHouseServer::start().await.unwrap());
    let mut cfg = WriterConfig::default();
    cfg.nats.url = nats.url();
    cfg.clickhouse.url = ch.http_url();
    cfg.batch.max_events = env_u64("AUDIT_BENCH_BATCH", cfg.batch.max_events as u64) as usize;
    cfg.batch.max_in_flight = env_u64("AUDIT_BENCH_IN_FLIGHT", cfg.batch.max_in_flight as u64) as usize;
    println!(
        "batches of {} events / {} ms, {} in flight",
        cfg.batch.max_events, cfg.batch.max_age_ms, cfg.batch.max_in_flight
    );

    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = jetstream::new(client);
    js.get_or_create_stream(audit_writer::nats::audit_stream_config(&cfg)).await.unwrap();
    let t = Instant::now();
    publish_all(&js, 0, n).await;
    let publish_secs = t.elapsed().as_secs_f64();
    println!(
        "published {n} events to JetStream in {publish_secs:.2} s ({:.0} events/s, acked)",
        n as f64 / publish_secs
    );

    // 1. Drain the backlog.
    let stats = Arc::new(WriterStats::default());
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let writer = Writer::connect(cfg.clone(), stats.clone(), &mut stop_rx).await.unwrap();
    let t = Instant::now();
    let task = tokio::spawn(writer.run(stop_rx));
    while count(&ch).await < n {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "sustained JetStream -> ClickHouse: {n} events in {secs:.2} s = {:.0} events/s ({} batches)",
        n as f64 / secs,
        stats.snapshot().batches
    );

    // 2. Lag at a fixed rate.
    let duration = Duration::from_secs(10);
    let total = rate * duration.as_secs();
    let base = count(&ch).await;
    let mut sent_at = Vec::with_capacity(total as usize);
    let poller = {
        let ch = ch.clone();
        tokio::spawn(async move {
            let mut samples = Vec::new();
            let start = Instant::now();
            while start.elapsed() < duration + Duration::from_secs(10) {
                samples.push((Instant::now(), count(&ch).await));
                if samples.last().is_some_and(|(_, c)| *c >= base + total) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            samples
        })
    };
    let start = Instant::now();
    let tick = Duration::from_millis(10);
    let per_tick = rate / 100;
    let mut next = start;
    let mut i = n;
    while sent_at.len() < total as usize {
        let now = Instant::now();
        for _ in 0..per_tick {
            let e = event(i);
            i += 1;
            let msg =
                PublishMessage::build().payload(e.to_msgpack().unwrap().into()).message_id(e.event_id.to_string());
            // Acks are awaited in the background, like the gateway does.
            let ack = js.send_publish(format!("audit.events.{}", e.tenant), msg).await.unwrap();
            tokio::spawn(async move { ack.await.unwrap() });
            sent_at.push(now);
        }
        next += tick;
        tokio::time::sleep_until(next.into()).await;
    }
    let samples = poller.await.unwrap();
    let mut lags = Vec::with_capacity(sent_at.len());
    let mut s = 0;
    for (k, sent) in sent_at.iter().enumerate() {
        while s < samples.len() && samples[s].1 < base + k as u64 + 1 {
            s += 1;
        }
        if let Some((seen, _)) = samples.get(s) {
            lags.push(seen.saturating_duration_since(*sent));
        }
    }
    lags.sort();
    println!(
        "end-to-end lag at {rate} events/s for {} s: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms ({} of {} events seen; 20 ms poll resolution)",
        duration.as_secs(),
        percentile(&lags, 0.5).as_secs_f64() * 1e3,
        percentile(&lags, 0.99).as_secs_f64() * 1e3,
        lags.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        lags.len(),
        total
    );
    let _ = stop_tx.send(true);
    task.await.unwrap().unwrap();
    println!("writer stats: {:?}", stats.snapshot());
}
