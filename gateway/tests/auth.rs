//! Both identity modes, and that a failed gateway authentication forwards nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;

async fn assert_gateway_401(response: reqwest::Response) -> String {
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["x-should-retry"], "false", "Claude Code must not retry");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "authentication_error");
    let message = body["error"]["message"].as_str().unwrap().to_string();
    assert!(message.starts_with("Portcullis gateway"), "{message}");
    message
}

async fn token(stack: &Stack, client_id: &str, secret: &str) -> reqwest::Response {
    stack
        .client
        .post(stack.url("/api/v1/auth/token"))
        .json(&serde_json::json!({"client_id": client_id, "client_secret": secret, "grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn missing_or_wrong_gateway_key_is_rejected_without_forwarding() {
    let stack = Stack::start().await;
    let body = simple_body("hi", false);
    let response = stack
        .client
        .post(stack.url("/v1/messages"))
        .header("x-api-key", ANTHROPIC_KEY)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let message = assert_gateway_401(response).await;
    assert!(message.contains("x-portcullis-key"));
    assert!(!message.contains(ANTHROPIC_KEY));

    let response = stack
        .client
        .post(stack.url("/v1/messages"))
        .header("x-api-key", ANTHROPIC_KEY)
        .header("x-portcullis-key", "pcl_wrong")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_gateway_401(response).await;
    assert_eq!(stack.mock.call_count(), 0);
}

#[tokio::test]
async fn configured_alternative_key_header_works_and_is_consumed() {
    let stack = Stack::start().await;
    let response = stack
        .client
        .post(stack.url("/v1/messages"))
        .header("authorization", format!("Bearer {ANTHROPIC_KEY}"))
        .header("X-Glitch-Key", GLITCH_KEY)
        .body(simple_body("hi", false))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let recorded = &stack.mock.requests()[0];
    assert_eq!(recorded.header("authorization"), Some(format!("Bearer {ANTHROPIC_KEY}").as_str()));
    assert_eq!(recorded.header("x-glitch-key"), None);
}

#[tokio::test]
async fn jwt_mode_via_bearer_and_via_x_api_key() {
    let stack = Stack::start().await;
    let response = token(&stack, CLIENT_ID, CLIENT_SECRET).await;
    assert_eq!(response.status(), 200);
    let issued: serde_json::Value = response.json().await.unwrap();
    assert_eq!(issued["token_type"], "Bearer");
    assert!(issued["expires_in"].as_u64().unwrap() > 0);
    let jwt = issued["access_token"].as_str().unwrap().to_string();

    // SDK 2.x style: Authorization: Bearer <jwt>.
    let response = stack
        .client
        .post(stack.url("/v1/messages"))
        .bearer_auth(&jwt)
        .header("x-anthropic-key", ANTHROPIC_KEY)
        .body(simple_body("hi", false))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // SDK 0.x style: x-api-key: <jwt>.
    let response = stack
        .client
        .post(stack.url("/v1/messages"))
        .header("x-api-key", &jwt)
        .header("x-anthropic-key", ANTHROPIC_KEY)
        .body(simple_body("hi", false))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    for recorded in stack.mock.requests() {
        assert_eq!(recorded.header("x-api-key"), Some(ANTHROPIC_KEY), "upstream gets the Anthropic key");
        assert_eq!(recorded.header("authorization"), None, "the JWT is consumed");
        assert_eq!(recorded.header("x-anthropic-key"), None);
    }
}

#[tokio::test]
async fn jwt_mode_rejections() {
    let stack = Stack::start().await;
    assert_eq!(token(&stack, CLIENT_ID, "pcs_wrong").await.status(), 401);
    assert_eq!(token(&stack, "nobody", CLIENT_SECRET).await.status(), 401);
    let bad_grant = stack
        .client
        .post(stack.url("/api/v1/auth/token"))
        .json(&serde_json::json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "grant_type": "password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_grant.status(), 400);
    let not_json = stack.client.post(stack.url("/api/v1/auth/token")).body("client_id=x").send().await.unwrap();
    assert_eq!(not_json.status(), 400);
    let body: serde_json::Value = not_json.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");

    let issued: serde_json::Value = token(&stack, CLIENT_ID, CLIENT_SECRET).await.json().await.unwrap();
    let jwt = issued["access_token"].as_str().unwrap();
    // Without the Anthropic key.
    let response = stack
        .client
        .post(stack.url("/v1/messages"))
        .bearer_auth(jwt)
        .body(simple_body("hi", false))
        .send()
        .await
        .unwrap();
    let message = assert_gateway_401(response).await;
    assert!(message.contains("X-Anthropic-Key"));
    // A tampered token.
    let mut tampered = jwt.to_string();
    tampered.pop();
    tampered.push(if jwt.ends_with('A') { 'B' } else { 'A' });
    let response = stack
        .client
        .post(stack.url("/v1/messages"))
        .bearer_auth(&tampered)
        .header("x-anthropic-key", ANTHROPIC_KEY)
        .body(simple_body("hi", false))
        .send()
        .await
        .unwrap();
    assert_gateway_401(response).await;
    // A client without the llm:invoke scope gets 403.
    let issued: serde_json::Value = token(&stack, NOSCOPE_CLIENT_ID, CLIENT_SECRET).await.json().await.unwrap();
    let response = stack
        .client
        .post(stack.url("/v1/messages"))
        .bearer_auth(issued["access_token"].as_str().unwrap())
        .header("x-anthropic-key", ANTHROPIC_KEY)
        .body(simple_body("hi", false))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "permission_error");
    assert_eq!(stack.mock.call_count(), 0);
}
