//! Validation and authentication errors, error triggers, hangs, and the
//! request log (exact bytes and headers, rejected requests included).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{KEY, body, client, post_messages};
use mock_upstream::{MockConfig, MockUpstream};
use serde_json::Value;

async fn error_of(response: reqwest::Response) -> (u16, reqwest::header::HeaderMap, Value) {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], "error", "{body}");
    assert!(headers.contains_key("request-id"));
    (status, headers, body)
}

#[tokio::test]
async fn invalid_bodies_are_400() {
    let mock = MockUpstream::start(MockConfig::default()).await.unwrap();
    for raw in [
        "not json",
        "[1,2]",
        r#"{"max_tokens":5,"messages":[{"role":"user","content":"x"}]}"#,
        r#"{"model":"m","messages":[{"role":"user","content":"x"}]}"#,
        r#"{"model":"m","max_tokens":0,"messages":[{"role":"user","content":"x"}]}"#,
        r#"{"model":"m","max_tokens":5,"messages":[]}"#,
    ] {
        let response = client()
            .post(format!("{}/v1/messages", mock.url()))
            .header("x-api-key", KEY)
            .body(raw)
            .send()
            .await
            .unwrap();
        let (status, _, error) = error_of(response).await;
        assert_eq!(status, 400, "{raw}");
        assert_eq!(error["error"]["type"], "invalid_request_error");
        assert!(!error["error"]["message"].as_str().unwrap().is_empty());
    }
}

#[tokio::test]
async fn missing_or_invalid_key_is_401() {
    let mock = MockUpstream::start(MockConfig::default()).await.unwrap();
    let url = format!("{}/v1/messages", mock.url());
    let payload = body("hi", false);

    let missing = client().post(&url).json(&payload).send().await.unwrap();
    let (status, headers, error) = error_of(missing).await;
    assert_eq!(status, 401);
    assert_eq!(error["error"]["type"], "authentication_error");
    assert_eq!(headers["x-should-retry"], "false");

    let invalid = client().post(&url).header("x-api-key", "sk-invalid-key").json(&payload).send().await.unwrap();
    let (status, _, error) = error_of(invalid).await;
    assert_eq!(status, 401);
    assert_eq!(error["error"]["message"], "invalid x-api-key");

    let bearer = client().post(&url).bearer_auth(KEY).json(&payload).send().await.unwrap();
    assert_eq!(bearer.status(), 200);
}

#[tokio::test]
async fn error_triggers_map_to_statuses() {
    let mock = MockUpstream::start(MockConfig::default()).await.unwrap();
    for (trigger, status, kind) in [
        ("[[mock:overloaded]]", 529, "overloaded_error"),
        ("[[mock:rate_limit]]", 429, "rate_limit_error"),
        ("[[mock:server_error]]", 500, "api_error"),
    ] {
        for stream in [false, true] {
            let response = post_messages(&mock, &body(&format!("please {trigger}"), stream)).await;
            let (got, headers, error) = error_of(response).await;
            assert_eq!(got, status, "{trigger}");
            assert_eq!(error["error"]["type"], kind);
            if status == 429 {
                assert_eq!(headers["retry-after"], "1");
            }
        }
    }
}

#[tokio::test]
async fn unknown_paths_are_404() {
    let mock = MockUpstream::start(MockConfig::default()).await.unwrap();
    for request in [
        client().get(format!("{}/v1/nothing", mock.url())),
        client().head(format!("{}/", mock.url())),
        client().get(format!("{}/v1/messages", mock.url())),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 404);
        assert!(response.headers().contains_key("request-id"));
    }
    let body: Value =
        client().delete(format!("{}/v1/complete", mock.url())).send().await.unwrap().json().await.unwrap();
    assert_eq!(body["error"]["type"], "not_found_error");
}

#[tokio::test]
async fn hang_never_answers() {
    let mock = MockUpstream::start(MockConfig::default()).await.unwrap();
    let result = client()
        .post(format!("{}/v1/messages", mock.url()))
        .header("x-api-key", KEY)
        .json(&body("wait [[mock:hang]]", true))
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    let error = result.unwrap_err();
    assert!(error.is_timeout(), "{error}");
    assert_eq!(mock.call_count(), 1);
}

fn two_beta_headers() -> reqwest::header::HeaderMap {
    use reqwest::header::{HeaderMap, HeaderValue};
    let mut headers = HeaderMap::new();
    headers.append("anthropic-beta", HeaderValue::from_static("a-1"));
    headers.append("anthropic-beta", HeaderValue::from_static("b-2"));
    headers
}

#[tokio::test]
async fn records_exact_bytes_headers_and_rejections() {
    let mock = MockUpstream::start(MockConfig::default()).await.unwrap();
    // Odd spacing and key order must survive byte for byte.
    let raw = "{ \"max_tokens\": 9,\n \"model\":\"m\", \"messages\":[{\"role\":\"user\",\"content\":\"é\"}] }";
    let response = client()
        .post(format!("{}/v1/messages?beta=true", mock.url()))
        .header("x-api-key", KEY)
        .header("X-Custom", "one")
        .headers(two_beta_headers())
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let rejected = client().post(format!("{}/v1/messages", mock.url())).body("{}").send().await.unwrap();
    assert_eq!(rejected.status(), 401);
    client().get(format!("{}/nowhere", mock.url())).send().await.unwrap();

    let requests = mock.requests();
    assert_eq!(mock.call_count(), 3);
    let first = &requests[0];
    assert_eq!(first.method, "POST");
    assert_eq!(first.path, "/v1/messages");
    assert_eq!(first.query.as_deref(), Some("beta=true"));
    assert_eq!(&first.body[..], raw.as_bytes());
    assert_eq!(first.header("x-custom"), Some("one"));
    assert_eq!(first.header("X-API-KEY"), Some(KEY));
    assert_eq!(first.header_all("anthropic-beta"), vec!["a-1", "b-2"]);
    assert!(first.headers.iter().all(|(name, _)| *name == name.to_lowercase()));
    assert_eq!(first.json().unwrap()["model"], "m");

    assert_eq!(&requests[1].body[..], b"{}");
    assert_eq!(requests[1].query, None);
    assert_eq!(requests[2].method, "GET");
    assert_eq!(requests[2].path, "/nowhere");

    mock.reset();
    assert_eq!(mock.call_count(), 0);
    assert!(mock.requests().is_empty());
}
