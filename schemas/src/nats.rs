//! A barrier that proves the NATS server holds this connection's subscriptions.
//!
//! `async_nats::Client::flush` only empties the client's write buffer into the
//! socket; it does not wait for the server. A `SUB` can therefore still be unread
//! by the server when `subscribe().await` and `flush().await` have both returned,
//! and a message another connection publishes in that window finds no interest:
//! a request gets "no responders", an event is not delivered. On a loaded machine
//! the window is long enough to lose test events and worker requests.
//!
//! The server handles one connection's protocol operations in order, so a message
//! this connection publishes to its own fresh inbox comes back only after every
//! earlier `SUB` has been registered. [`server_has_subscriptions`] waits for that
//! echo.

use std::time::Duration;

use futures_util::StreamExt;

/// Why the barrier could not be confirmed.
#[derive(Debug, thiserror::Error)]
pub enum BarrierError {
    #[error("cannot subscribe to the barrier inbox: {0}")]
    Subscribe(#[from] async_nats::SubscribeError),
    #[error("cannot publish to the barrier inbox: {0}")]
    Publish(#[from] async_nats::PublishError),
    #[error("cannot flush the barrier message: {0}")]
    Flush(#[from] async_nats::client::FlushError),
    #[error("the server did not echo the barrier message within {0:?}")]
    NoEcho(Duration),
    #[error("the connection closed before the barrier message came back")]
    Closed,
}

/// Returns once the server has registered every subscription this client made
/// before the call. Needs the connection's echo (the NATS default; never
/// `no_echo`).
pub async fn server_has_subscriptions(client: &async_nats::Client, within: Duration) -> Result<(), BarrierError> {
    // The whole round trip is bounded: while disconnected, `flush` waits for the
    // reconnect.
    match tokio::time::timeout(within, echo_round_trip(client)).await {
        Ok(result) => result,
        Err(_) => Err(BarrierError::NoEcho(within)),
    }
}

async fn echo_round_trip(client: &async_nats::Client) -> Result<(), BarrierError> {
    let inbox = client.new_inbox();
    let mut echo = client.subscribe(inbox.clone()).await?;
    client.publish(inbox, bytes::Bytes::new()).await?;
    client.flush().await?;
    match echo.next().await {
        Some(_) => Ok(()),
        // The subscriber ends only when the connection is closed.
        None => Err(BarrierError::Closed),
    }
}
