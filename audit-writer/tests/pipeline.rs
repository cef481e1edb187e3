#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The writer against real NATS and ClickHouse servers: exactly once,
//! crashes, outages, dead letters, graceful stop, usage report.

mod common;

use std::time::Duration;

use audit_writer::pipeline::Fault;
use common::*;
use test_support::{ClickHouseServer, NatsServer};

const FINAL_COUNT: &str = "SELECT count() FROM portcullis.audit_events FINAL";
const RAW_COUNT: &str = "SELECT count() FROM portcullis.audit_events";
const MV_REQUESTS: &str = "SELECT sum(requests) FROM portcullis.usage_daily";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_land_exactly_once_with_correct_values_and_no_secrets() {
    let nats = NatsServer::start().await.unwrap();
    let ch = ClickHouseServer::start().await.unwrap();
    let writer = RunningWriter::start(writer_config(&nats, &ch), Fault::None).await;

    let mut events: Vec<_> = (0..1_200).map(event).collect();
    events[3].user_agent = Some(format!("evil {TEST_KEY}"));
    events[4].reasons = vec![format!("Authorization: Bearer {TEST_KEY}")];
    publish(&nats, &events).await;
    // The same events again: JetStream deduplicates by Nats-Msg-Id.
    publish(&nats, &events[..100]).await;

    assert_eq!(wait_for_count(&ch, FINAL_COUNT, 1_200, Duration::from_secs(30)).await, 1_200);
    assert_eq!(count(&ch, RAW_COUNT).await, 1_200, "no duplicate rows at all");
    assert_eq!(count(&ch, MV_REQUESTS).await, 1_200);
    let expected_input: u64 = events.iter().map(|e| e.input_tokens).sum();
    assert_eq!(count(&ch, "SELECT sum(input_tokens) FROM portcullis.usage_daily").await, expected_input);
    assert_eq!(count(&ch, "SELECT sum(blocked) FROM portcullis.usage_daily").await, 120);
    assert_eq!(count(&ch, "SELECT sumMerge(requests) FROM portcullis.usage_sessions").await, 1_200);

    let dump = ch.query("SELECT * FROM portcullis.audit_events FORMAT TSV").await.unwrap();
    assert!(!dump.contains("TESTKEY"), "a secret reached ClickHouse");
    assert!(dump.contains("[REDACTED]"));
    assert!(writer.stats.scrubbed.load(std::sync::atomic::Ordering::Relaxed) >= 2);
    writer.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_between_insert_and_ack_still_gives_exactly_once() {
    let nats = NatsServer::start().await.unwrap();
    let ch = ClickHouseServer::start().await.unwrap();
    let cfg = writer_config(&nats, &ch);
    let events: Vec<_> = (0..300).map(event).collect();
    publish(&nats, &events).await;

    // First writer inserts a batch and "crashes" before acking it.
    let crashing = RunningWriter::start(cfg.clone(), Fault::ExitAfterInsert).await;
    assert!(crashing.task.await.unwrap().is_err());
    let landed = count(&ch, RAW_COUNT).await;
    assert!(landed > 0, "the crashed writer inserted its batch");

    // The next writer gets the unacked messages again after ack_wait and must skip the stored rows.
    let writer = RunningWriter::start(cfg, Fault::None).await;
    assert_eq!(wait_for_count(&ch, FINAL_COUNT, 300, Duration::from_secs(30)).await, 300);
    // The crashed batch comes back after ack_wait (3 s) and must be skipped, then acked.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while writer.stats.snapshot().duplicates_skipped < landed && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stats = writer.stats.snapshot();
    assert_eq!(stats.duplicates_skipped, landed, "{stats:?}");
    assert_eq!(count(&ch, RAW_COUNT).await, 300, "redelivered rows were not inserted twice");
    assert_eq!(count(&ch, MV_REQUESTS).await, 300, "usage view counts each event once");
    writer.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writer_killed_mid_batch_and_restarted_loses_and_duplicates_nothing() {
    let nats = NatsServer::start().await.unwrap();
    let ch = ClickHouseServer::start().await.unwrap();
    let cfg = writer_config(&nats, &ch);
    let events: Vec<_> = (0..3_000).map(event).collect();
    let publisher = {
        let url = nats.url();
        let events = events.clone();
        tokio::spawn(async move {
            let client = async_nats::connect(url).await.unwrap();
            let js = async_nats::jetstream::new(client);
            js.get_or_create_stream(audit_writer::nats::audit_stream_config(&audit_writer::WriterConfig::default()))
                .await
                .unwrap();
            for chunk in events.chunks(100) {
                for e in chunk {
                    let msg = async_nats::jetstream::message::PublishMessage::build()
                        .payload(e.to_msgpack().unwrap().into())
                        .message_id(e.event_id.to_string());
                    js.send_publish(format!("audit.events.{}", e.tenant), msg).await.unwrap().await.unwrap();
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    for _ in 0..3 {
        let writer = RunningWriter::start(cfg.clone(), Fault::None).await;
        tokio::time::sleep(Duration::from_millis(250)).await;
        writer.task.abort(); // like kill -9: no flush, no ack
        let _ = writer.task.await;
    }
    publisher.await.unwrap();
    let writer = RunningWriter::start(cfg, Fault::None).await;
    assert_eq!(wait_for_count(&ch, FINAL_COUNT, 3_000, Duration::from_secs(40)).await, 3_000);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(count(&ch, MV_REQUESTS).await, 3_000);
    assert_eq!(count(&ch, RAW_COUNT).await, 3_000);
    writer.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_outage_is_retried_until_everything_lands() {
    let nats = NatsServer::start().await.unwrap();
    let mut ch = ClickHouseServer::start().await.unwrap();
    let writer = RunningWriter::start(writer_config(&nats, &ch), Fault::None).await;
    publish(&nats, &(0..200).map(event).collect::<Vec<_>>()).await;
    assert_eq!(wait_for_count(&ch, FINAL_COUNT, 200, Duration::from_secs(20)).await, 200);

    ch.stop().await;
    publish(&nats, &(200..1_200).map(event).collect::<Vec<_>>()).await;
    // Longer than ack_wait (3 s): in-progress acks must keep the held batch alive.
    tokio::time::sleep(Duration::from_secs(7)).await;
    ch.restart().await.unwrap();

    assert_eq!(wait_for_count(&ch, FINAL_COUNT, 1_200, Duration::from_secs(40)).await, 1_200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(count(&ch, RAW_COUNT).await, 1_200);
    assert_eq!(count(&ch, MV_REQUESTS).await, 1_200);
    let stats = writer.stats.snapshot();
    assert!(stats.insert_failures > 0, "{stats:?}");
    assert_eq!(stats.dead_lettered, 0);
    // Every held message (the batch retried, the one queued behind it, the one
    // filling) got in-progress acks: none was redelivered during the outage.
    assert_eq!(stats.received, 1_200, "{stats:?}");
    writer.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_message_is_dead_lettered_and_the_pipeline_keeps_flowing() {
    let nats = NatsServer::start().await.unwrap();
    let ch = ClickHouseServer::start().await.unwrap();
    let writer = RunningWriter::start(writer_config(&nats, &ch), Fault::None).await;

    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    publish(&nats, &(0..50).map(event).collect::<Vec<_>>()).await;
    js.publish("audit.events.acme", bytes::Bytes::from_static(b"\xc1 not msgpack")).await.unwrap().await.unwrap();
    publish(&nats, &(50..100).map(event).collect::<Vec<_>>()).await;

    assert_eq!(wait_for_count(&ch, FINAL_COUNT, 100, Duration::from_secs(20)).await, 100);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while writer.stats.snapshot().dead_lettered < 1 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(writer.stats.snapshot().dead_lettered, 1);
    let mut dlq = js.get_stream("PORTCULLIS_AUDIT_DLQ").await.unwrap();
    assert_eq!(dlq.info().await.unwrap().state.messages, 1);
    let raw = dlq.get_last_raw_message_by_subject("audit.deadletter").await.unwrap();
    assert_eq!(&raw.payload[..], b"\xc1 not msgpack");
    let reason = raw.headers.get("Portcullis-Dead-Letter-Reason").unwrap().to_string();
    assert!(reason.contains("msgpack"), "{reason}");
    writer.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_stop_flushes_and_acks_the_current_batch() {
    let nats = NatsServer::start().await.unwrap();
    let ch = ClickHouseServer::start().await.unwrap();
    let mut cfg = writer_config(&nats, &ch);
    cfg.batch.max_age_ms = 600_000; // only the stop can flush
    let writer = RunningWriter::start(cfg, Fault::None).await;
    publish(&nats, &(0..120).map(event).collect::<Vec<_>>()).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while writer.stats.snapshot().received < 120 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(count(&ch, RAW_COUNT).await, 0);
    let stats = writer.stats.clone();
    writer.stop().await.unwrap();
    assert_eq!(count(&ch, RAW_COUNT).await, 120);
    assert_eq!(stats.snapshot().acked, 120);

    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let stream = js.get_stream("PORTCULLIS_AUDIT").await.unwrap();
    let mut consumer: async_nats::jetstream::consumer::PullConsumer =
        stream.get_consumer("audit-writer").await.unwrap();
    let info = consumer.info().await.unwrap();
    assert_eq!(info.num_ack_pending, 0);
    assert_eq!(info.ack_floor.stream_sequence, 120, "every message acked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_cli_reports_tokens_per_model() {
    let nats = NatsServer::start().await.unwrap();
    let ch = ClickHouseServer::start().await.unwrap();
    let writer = RunningWriter::start(writer_config(&nats, &ch), Fault::None).await;
    let events: Vec<_> = (0..40).map(event).collect();
    publish(&nats, &events).await;
    assert_eq!(wait_for_count(&ch, FINAL_COUNT, 40, Duration::from_secs(20)).await, 40);
    writer.stop().await.unwrap();

    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_audit-writer"))
            .args(args)
            .env("PORTCULLIS_CLICKHOUSE_URL", ch.http_url())
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let csv = run(&["usage", "--by", "model", "--since", "7d", "--format", "csv"]);
    let sonnet_input: u64 =
        events.iter().filter(|e| e.model.as_deref() == Some("claude-sonnet-4-5")).map(|e| e.input_tokens).sum();
    let sonnet = csv.lines().find(|l| l.starts_with("claude-sonnet-4-5,")).unwrap();
    let fields: Vec<&str> = sonnet.split(',').collect();
    assert_eq!(fields[1], "20");
    assert_eq!(fields[5], sonnet_input.to_string());

    let json = run(&["usage", "--by", "tenant", "--since", "2h", "--format", "json"]);
    let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed.as_array().unwrap().len(), 3);
    let total: u64 = parsed.as_array().unwrap().iter().map(|l| l["requests"].as_u64().unwrap()).sum();
    assert_eq!(total, 40);

    let table = run(&["usage", "--by", "session", "--since", "1d"]);
    assert!(table.starts_with("key"), "{table}");
    // i % 3, i % 2, i % 5 over 40 events: all 30 tenant/project/session combinations.
    assert_eq!(table.lines().count(), 1 + 30, "{table}");
}
