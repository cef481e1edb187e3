//! Shared test fixtures: an in-process gateway in front of the in-process mock upstream.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;

use mock_upstream::{MockConfig, MockUpstream};
use portcullis_gateway::config::{self, Config};
use portcullis_gateway::state::AppState;
use tokio::sync::oneshot;

pub const GATEWAY_KEY: &str = "pcl_test_key_0123456789";
pub const GLITCH_KEY: &str = "pcl_glitch_key_0123456789";
pub const ANTHROPIC_KEY: &str = "sk-ant-api03-test-caller-key";
pub const CLIENT_ID: &str = "agent-1";
pub const CLIENT_SECRET: &str = "pcs_test_secret_0123456789";
pub const NOSCOPE_CLIENT_ID: &str = "agent-noscope";
pub const JWT_SECRET: &str = "test-signing-secret-0123456789abcdef";

pub fn sha(text: &str) -> String {
    portcullis_gateway::auth::keys::KeyHash::of(text).to_string()
}

/// A config in front of `upstream_url` with one project, two keys and two JWT clients.
pub fn test_config_toml(upstream_url: &str, extra: &str) -> String {
    test_config_toml_project(upstream_url, "", extra)
}

/// Like [`test_config_toml`], with `project_lines` added to the `demo` project's table.
pub fn test_config_toml_project(upstream_url: &str, project_lines: &str, extra: &str) -> String {
    format!(
        r#"
listen = "127.0.0.1:0"
[upstream]
url = "{upstream_url}"
connect_timeout_ms = 2000
response_header_timeout_ms = 5000
idle_timeout_ms = 5000
[auth]
key_headers = ["x-portcullis-key", "x-glitch-key"]
[auth.jwt]
issuer = "portcullis-test"
audience = "portcullis-gateway"
signing_secret = "{JWT_SECRET}"
[[projects]]
name = "demo"
tenant = "acme"
{project_lines}
[[keys]]
project = "demo"
hash = "{}"
[[keys]]
project = "demo"
hash = "{}"
[[clients]]
client_id = "{CLIENT_ID}"
project = "demo"
secret_hash = "{}"
scopes = ["llm:invoke"]
[[clients]]
client_id = "{NOSCOPE_CLIENT_ID}"
project = "demo"
secret_hash = "{}"
scopes = ["models:read"]
{extra}
"#,
        sha(GATEWAY_KEY),
        sha(GLITCH_KEY),
        sha(CLIENT_SECRET),
        sha(CLIENT_SECRET),
    )
}

pub struct TestGateway {
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    /// Holds the JSONL audit file (no NATS configured) unless the config names one.
    pub dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
}

impl TestGateway {
    /// A gateway whose upstream is a loopback port nothing listens on (502 paths).
    pub async fn with_unreachable_upstream() -> TestGateway {
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap()
        };
        let config = config::load::from_toml_str(&test_config_toml(&format!("http://{closed}"), "")).unwrap();
        TestGateway::start(config).await
    }

    pub async fn start(mut config: Config) -> TestGateway {
        let dir = tempfile::tempdir().unwrap();
        if config.audit.jsonl_path == std::path::Path::new("portcullis-audit.jsonl") {
            config.audit.jsonl_path = dir.path().join("audit.jsonl");
        }
        if config.audit.spool_dir == std::path::Path::new(".portcullis/audit-spool") {
            config.audit.spool_dir = dir.path().join("spool");
        }
        let state = Arc::new(AppState::start(config, None).await.unwrap());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel();
        let serve_state = state.clone();
        tokio::spawn(async move {
            let _ = portcullis_gateway::server::serve(listener, serve_state, async {
                let _ = rx.await;
            })
            .await;
        });
        TestGateway { addr, state, dir, shutdown: Some(tx) }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Audit events written so far in JSONL mode (waits briefly for the writer task).
    pub async fn audit_events(&self, at_least: usize) -> Vec<serde_json::Value> {
        let path = self.state.config().audit.jsonl_path.clone();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            // Only complete lines: the writer may be midway through a large event.
            let events: Vec<serde_json::Value> = text
                .split_inclusive('\n')
                .filter(|l| l.ends_with('\n') && !l.trim().is_empty())
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            if events.len() >= at_least || std::time::Instant::now() > deadline {
                return events;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub struct Stack {
    pub mock: MockUpstream,
    pub gateway: TestGateway,
    pub client: reqwest::Client,
}

impl Stack {
    pub async fn start() -> Stack {
        Self::start_with(MockConfig::default(), "").await
    }

    pub async fn start_with(mock_config: MockConfig, extra_toml: &str) -> Stack {
        Self::start_with_project(mock_config, "", extra_toml).await
    }

    pub async fn start_with_project(mock_config: MockConfig, project_lines: &str, extra_toml: &str) -> Stack {
        let mock = MockUpstream::start(mock_config).await.unwrap();
        let toml = test_config_toml_project(&mock.url(), project_lines, extra_toml);
        let config = config::load::from_toml_str(&toml).unwrap();
        let gateway = TestGateway::start(config).await;
        Stack { mock, gateway, client: reqwest::Client::new() }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.gateway.url(), path)
    }

    /// `GET path` with both keys.
    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.get(self.url(path)).header("x-api-key", ANTHROPIC_KEY).header("x-portcullis-key", GATEWAY_KEY)
    }

    /// A request as the Python SDK 0.x sends it, with the gateway key.
    pub fn post(&self, path: &str, body: &str) -> reqwest::RequestBuilder {
        self.client
            .post(self.url(path))
            .header("x-api-key", ANTHROPIC_KEY)
            .header("x-portcullis-key", GATEWAY_KEY)
            .header("content-type", "application/json")
            .body(body.to_string())
    }
}

pub fn simple_body(text: &str, stream: bool) -> String {
    serde_json::json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 256,
        "stream": stream,
        "messages": [{"role": "user", "content": text}]
    })
    .to_string()
}

/// A Claude-Code-shaped body with odd but valid formatting, unknown fields, cache_control,
/// a `system` role entry in `messages`, thinking and context management.
pub fn claude_code_body() -> String {
    r#"{"model":"claude-opus-4-5","max_tokens":64000,"stream":true,
  "system":[{"type":"text","text":"x-anthropic-billing-header: cc_version=2.1.3"},{"type":"text","text":"You are Claude Code.","cache_control":{"type":"ephemeral"}}],
  "messages":[{"role":"user","content":[{"type":"text","text":"list files   please","cache_control":{"type":"ephemeral"}}]},
   {"role":"system","content":"injected by client"},
   {"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"Bash","input":{"command":"ls"}}]},
   {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"a.txt\nb.txt"}]}]}],
  "tools":[{"name":"Bash","description":"run","input_schema":{"type":"object","properties":{"command":{"type":"string"}}}}],
  "thinking":{"type":"adaptive"},"context_management":{"edits":[{"type":"clear_tool_uses_20250919"}]},
  "output_config":{"effort":"high"},"metadata":{"user_id":"user_abc_session_123"},
  "unknown_future_field":  {"nested": [1, 2.50, "é"]}   }"#
        .to_string()
}

/// Parse an SSE body into (event name, data JSON) pairs.
pub fn sse_events(body: &str) -> Vec<(String, serde_json::Value)> {
    let mut events = Vec::new();
    for block in body.split("\n\n") {
        let mut name = None;
        let mut data = String::new();
        for line in block.lines() {
            if let Some(rest) = line.strip_prefix("event: ") {
                name = Some(rest.to_string());
            } else if let Some(rest) = line.strip_prefix("data: ") {
                data.push_str(rest);
            }
        }
        if let Some(name) = name {
            events.push((name, serde_json::from_str(&data).unwrap_or(serde_json::Value::Null)));
        }
    }
    events
}

/// Sends `POST {path}` over a raw HTTP/1.1 connection, the path exactly as written
/// (an HTTP client library would normalize it first), with both keys; returns the whole
/// response as text.
pub async fn raw_post(addr: std::net::SocketAddr, path: &str, body: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let request = format!(
        "POST {path} HTTP/1.1\r\nhost: gateway\r\nx-api-key: {ANTHROPIC_KEY}\r\nx-portcullis-key: {GATEWAY_KEY}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(std::time::Duration::from_secs(10), socket.read_to_string(&mut response))
        .await
        .unwrap()
        .unwrap();
    response
}
