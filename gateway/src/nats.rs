//! The gateway's NATS connections (audit events, ML verdicts): one URL setting
//! (`audit.nats_url` / `PORTCULLIS_NATS_URL`), the same reconnect behaviour.

use std::time::Duration;

/// Connects without waiting for the server: the client keeps (re)connecting in
/// the background, so a gateway starts, and keeps serving, while NATS is down.
/// Fails only on an unusable URL.
pub async fn connect(url: &str, name: &str) -> Result<async_nats::Client, async_nats::ConnectError> {
    let label = name.to_owned();
    async_nats::ConnectOptions::new()
        .name(name)
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connection_timeout(Duration::from_secs(2))
        // Reconnect quickly after a short outage, back off to 2 s for a long one.
        .reconnect_delay_callback(|attempt| Duration::from_millis((50u64 << attempt.min(6)).min(2_000)))
        .event_callback(move |event| {
            let label = label.clone();
            async move {
                tracing::debug!(%event, connection = %label, "NATS connection event");
            }
        })
        .connect(url)
        .await
}

/// Give a reachable server a moment, so a normal start does not begin
/// disconnected; an unreachable one costs at most `limit` at startup.
pub async fn wait_for_first_connection(client: &async_nats::Client, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    while client.connection_state() != async_nats::connection::State::Connected
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
