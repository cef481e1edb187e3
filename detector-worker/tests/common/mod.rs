//! The real `detector-worker` binary as a child process, for tests that need a
//! separate process (load split, crashes, the metrics listener).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Starts `detector-worker run` against `nats_url` with `extra_env`, and waits up
/// to `ready_within` for its "ready" log line (after warm-up and subscription).
pub async fn spawn_worker(nats_url: &str, extra_env: &[(&str, &str)], ready_within: Duration) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_detector-worker"))
        .arg("run")
        .env("PORTCULLIS_NATS_URL", nats_url)
        .env("RUST_LOG", "info")
        .env("RAYON_NUM_THREADS", "1")
        .envs(extra_env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let ready = tokio::time::timeout(ready_within, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("detector worker ready") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(ready, Ok(true), "worker did not become ready within {ready_within:?} (Ok(false): it exited first)");
    // Keep draining the log so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    child
}
