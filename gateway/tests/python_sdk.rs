//! The official `anthropic` Python SDK (pinned, in the venv scripts/install-deps.sh
//! creates) through the gateway: create, stream, count_tokens, models, batches (a batch
//! carrying an injection raising PermissionDeniedError), Files API uploads (a text file
//! carrying one likewise), and a rejected gateway key raising AuthenticationError. Also
//! with the `/api/v1/anthropic` base URL. And the official `openai` SDK against the
//! OpenAI compatibility endpoint (`/v1/chat/completions`), inspected the same way.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;

/// Runs a smoke script in the SDK venv with the keys and `base_url_var=base_url`, and
/// asserts it passed; returns its stdout.
async fn run_script(script: std::path::PathBuf, base_url_var: &str, base_url: String) -> String {
    let python = test_support::python::sdk_python().unwrap();
    let output = tokio::process::Command::new(python)
        .arg(&script)
        .env(base_url_var, base_url)
        .env("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
        .env("PORTCULLIS_KEY", GATEWAY_KEY)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{} failed\nstdout:\n{stdout}\nstderr:\n{stderr}", script.display());
    stdout
}

async fn run_smoke(base_url: String) -> String {
    run_script(test_support::python::sdk_smoke_script(), "ANTHROPIC_BASE_URL", base_url).await
}

#[tokio::test]
async fn official_python_sdk_works_through_the_gateway() {
    let stack = Stack::start().await;
    let stdout = run_smoke(stack.gateway.url()).await;
    // The refusals the script checks behind the gateway (see its docstring) all ran.
    for refused in ["batches.create blocked", "files.upload blocked", "poisoned tool definition blocked"] {
        assert!(stdout.contains(refused), "{refused}: {stdout}");
    }
    let recorded = stack.mock.requests();
    assert!(recorded.len() >= 4, "create, stream, count_tokens, models");
    for request in &recorded {
        assert_eq!(request.header("x-portcullis-key"), None);
        assert!(request.header("x-stainless-lang").is_some(), "SDK headers pass through");
    }
    let stream = recorded.iter().find(|r| r.header("x-stainless-helper-method") == Some("stream"));
    assert!(stream.is_some(), "the streaming helper's request went through");
}

#[tokio::test]
async fn official_openai_sdk_works_through_the_compatibility_endpoint() {
    let stack = Stack::start().await;
    let base_url = format!("{}/v1/", stack.gateway.url());
    let stdout = run_script(test_support::python::openai_smoke_script(), "OPENAI_BASE_URL", base_url).await;
    // The blocked request never reached the upstream; the clean one did, with the
    // caller's key as the OpenAI SDK sends it and without the gateway key.
    let recorded = stack.mock.requests();
    assert_eq!(recorded.len(), 1, "{stdout}");
    assert_eq!(recorded[0].header("authorization"), Some(format!("Bearer {ANTHROPIC_KEY}").as_str()));
    assert_eq!(recorded[0].header("x-portcullis-key"), None);
}

#[tokio::test]
async fn official_python_sdk_works_with_the_prefixed_base_url() {
    let stack = Stack::start().await;
    run_smoke(format!("{}/api/v1/anthropic", stack.gateway.url())).await;
}
