//! Dashboard APIs against the real pipeline: admin access only (Anthropic-shaped 401s,
//! tenant keys refused, HttpOnly SameSite=Strict cookie), strict headers on the pages,
//! and no SQL injection through any logs/usage filter.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod dashboard_stack;

use dashboard_stack::*;
use portcullis_schemas::nats::server_has_subscriptions;
use serde_json::Value;

async fn get(stack: &DashboardStack, path: &str, bearer: Option<&str>) -> (u16, Value) {
    let mut request = stack.stack.client.get(stack.stack.url(path));
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn dashboard_needs_the_admin_credential_and_never_takes_sql_from_filters() {
    let stack = DashboardStack::start().await;
    stack.send_mix().await;
    assert_eq!(stack.wait_stored(3).await, 3);

    // Every API: 401 in the Anthropic shape without the admin credential, also for a tenant key.
    for path in [
        "/dashboard/api/logs",
        "/dashboard/api/live",
        "/dashboard/api/usage",
        "/dashboard/api/sessions",
        "/dashboard/api/meta",
    ] {
        for bearer in [None, Some(GATEWAY_KEY), Some("pda_wrong")] {
            let (status, body) = get(&stack, path, bearer).await;
            assert_eq!(status, 401, "{path} {bearer:?}");
            assert_eq!(body["type"], "error");
            assert_eq!(body["error"]["type"], "authentication_error");
        }
    }
    let (status, _) = get(&stack, "/dashboard/api/logs", Some(ADMIN_CREDENTIAL)).await;
    assert_eq!(status, 200);

    // Pages: the app redirects to the login page; login sets a session cookie that is
    // not the credential; pages carry a strict CSP.
    let no_redirect = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let response = no_redirect.get(stack.dashboard_url()).send().await.unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/dashboard/login");
    let csp = response.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'self'") && !csp.contains("unsafe"),
        "{csp}"
    );
    let login = stack.stack.url("/dashboard/login");
    let form = |credential: &str| {
        no_redirect
            .post(&login)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("credential={credential}"))
    };
    let response = form(GATEWAY_KEY).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.headers().get("set-cookie").is_none());
    let response = form(ADMIN_CREDENTIAL).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/dashboard"),
        "{cookie}"
    );
    assert!(!cookie.contains(ADMIN_CREDENTIAL));
    let session = cookie.split(';').next().unwrap().to_owned();
    let response = no_redirect.get(stack.dashboard_url()).header("cookie", &session).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/html; charset=utf-8");
    assert!(!response.text().await.unwrap().contains(ADMIN_CREDENTIAL));
    for (file, content_type) in [("app.js", "text/javascript; charset=utf-8"), ("style.css", "text/css; charset=utf-8")]
    {
        let response = no_redirect.get(stack.stack.url(&format!("/dashboard/static/{file}"))).send().await.unwrap();
        assert_eq!(response.headers()["content-type"], content_type);
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    }

    // Filters narrow; injection attempts match nothing and break nothing.
    let logs = |query: &str| format!("/dashboard/api/logs?{query}");
    let (_, all) = get(&stack, &logs(""), Some(ADMIN_CREDENTIAL)).await;
    assert_eq!(all["events"].as_array().unwrap().len(), 3);
    let (_, blocked) = get(&stack, &logs("decision=block"), Some(ADMIN_CREDENTIAL)).await;
    assert_eq!(blocked["events"].as_array().unwrap().len(), 1);
    let (_, research) = get(&stack, &logs("project=research&detector=pii.email"), Some(ADMIN_CREDENTIAL)).await;
    assert_eq!(research["events"].as_array().unwrap().len(), 1);
    let attempts = [
        "project=' OR 1=1 --",
        "project=demo' OR '1'='1",
        "session=x') OR 1=1 OR ('",
        "detector=a\\' OR 1=1 --",
        "model=claude\\",
        "path=/v1/messages' UNION SELECT * FROM system.tables --",
        "project=demo'; DROP TABLE audit_events; --",
    ];
    for attempt in attempts {
        let query = reqwest::Url::parse_with_params("http://x/", [attempt.split_once('=').unwrap()]).unwrap();
        let (status, body) = get(&stack, &logs(query.query().unwrap()), Some(ADMIN_CREDENTIAL)).await;
        assert_eq!(status, 200, "{attempt}: {body}");
        assert_eq!(body["events"].as_array().unwrap().len(), 0, "{attempt}");
        let (status, body) =
            get(&stack, &format!("/dashboard/api/usage?{}", query.query().unwrap()), Some(ADMIN_CREDENTIAL)).await;
        assert_eq!(status, 200, "{attempt}: {body}");
        assert_eq!(body["series"].as_array().unwrap().len(), 0, "{attempt}");
    }
    for bad in ["decision=block' OR '1'='1", "from=1%20OR%201", "limit=1;DROP", "by=model;DROP"] {
        let (status, body) = get(&stack, &format!("/dashboard/api/usage?{bad}"), Some(ADMIN_CREDENTIAL)).await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(body["error"]["type"], "invalid_request_error");
    }
    let (status, _) = get(&stack, "/dashboard/api/events/not-a-uuid'--", Some(ADMIN_CREDENTIAL)).await;
    assert_eq!(status, 400);
    assert_eq!(stack.stored().await, 3, "the table is intact");

    // The detail view: findings and the redacted conversation, never the address in clear.
    let research_id = research["events"][0]["id"].as_str().unwrap().to_owned();
    let (status, detail) = get(&stack, &format!("/dashboard/api/events/{research_id}"), Some(ADMIN_CREDENTIAL)).await;
    assert_eq!(status, 200);
    assert_eq!(detail["decision"], "alert");
    assert_eq!(detail["findings"][0]["detector"], "pii.email");
    assert_eq!(detail["content"]["messages"][0]["role"], "user");
    assert!(!detail.to_string().contains("jane.doe@example.org"), "{detail}");

    let (_, usage) = get(&stack, "/dashboard/api/usage?by=project", Some(ADMIN_CREDENTIAL)).await;
    let requests: u64 = usage["series"].as_array().unwrap().iter().map(|r| r["requests"].as_u64().unwrap()).sum();
    assert_eq!(requests, 3);
    assert!(usage["top_detectors"].as_array().unwrap().iter().any(|d| d["detector"] == "pii.email"));
    stack.stop().await;
}

/// An open dashboard tab must not hold the gateway's graceful drain (30 s) on shutdown.
#[tokio::test]
async fn live_stream_delivers_events_and_ends_when_the_gateway_shuts_down() {
    let stack = DashboardStack::start().await;
    let mut response = stack
        .stack
        .client
        .get(stack.stack.url("/dashboard/api/live"))
        .bearer_auth(ADMIN_CREDENTIAL)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut received = String::new();
    // Hang guards only: each wait is bounded so a regression fails instead of hanging.
    // (Whole loops are bounded, not single chunks: keep-alive comments arrive meanwhile.)
    let guard = std::time::Duration::from_secs(20);
    tokio::time::timeout(guard, async {
        while !received.contains("event: ready") {
            let chunk = response.chunk().await.unwrap().unwrap();
            received.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .expect("no ready event");
    // A direct subscriber too, so a failure says whether the event was published at all.
    let direct = async_nats::connect(stack.nats.url()).await.unwrap();
    let mut published = direct.subscribe("live.events.>").await.unwrap();
    server_has_subscriptions(&direct, std::time::Duration::from_secs(10)).await.unwrap();
    assert_eq!(stack.send(RESEARCH_KEY, "sess-live", EMAIL_TEXT).await, 200);
    tokio::time::timeout(guard, async {
        while !received.contains("event: event") {
            let chunk = response.chunk().await.unwrap().unwrap();
            received.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .unwrap_or_else(|_| {
        use futures_util::StreamExt;
        let seen = futures_util::FutureExt::now_or_never(published.next()).flatten();
        let seen = seen.map(|m| String::from_utf8_lossy(&m.payload).into_owned());
        panic!("the request's live event never reached the stream: {received}; published on NATS: {seen:?}")
    });
    assert!(received.contains(r#""decision":"alert""#) && received.contains("pii.email"), "{received}");
    assert!(!received.contains("jane.doe"), "live rows carry no content: {received}");

    drop(stack.stack.gateway);
    let ended = tokio::time::timeout(guard, async { while let Ok(Some(_)) = response.chunk().await {} }).await;
    assert!(ended.is_ok(), "the live stream stayed open after shutdown began");
}
