//! Two real `detector-worker` processes in one queue group on a real
//! nats-server: requests split between them, and after one is killed
//! (SIGKILL, like a crash) the other keeps serving.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::StreamExt;
use portcullis_schemas::{DetectRequest, DetectResponse, DetectSegment, DetectStatus};
use test_support::NatsServer;
use tokio::process::Child;
use uuid::Uuid;

const HEALTH: &str = "detect.health";

/// Starts the binary and waits for its "ready" log line.
async fn spawn_worker(nats_url: &str) -> Child {
    common::spawn_worker(nats_url, &[], Duration::from_secs(60)).await
}

fn request(i: u32) -> DetectRequest {
    DetectRequest::new(
        Uuid::now_v7(),
        "acme",
        vec![DetectSegment { id: i, source: "user".into(), text: format!("Question {i}: how do tides work?") }],
    )
}

async fn classify(nc: &async_nats::Client, i: u32) -> DetectResponse {
    let req = request(i);
    let reply =
        tokio::time::timeout(Duration::from_secs(10), nc.request("detect.injection", req.to_msgpack().unwrap().into()))
            .await
            .expect("answer within 10 s")
            .expect("a worker answers");
    let resp = DetectResponse::from_msgpack(&reply.payload).unwrap();
    assert_eq!(resp.status, DetectStatus::Ok);
    assert_eq!(resp.request_id, req.request_id);
    resp
}

/// `requests` count per worker id, from every worker's health answer.
async fn requests_per_worker(nc: &async_nats::Client) -> BTreeMap<String, u64> {
    let inbox = nc.new_inbox();
    let mut answers = nc.subscribe(inbox.clone()).await.unwrap();
    nc.publish_with_reply(HEALTH, inbox, "".into()).await.unwrap();
    nc.flush().await.unwrap();
    let mut counts = BTreeMap::new();
    while let Ok(Some(message)) = tokio::time::timeout(Duration::from_millis(500), answers.next()).await {
        let health: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
        counts.insert(health["worker_id"].as_str().unwrap().to_owned(), health["requests"].as_u64().unwrap());
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_split_the_load_and_one_survives_the_other() {
    let nats = NatsServer::start().await.unwrap();
    let mut first = spawn_worker(&nats.url()).await;
    let _second = spawn_worker(&nats.url()).await;
    let nc = async_nats::connect(nats.url()).await.unwrap();

    for i in 0..40 {
        classify(&nc, i).await;
    }
    let counts = requests_per_worker(&nc).await;
    assert_eq!(counts.len(), 2, "{counts:?}");
    assert_eq!(counts.values().sum::<u64>(), 40, "{counts:?}");
    assert!(counts.values().all(|&n| n >= 5), "load not split: {counts:?}");

    first.kill().await.unwrap();
    // The server drops the dead connection's subscription once it sees the
    // socket close; every request from then on lands on the survivor.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for i in 100..120 {
        classify(&nc, i).await;
    }
    let after = requests_per_worker(&nc).await;
    assert_eq!(after.len(), 1, "{after:?}");
    let (survivor, served) = after.into_iter().next().unwrap();
    assert_eq!(served, counts[&survivor] + 20, "survivor {survivor}");
}
