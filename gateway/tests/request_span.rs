//! The per-request tracing span: every log line of a request carries its audit
//! event id, tenant, project and path. Alone in its test binary: the subscriber is
//! set for this thread only, and callsites first hit by other tests' threads
//! (without a subscriber) would stay disabled.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::*;

/// Log lines written while the test runs (JSON, one per line).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// Current-thread runtime: the gateway's tasks run on this thread, under the
// subscriber set for it.
#[tokio::test(flavor = "current_thread")]
async fn every_log_line_of_a_request_carries_its_event_id_and_identity() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_env_filter("portcullis_gateway=debug")
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let stack = Stack::start().await;
    let response = stack.post("/v1/messages", &simple_body("hello", true)).send().await.unwrap();
    response.bytes().await.unwrap();
    let events = stack.gateway.audit_events(1).await;
    let event_id = events[0]["event_id"].as_str().unwrap().to_owned();

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let finished: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["fields"]["message"] == "request finished")
        .collect();
    assert_eq!(finished.len(), 1, "{logs}");
    let span = &finished[0]["span"];
    assert_eq!(span["name"], "request", "{logs}");
    assert_eq!(span["event_id"], event_id.as_str(), "{logs}");
    assert_eq!(span["tenant"], "acme");
    assert_eq!(span["project"], "demo");
    assert_eq!(span["path"], "/v1/messages");
    assert_eq!(finished[0]["fields"]["status"], 200);
}
