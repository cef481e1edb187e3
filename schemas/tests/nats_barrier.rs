//! The subscription barrier against a real nats-server: once it returns, a
//! message another connection publishes is delivered, every time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use futures_util::StreamExt;
use portcullis_schemas::nats::server_has_subscriptions;
use test_support::NatsServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmed_subscription_receives_the_next_message_from_another_connection() {
    let nats = NatsServer::start().await.unwrap();
    let publisher = async_nats::connect(nats.url()).await.unwrap();
    // Many rounds, each on a fresh connection, so a barrier that only flushed the
    // socket (and let the publisher win the race) would fail some of them.
    for round in 0..50 {
        let subscriber = async_nats::connect(nats.url()).await.unwrap();
        let subject = format!("barrier.test.{round}");
        let mut messages = subscriber.subscribe(subject.clone()).await.unwrap();
        server_has_subscriptions(&subscriber, Duration::from_secs(10)).await.unwrap();
        publisher.publish(subject, "hello".into()).await.unwrap();
        publisher.flush().await.unwrap();
        let message = tokio::time::timeout(Duration::from_secs(5), messages.next())
            .await
            .unwrap_or_else(|_| panic!("round {round}: message published after the barrier was lost"))
            .unwrap();
        assert_eq!(&message.payload[..], b"hello");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_server_fails_the_barrier_in_time_instead_of_hanging() {
    let nats = NatsServer::start().await.unwrap();
    let client = async_nats::connect(nats.url()).await.unwrap();
    drop(nats);
    let result =
        tokio::time::timeout(Duration::from_secs(5), server_has_subscriptions(&client, Duration::from_millis(500)))
            .await
            .expect("the barrier outlived its own limit");
    assert!(result.is_err(), "{result:?}");
}
