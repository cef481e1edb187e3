//! Shared pieces of the load harnesses: child processes, percentiles, request bodies.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed on drop.
pub struct Service {
    pub child: Child,
    pub name: &'static str,
}

impl Service {
    pub fn spawn(name: &'static str, command: &mut Command) -> std::io::Result<Service> {
        let child = command.stdout(Stdio::null()).stderr(Stdio::inherit()).spawn()?;
        Ok(Service { child, name })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Resident set size and its peak, in KiB, from /proc (Linux).
pub fn rss_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub async fn wait_ready(url: &str, timeout: Duration) -> bool {
    let client = reqwest::Client::new();
    let started = Instant::now();
    while started.elapsed() < timeout {
        if let Ok(response) = client.get(url).send().await
            && response.status().as_u16() < 500
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Sorted latencies with percentile lookup.
pub struct Latencies(Vec<Duration>);

impl Latencies {
    pub fn new(mut samples: Vec<Duration>) -> Latencies {
        samples.sort();
        Latencies(samples)
    }

    pub fn percentile(&self, p: f64) -> Duration {
        if self.0.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * (self.0.len() - 1) as f64).round() as usize;
        self.0[rank.min(self.0.len() - 1)]
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The workspace's release binary `name`, honouring CARGO_TARGET_DIR.
pub fn release_binary(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("release").join(name)
}

/// An ~85 KB request shaped like Claude Code's: three system blocks, ~25 tools, a
/// conversation with tool results, cache_control, thinking and context management.
pub fn claude_code_sized_body(stream: bool) -> String {
    let tools: Vec<serde_json::Value> = (0..25)
        .map(|i| {
            serde_json::json!({
                "name": format!("Tool{i}"),
                "description": "Executes a given command in a persistent shell session with optional timeout, ensuring proper handling and security measures. ".repeat(12),
                "input_schema": {"type": "object", "properties": {"command": {"type": "string", "description": "The command to execute"}, "timeout": {"type": "number"}}, "required": ["command"]}
            })
        })
        .collect();
    let mut messages = Vec::new();
    for turn in 0..12 {
        messages.push(serde_json::json!({"role": "user", "content": [{"type": "text", "text": format!("Please look at module {turn} and refactor the error handling so that every failure is reported with context. ").repeat(4)}]}));
        messages.push(serde_json::json!({"role": "assistant", "content": [{"type": "tool_use", "id": format!("toolu_{turn}"), "name": "Tool1", "input": {"command": format!("cat src/module_{turn}.rs")}}]}));
        messages.push(serde_json::json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": format!("toolu_{turn}"), "content": [{"type": "text", "text": "fn main() {\n    let value = compute().map_err(|e| anyhow!(\"failed: {e}\"))?;\n    println!(\"{value}\");\n}\n".repeat(14)}]}]}));
    }
    messages.push(serde_json::json!({"role": "user", "content": "[[mock:words=40]] Now summarise what you changed."}));
    serde_json::json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 64000,
        "stream": stream,
        "system": [
            {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.3"},
            {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude.", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "You are an interactive CLI tool that helps users with software engineering tasks. ".repeat(60), "cache_control": {"type": "ephemeral"}}
        ],
        "messages": messages,
        "tools": tools,
        "thinking": {"type": "adaptive"},
        "context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]},
        "metadata": {"user_id": "user_bench_session_1"}
    })
    .to_string()
}
