//! scripts/python/sdk_smoke.py with the pinned official SDK passes against the
//! mock upstream directly: proves the script (and the venv) work before they are
//! pointed at the gateway.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use mock_upstream::{MockConfig, MockUpstream};
use test_support::python::{sdk_python, sdk_smoke_script};

async fn run_smoke(base_url: &str) -> std::process::Output {
    tokio::process::Command::new(sdk_python().unwrap())
        .arg(sdk_smoke_script())
        .env("ANTHROPIC_BASE_URL", base_url)
        .env("ANTHROPIC_API_KEY", "sk-smoke-test")
        .env_remove("PORTCULLIS_KEY")
        .output()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_smoke_passes_against_mock_upstream() {
    let mock =
        MockUpstream::start(MockConfig { chunk_delay: Duration::from_millis(2), ..Default::default() }).await.unwrap();
    let output = run_smoke(&mock.url()).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("all checks passed"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_smoke_fails_clearly_when_nothing_listens() {
    let port = test_support::ports::free_port().unwrap();
    let output = run_smoke(&format!("http://127.0.0.1:{port}")).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("FAIL create: APIConnectionError"), "{stderr}");
}
