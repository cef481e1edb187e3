//! JetStream setup for the writer: the audit stream (same settings as the
//! gateway creates), the dead-letter stream, and the durable pull consumer.

use std::time::Duration;

use async_nats::jetstream::{self, Message, consumer, consumer::PullConsumer, stream};
use tokio::sync::watch;

use crate::config::WriterConfig;
use crate::error::WriterError;
use crate::pipeline::{dead_letter_headers, sleep_or_stop};

pub struct Streams {
    pub js: jetstream::Context,
    pub consumer: PullConsumer,
}

pub async fn connect(url: &str) -> Result<async_nats::Client, WriterError> {
    async_nats::ConnectOptions::new()
        .name("portcullis-audit-writer")
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connection_timeout(Duration::from_secs(2))
        .reconnect_delay_callback(|attempt| Duration::from_millis((50u64 << attempt.min(6)).min(2_000)))
        .connect(url)
        .await
        .map_err(WriterError::nats)
}

/// The audit stream's configuration; must match the gateway's
/// (`gateway::audit` creates it the same way, whichever starts first).
pub fn audit_stream_config(cfg: &WriterConfig) -> stream::Config {
    stream::Config {
        name: cfg.nats.stream_name.clone(),
        subjects: vec![format!("{}.>", cfg.nats.subject_prefix)],
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        max_age: Duration::from_secs(7 * 24 * 3600),
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    }
}

/// Connect and create what is missing, retrying until NATS answers or `stop`.
pub async fn setup(cfg: &WriterConfig, stop: &mut watch::Receiver<bool>) -> Result<Streams, WriterError> {
    let client = connect(&cfg.nats.url).await?;
    let js = jetstream::ContextBuilder::new().timeout(Duration::from_secs(5)).build(client);
    let mut delay = Duration::from_millis(200);
    loop {
        match try_setup(&js, cfg).await {
            Ok(consumer) => return Ok(Streams { js, consumer }),
            Err(err) => {
                tracing::warn!(%err, "JetStream not ready, retrying");
                if sleep_or_stop(delay, stop).await {
                    return Err(err);
                }
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

async fn try_setup(js: &jetstream::Context, cfg: &WriterConfig) -> Result<PullConsumer, WriterError> {
    let stream = js.get_or_create_stream(audit_stream_config(cfg)).await.map_err(WriterError::nats)?;
    js.get_or_create_stream(stream::Config {
        name: cfg.nats.dead_letter_stream.clone(),
        subjects: vec![cfg.nats.dead_letter_subject.clone()],
        storage: stream::StorageType::File,
        ..Default::default()
    })
    .await
    .map_err(WriterError::nats)?;
    let consumer_config = consumer::pull::Config {
        durable_name: Some(cfg.nats.durable_name.clone()),
        // One filter subject: nats-server 2.9 ignores the plural `filter_subjects`.
        filter_subject: format!("{}.>", cfg.nats.subject_prefix),
        ack_policy: consumer::AckPolicy::Explicit,
        ack_wait: cfg.ack_wait(),
        max_deliver: cfg.nats.max_deliver,
        deliver_policy: consumer::DeliverPolicy::All,
        // Room for every in-flight batch plus the one filling; more would
        // only pile up unacked messages while ClickHouse is slow.
        max_ack_pending: (cfg.batch.max_events as i64 * (cfg.batch.max_in_flight as i64 + 1)).max(10_000),
        ..Default::default()
    };
    stream.get_or_create_consumer(&cfg.nats.durable_name, consumer_config).await.map_err(WriterError::nats)
}

/// Publish `message` to the dead-letter subject with the reason (acked by JetStream).
pub async fn dead_letter(
    js: &jetstream::Context,
    cfg: &WriterConfig,
    message: &Message,
    reason: &str,
) -> Result<(), WriterError> {
    let headers = dead_letter_headers(message, reason);
    js.publish_with_headers(cfg.nats.dead_letter_subject.clone(), headers, message.payload.clone())
        .await
        .map_err(WriterError::nats)?
        .await
        .map_err(WriterError::nats)?;
    Ok(())
}
