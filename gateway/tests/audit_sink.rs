#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The gateway's audit sink (`portcullis_gateway::audit`) against a real
//! NATS server: JSONL mode, JetStream publishing with live copies, the
//! on-disk spool under NATS outages (at start, mid-run, across a restart),
//! the spool-full modes, and the spool file format.

use std::time::Duration;

use portcullis_gateway::audit::spool::{Spool, SpoolRecord};
use portcullis_gateway::audit::{AuditConfig, AuditMode, AuditSink, SpoolFullMode};
use portcullis_schemas::nats::server_has_subscriptions;
use portcullis_schemas::{Decision, SecurityEvent};
use test_support::NatsServer;

/// A request event with deterministic tokens derived from `i`, spread over three tenants.
fn event(i: u64) -> SecurityEvent {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default();
    let tenant = ["acme", "globex", "initech"][(i % 3) as usize];
    let mut e = SecurityEvent::new_request(now_ms, tenant, format!("proj-{}", i % 2));
    e.path = "/v1/messages".into();
    e.method = "POST".into();
    e.model = Some("claude-sonnet-4-5".into());
    e.input_tokens = 10 + i;
    e.output_tokens = 1 + i % 7;
    e.gateway_status = 200;
    e.upstream_status = Some(200);
    e.decision = if i.is_multiple_of(10) { Decision::Block } else { Decision::Allow };
    e
}

fn nats_config(url: &str, dir: &std::path::Path) -> AuditConfig {
    AuditConfig {
        nats_url: Some(url.to_owned()),
        spool_dir: dir.join("spool"),
        publish_ack_timeout_ms: 1_000,
        ..AuditConfig::default()
    }
}

async fn stream_messages(url: &str) -> u64 {
    let client = async_nats::connect(url).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let mut stream = js.get_stream("PORTCULLIS_AUDIT").await.unwrap();
    stream.info().await.unwrap().state.messages
}

async fn wait_until(mut check: impl FnMut() -> bool, timeout: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    check()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jsonl_mode_appends_one_line_per_event() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit/portcullis-audit.jsonl");
    let sink = AuditSink::start(&AuditConfig { jsonl_path: path.clone(), ..AuditConfig::default() }).await.unwrap();
    let events: Vec<SecurityEvent> = (0..25).map(event).collect();
    for e in &events {
        sink.record(e.clone()).unwrap();
    }
    sink.shutdown().await;
    let health = sink.health();
    assert_eq!(health.mode, AuditMode::Jsonl);
    assert_eq!(health.published, 25);
    let text = std::fs::read_to_string(&path).unwrap();
    let read: Vec<SecurityEvent> = text.lines().map(|l| SecurityEvent::from_json(l.as_bytes()).unwrap()).collect();
    assert_eq!(read, events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_published_to_jetstream_with_live_copies() {
    let nats = NatsServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let live_client = async_nats::connect(nats.url()).await.unwrap();
    let mut live = live_client.subscribe("live.events.>").await.unwrap();
    server_has_subscriptions(&live_client, Duration::from_secs(10)).await.unwrap();
    let sink = AuditSink::start(&nats_config(&nats.url(), dir.path())).await.unwrap();
    for i in 0..500 {
        sink.record(event(i)).unwrap();
    }
    let s = sink.clone();
    assert!(wait_until(|| s.health().published == 500, Duration::from_secs(10)).await, "{:?}", sink.health());
    assert_eq!(stream_messages(&nats.url()).await, 500);
    let first =
        tokio::time::timeout(Duration::from_secs(2), futures_util::StreamExt::next(&mut live)).await.unwrap().unwrap();
    assert!(first.subject.as_str().starts_with("live.events."));
    assert!(SecurityEvent::from_json(&first.payload).is_ok());
    let health = sink.health();
    assert!(health.connected);
    assert_eq!((health.dropped, health.spooled, health.spool_depth), (0, 0, 0));
    sink.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_down_at_start_and_mid_run_spools_then_replays_everything() {
    let mut nats = NatsServer::start().await.unwrap();
    let url = nats.url();
    nats.stop().await;
    let dir = tempfile::tempdir().unwrap();
    // Starting with NATS down must work.
    let sink = AuditSink::start(&nats_config(&url, dir.path())).await.unwrap();
    for i in 0..300 {
        sink.record(event(i)).unwrap();
    }
    let s = sink.clone();
    assert!(wait_until(|| s.health().spool_depth == 300, Duration::from_secs(5)).await, "{:?}", sink.health());
    nats.restart().await.unwrap();
    let s = sink.clone();
    assert!(wait_until(|| s.health().published == 300, Duration::from_secs(20)).await, "{:?}", sink.health());
    assert_eq!(sink.health().spool_depth, 0);

    // Now an outage while running.
    nats.kill().await;
    for i in 300..700 {
        sink.record(event(i)).unwrap();
        if i % 50 == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    nats.restart().await.unwrap();
    let s = sink.clone();
    assert!(
        wait_until(|| s.health().published >= 700 && s.health().spool_depth == 0, Duration::from_secs(30)).await,
        "{:?}",
        sink.health()
    );
    sink.shutdown().await;
    let health = sink.health();
    assert_eq!(health.dropped, 0, "{health:?}");
    // Every event exactly once in the stream (republished ones deduplicated by Nats-Msg-Id).
    assert_eq!(stream_messages(&url).await, 700);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spool_survives_a_gateway_restart() {
    let mut nats = NatsServer::start().await.unwrap();
    let url = nats.url();
    nats.stop().await;
    let dir = tempfile::tempdir().unwrap();
    let sink = AuditSink::start(&nats_config(&url, dir.path())).await.unwrap();
    for i in 0..100 {
        sink.record(event(i)).unwrap();
    }
    sink.shutdown().await;
    assert_eq!(sink.health().spool_depth, 100);

    nats.restart().await.unwrap();
    let sink = AuditSink::start(&nats_config(&url, dir.path())).await.unwrap();
    let s = sink.clone();
    assert!(wait_until(|| s.health().published == 100, Duration::from_secs(20)).await, "{:?}", sink.health());
    sink.shutdown().await;
    assert_eq!(stream_messages(&url).await, 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_spool_rejects_in_reject_mode_and_counts_drops_in_keep_serving_mode() {
    let mut nats = NatsServer::start().await.unwrap();
    let url = nats.url();
    nats.stop().await;
    for mode in [SpoolFullMode::Reject, SpoolFullMode::KeepServing] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = AuditConfig {
            spool_max_bytes: 64 * 1024,
            spool_segment_bytes: 8 * 1024,
            spool_full: mode,
            ..nats_config(&url, dir.path())
        };
        let sink = AuditSink::start(&cfg).await.unwrap();
        let mut rejected = 0;
        for i in 0..2_000 {
            if sink.record(event(i)).is_err() {
                rejected += 1;
            }
            if i % 100 == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        sink.shutdown().await;
        let health = sink.health();
        assert!(health.spool_full, "{health:?}");
        match mode {
            SpoolFullMode::Reject => {
                assert!(rejected > 0 && health.rejected == rejected, "{health:?}");
            }
            SpoolFullMode::KeepServing => {
                assert_eq!(rejected, 0);
                assert!(health.dropped > 0, "{health:?}");
            }
        }
        // Nothing vanishes without being counted.
        assert_eq!(health.spool_depth + health.dropped + health.rejected, 2_000, "{health:?}");
    }
}

#[test]
fn spool_keeps_order_and_its_head_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let record = |i: u8| SpoolRecord {
        subject: format!("audit.events.t{i}"),
        event_id: uuid::Uuid::now_v7(),
        payload: vec![i; 300],
    };
    let records: Vec<SpoolRecord> = (0..40).map(record).collect();
    {
        let mut spool = Spool::open(dir.path(), 1 << 20, 4096).unwrap();
        for r in &records {
            spool.append(r).unwrap();
        }
        spool.flush().unwrap();
        assert_eq!(spool.depth(), 40);
        let first = spool.peek(15).unwrap();
        assert_eq!(first.iter().map(|(r, _)| r.clone()).collect::<Vec<_>>(), records[..15]);
        spool.commit(first[14].1, 15).unwrap();
        assert_eq!(spool.depth(), 25);
    }
    // A torn record at the end (crash mid-write) is ignored.
    let mut segments: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "spool"))
        .collect();
    segments.sort();
    let last = segments.last().unwrap();
    let mut bytes = std::fs::read(last).unwrap();
    bytes.extend_from_slice(&[200, 1, 0, 0, 1, 2, 3]);
    std::fs::write(last, bytes).unwrap();

    let mut spool = Spool::open(dir.path(), 1 << 20, 4096).unwrap();
    assert_eq!(spool.depth(), 25);
    spool.append(&records[0]).unwrap();
    let rest = spool.peek(100).unwrap();
    let mut expected = records[15..].to_vec();
    expected.push(records[0].clone());
    assert_eq!(rest.iter().map(|(r, _)| r.clone()).collect::<Vec<_>>(), expected);
    spool.commit(rest.last().unwrap().1, rest.len() as u64).unwrap();
    assert!(spool.is_empty());
    assert_eq!(spool.bytes(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_events_neither_fail_nor_block_the_spool() {
    let nats = NatsServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = nats_config(&nats.url(), dir.path());
    // Spooled by an earlier process, before the server's limit was known: a record over
    // the 1 MB max_payload, then an ordinary event behind it.
    let behind = event(1);
    {
        let mut spool = Spool::open(&config.spool_dir, config.spool_max_bytes, config.spool_segment_bytes).unwrap();
        let too_big = SpoolRecord {
            subject: "audit.events.acme".into(),
            event_id: uuid::Uuid::now_v7(),
            payload: vec![0x80; 2 << 20],
        };
        spool.append(&too_big).unwrap();
        let record = SpoolRecord {
            subject: "audit.events.globex".into(),
            event_id: behind.event_id,
            payload: behind.to_msgpack().unwrap(),
        };
        spool.append(&record).unwrap();
        spool.flush().unwrap();
    }
    let sink = AuditSink::start(&config).await.unwrap();
    // A request that raised 20,000 findings (~3 MB of them unbounded).
    let mut many = event(2);
    many.reasons = vec!["pii.email".into()];
    many.findings = (0..20_000)
        .map(|i| portcullis_schemas::EventFinding {
            detector_id: "pii.email".into(),
            category: "pii".into(),
            confidence: 0.8,
            segment: portcullis_schemas::SegmentProvenance {
                source: portcullis_schemas::SegmentSource::Message,
                role: Some("user".into()),
                message_index: Some(i),
                block_index: None,
                request_index: None,
            },
            redacted: "a…@[REDACTED]".into(),
        })
        .collect();
    sink.record(many.clone()).unwrap();
    let settled =
        wait_until(|| sink.health().spool_depth == 0 && sink.health().published == 2, Duration::from_secs(20)).await;
    assert!(settled, "{:?}", sink.health());
    assert_eq!(sink.health().dropped, 1, "only the record the server can never take");
    assert_eq!(stream_messages(&nats.url()).await, 2);
    // The bounded event is the one stored.
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let stream = js.get_stream("PORTCULLIS_AUDIT").await.unwrap();
    let stored = stream.get_last_raw_message_by_subject("audit.events.initech").await.unwrap();
    let event = SecurityEvent::from_msgpack(&stored.payload).unwrap();
    assert_eq!(event.event_id, many.event_id);
    assert_eq!(event.findings.len(), portcullis_schemas::MAX_EVENT_FINDINGS);
    assert_eq!(event.findings_omitted as usize, 20_000 - portcullis_schemas::MAX_EVENT_FINDINGS);
    let stored = stream.get_last_raw_message_by_subject("audit.events.globex").await.unwrap();
    assert_eq!(SecurityEvent::from_msgpack(&stored.payload).unwrap(), behind);
    sink.shutdown().await;
}
