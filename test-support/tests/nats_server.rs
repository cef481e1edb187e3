//! Real nats-server children: parallel starts, core pub/sub over raw TCP,
//! JetStream publish acks, data surviving stop/kill + restart, and Drop killing
//! the process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::Duration;

use async_nats::jetstream::{self, stream};
use test_support::NatsServer;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Speaks the NATS text protocol by hand: subscribe, publish, read the message back.
async fn raw_pub_sub_roundtrip(port: u16, payload: &str) {
    let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (read_half, mut write_half) = stream.into_split();
    let mut lines = BufReader::new(read_half).lines();
    let info = lines.next_line().await.unwrap().unwrap();
    assert!(info.starts_with("INFO "), "expected INFO, got {info}");
    let request = format!(
        "CONNECT {{\"verbose\":false}}\r\nSUB smoke.subject 1\r\nPUB smoke.subject {}\r\n{payload}\r\nPING\r\n",
        payload.len()
    );
    write_half.write_all(request.as_bytes()).await.unwrap();
    let read_message = async {
        loop {
            let line = lines.next_line().await.unwrap().unwrap();
            if line.starts_with("MSG smoke.subject 1 ") {
                return lines.next_line().await.unwrap().unwrap();
            }
        }
    };
    let body = tokio::time::timeout(Duration::from_secs(5), read_message).await.expect("no MSG within 5 s");
    assert_eq!(body, payload);
}

fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[tokio::test]
async fn two_servers_start_in_parallel_and_route_messages() {
    let (a, b) = tokio::join!(NatsServer::start(), NatsServer::start());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_ne!(a.port(), b.port());
    assert_ne!(a.store_dir(), b.store_dir());
    assert_eq!(a.url(), format!("nats://127.0.0.1:{}", a.port()));

    raw_pub_sub_roundtrip(a.port(), "hello-a").await;
    raw_pub_sub_roundtrip(b.port(), "hello-b").await;

    let healthz = reqwest::get(format!("{}/healthz", b.monitor_url())).await.unwrap().text().await.unwrap();
    assert!(healthz.contains("ok"), "healthz: {healthz}");
}

async fn create_stream_and_publish(server: &NatsServer, count: u64) -> jetstream::Context {
    let client = async_nats::connect(server.url()).await.unwrap();
    let js = jetstream::new(client);
    js.get_or_create_stream(stream::Config {
        name: "EVENTS".to_owned(),
        subjects: vec!["events.>".to_owned()],
        storage: stream::StorageType::File,
        ..Default::default()
    })
    .await
    .unwrap();
    for i in 0..count {
        let ack = js.publish("events.test", format!("event {i}").into()).await.unwrap().await.unwrap();
        assert_eq!(ack.stream, "EVENTS");
    }
    js
}

async fn stream_message_count(server: &NatsServer) -> u64 {
    let client = async_nats::connect(server.url()).await.unwrap();
    let js = jetstream::new(client);
    let mut stream = js.get_stream("EVENTS").await.unwrap();
    stream.info().await.unwrap().state.messages
}

#[tokio::test]
async fn jetstream_data_survives_graceful_restart() {
    let mut server = NatsServer::start().await.unwrap();
    let port = server.port();
    create_stream_and_publish(&server, 3).await;

    server.stop().await;
    assert!(server.pid().is_none());
    assert!(!server.is_running());
    assert!(TcpStream::connect(("127.0.0.1", port)).await.is_err(), "port still accepts connections while stopped");
    assert!(server.store_dir().join("jetstream").exists());

    server.restart().await.unwrap();
    assert_eq!(server.port(), port, "restart must reuse the port");
    assert_eq!(stream_message_count(&server).await, 3);
}

#[tokio::test]
async fn jetstream_acked_data_survives_kill_and_restart() {
    let mut server = NatsServer::start().await.unwrap();
    create_stream_and_publish(&server, 5).await;
    server.kill().await;
    server.restart().await.unwrap();
    assert_eq!(stream_message_count(&server).await, 5, "{}", server.log_tail());
}

#[tokio::test]
async fn restart_of_running_server_keeps_serving() {
    let mut server = NatsServer::start().await.unwrap();
    let old_pid = server.pid().unwrap();
    server.restart().await.unwrap();
    let new_pid = server.pid().unwrap();
    assert_ne!(old_pid, new_pid);
    assert!(!process_exists(old_pid));
    raw_pub_sub_roundtrip(server.port(), "after-restart").await;
}

#[tokio::test]
async fn drop_kills_the_process_and_removes_the_store() {
    let server = NatsServer::start().await.unwrap();
    let pid = server.pid().unwrap();
    let store = server.store_dir();
    assert!(process_exists(pid));
    drop(server);
    assert!(!process_exists(pid), "nats-server pid {pid} still exists after drop");
    assert!(!store.exists());
}
