#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `GET /metrics` of the writer against real NATS and ClickHouse: consumer
//! backlog before and after the writer runs, exact insert counts, batch and
//! INSERT histograms, a dead letter.

mod common;

use std::sync::Arc;
use std::time::Duration;

use audit_writer::pipeline::Fault;
use audit_writer::{Writer, WriterStats, metrics};
use common::*;
use test_support::{ClickHouseServer, NatsServer};
use tokio::sync::watch;

fn has_line(text: &str, line: &str) -> bool {
    text.lines().any(|l| l == line)
}

/// Scrape until `line` appears (the backlog is polled), or give up after 30 s.
async fn scrape_until(addr: std::net::SocketAddr, line: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (status, text) = portcullis_telemetry::scrape(addr).await.unwrap();
        assert_eq!(status, 200, "{text}");
        if has_line(&text, line) || tokio::time::Instant::now() >= deadline {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_backlog_inserts_batches_and_dead_letters() {
    let nats = NatsServer::start().await.unwrap();
    let ch = ClickHouseServer::start().await.unwrap();
    let cfg = writer_config(&nats, &ch);
    let stats = Arc::new(WriterStats::default());
    let (stop, mut stop_rx) = watch::channel(false);
    // Creates the stream and the durable consumer; nothing is pulled yet.
    let writer = Writer::connect(cfg.clone(), stats.clone(), &mut stop_rx).await.unwrap().with_fault(Fault::None);
    let events: Vec<_> = (0..25).map(event).collect();
    publish(&nats, &events).await;

    let (lag, _poller) = metrics::poll_lag(&cfg, Duration::from_millis(50), stop_rx.clone()).await.unwrap();
    let server = metrics::serve("127.0.0.1:0".parse().unwrap(), metrics::renderer(stats.clone(), lag)).await.unwrap();
    let text = scrape_until(server.addr(), "portcullis_writer_consumer_pending 25").await;
    for line in [
        "portcullis_writer_consumer_pending 25",
        "portcullis_writer_consumer_info_ok 1",
        "portcullis_writer_events_inserted_total 0",
    ] {
        assert!(has_line(&text, line), "missing {line:?} in\n{text}");
    }

    let task = tokio::spawn(writer.run(stop_rx));
    assert_eq!(
        wait_for_count(&ch, "SELECT count() FROM portcullis.audit_events", 25, Duration::from_secs(30)).await,
        25
    );
    // An undecodable message is dead-lettered after `dead_letter_after` deliveries.
    let client = async_nats::connect(nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    js.publish("audit.events.acme", "not msgpack".into()).await.unwrap().await.unwrap();
    let text = scrape_until(server.addr(), "portcullis_writer_dead_lettered_total 1").await;
    let text = if has_line(&text, "portcullis_writer_consumer_pending 0")
        && has_line(&text, "portcullis_writer_consumer_ack_pending 0")
    {
        text
    } else {
        scrape_until(server.addr(), "portcullis_writer_consumer_ack_pending 0").await
    };
    for line in [
        "portcullis_writer_events_inserted_total 25",
        "portcullis_writer_dead_lettered_total 1",
        "portcullis_writer_duplicates_skipped_total 0",
        "portcullis_writer_insert_failures_total 0",
        "portcullis_writer_acked_total 25",
        "portcullis_writer_consumer_pending 0",
        "portcullis_writer_consumer_ack_pending 0",
        "portcullis_writer_batch_rows_sum 25.0",
        "# TYPE portcullis_writer_insert_seconds histogram",
    ] {
        assert!(has_line(&text, line), "missing {line:?} in\n{text}");
    }
    let batches = stats.snapshot().batches;
    assert!(has_line(&text, &format!("portcullis_writer_batches_total {batches}")), "{text}");
    assert!(has_line(&text, &format!("portcullis_writer_batch_rows_count {batches}")), "{text}");
    assert!(has_line(&text, &format!("portcullis_writer_insert_seconds_count {batches}")), "{text}");
    let _ = stop.send(true);
    task.await.unwrap().unwrap();
}
