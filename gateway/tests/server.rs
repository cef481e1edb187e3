//! Connection handling on the gateway's one port: HTTP/1.1 (served directly once its
//! first bytes show a request line), h2c with prior knowledge and HTTP/1.1 requests
//! whose first bytes trickle in (both through the auto-detecting builder), and shutdown
//! that does not wait for connections that never sent a byte.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use mock_upstream::{MockConfig, MockUpstream};
use portcullis_gateway::config;
use portcullis_gateway::state::AppState;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn h2c_prior_knowledge_streams_through_the_same_port() {
    let stack = Stack::start().await;
    let h2 = reqwest::Client::builder().http2_prior_knowledge().build().unwrap();
    let response = h2
        .post(stack.url("/v1/messages"))
        .header("x-api-key", ANTHROPIC_KEY)
        .header("x-portcullis-key", GATEWAY_KEY)
        .header("content-type", "application/json")
        .body(simple_body("hello over h2c", true))
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let events = sse_events(&text);
    assert_eq!(events.first().map(|(name, _)| name.as_str()), Some("message_start"));
    assert_eq!(events.last().map(|(name, _)| name.as_str()), Some("message_stop"));
    assert_eq!(stack.mock.requests().len(), 1);
    assert_eq!(stack.mock.requests()[0].body.as_ref(), simple_body("hello over h2c", true).as_bytes());
}

#[tokio::test]
async fn http1_request_whose_first_bytes_trickle_in_is_served() {
    let stack = Stack::start().await;
    let body = simple_body("slow start", false);
    let request = format!(
        "POST /v1/messages HTTP/1.1\r\nhost: gateway\r\nx-api-key: {ANTHROPIC_KEY}\r\nx-portcullis-key: {GATEWAY_KEY}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut socket = tokio::net::TcpStream::connect(stack.gateway.addr).await.unwrap();
    socket.set_nodelay(true).unwrap();
    // One byte, then another: the protocol cannot be told from them yet.
    for byte in &request.as_bytes()[..2] {
        socket.write_all(std::slice::from_ref(byte)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    socket.write_all(&request.as_bytes()[2..]).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(Duration::from_secs(10), socket.read_to_string(&mut response)).await.unwrap().unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"type\":\"message\""), "{response}");
    assert_eq!(stack.mock.requests()[0].body.as_ref(), body.as_bytes());
}

#[tokio::test]
async fn shutdown_does_not_wait_for_a_connection_that_never_spoke() {
    let mock = MockUpstream::start(MockConfig::default()).await.unwrap();
    let mut config = config::load::from_toml_str(&test_config_toml(&mock.url(), "")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    config.audit.jsonl_path = dir.path().join("audit.jsonl");
    config.audit.spool_dir = dir.path().join("spool");
    let state = std::sync::Arc::new(AppState::start(config, None).await.unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(portcullis_gateway::server::serve(listener, state, async {
        let _ = stopped.await;
    }));

    // A served request first, so the server is known to be accepting.
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/v1/messages"))
        .header("x-api-key", ANTHROPIC_KEY)
        .header("x-portcullis-key", GATEWAY_KEY)
        .body(simple_body("hi", false))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    let stopping = Instant::now();
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("shutdown waited on the silent connection")
        .unwrap()
        .unwrap();
    assert!(stopping.elapsed() < Duration::from_secs(5), "shutdown took {:?}", stopping.elapsed());
    // The silent connection was closed, not left open.
    let mut buf = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(5), silent.read(&mut buf)).await.unwrap();
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
}
