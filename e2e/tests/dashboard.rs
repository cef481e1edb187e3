//! The dashboard in a real headless Chromium (Debian's `chromium`, driven by
//! `e2e/browser/dashboard.mjs` with playwright-core): sign in, a request through the
//! gateway appears as a live row, pause/resume, logs filters narrow the results, the
//! detail view renders the redacted conversation, usage charts draw. Screenshots of
//! the three views go to `$PORTCULLIS_ARTIFACTS` (default: this crate's target tmp
//! dir); with `PORTCULLIS_UPDATE_SCREENSHOTS=1` they also replace docs/screenshots/.
//!
//! Needs `scripts/install-deps.sh` (chromium, and `npm ci` in e2e/browser).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod dashboard_stack;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use dashboard_stack::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{ChildStdout, Command};

/// A hang guard for each browser step (not a speed assertion).
const STEP_LIMIT: Duration = Duration::from_secs(60);

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("browser")
}

fn artifacts_dir() -> PathBuf {
    match std::env::var_os("PORTCULLIS_ARTIFACTS") {
        Some(dir) => PathBuf::from(dir).join("dashboard"),
        None => Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-screenshots"),
    }
}

/// Read lines from the script until one starts with `prefix`, echoing and collecting
/// the CHECK/METRIC lines on the way.
async fn until(lines: &mut Lines<BufReader<ChildStdout>>, prefix: &str, log: &mut Vec<String>) -> String {
    loop {
        let line = tokio::time::timeout(STEP_LIMIT, lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("browser script silent while waiting for {prefix}; so far:\n{}", log.join("\n")))
            .unwrap()
            .unwrap_or_else(|| panic!("browser script ended before {prefix}; so far:\n{}", log.join("\n")));
        println!("browser: {line}");
        log.push(line.clone());
        if line.starts_with(prefix) {
            return line;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_in_headless_chromium() {
    assert!(Path::new("/usr/bin/chromium").exists(), "chromium missing: run scripts/install-deps.sh");
    assert!(
        browser_dir().join("node_modules/playwright-core").exists(),
        "playwright-core missing: run scripts/install-deps.sh (npm ci in e2e/browser)"
    );
    let stack = DashboardStack::start().await;
    let artifacts = artifacts_dir();
    let mut child = Command::new("node")
        .arg(browser_dir().join("dashboard.mjs"))
        .env("DASHBOARD_URL", stack.dashboard_url())
        .env("DASHBOARD_CREDENTIAL", ADMIN_CREDENTIAL)
        .env("ARTIFACTS_DIR", &artifacts)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node not found: run scripts/install-deps.sh");
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut log = Vec::new();

    until(&mut lines, "READY_LIVE", &mut log).await;
    stack.send_mix().await;
    stdin.write_all(b"SENT 3\n").await.unwrap();
    until(&mut lines, "PAUSED", &mut log).await;
    assert_eq!(stack.send(GATEWAY_KEY, "sess-demo-1", "and one more thing").await, 200);
    stdin.write_all(b"SENT 1\n").await.unwrap();
    until(&mut lines, "READY_LOGS", &mut log).await;
    let stored = stack.wait_stored(4).await;
    assert_eq!(stored, 4, "the audit-writer stored every event");
    stdin.write_all(format!("STORED {stored}\n").as_bytes()).await.unwrap();
    until(&mut lines, "READY_HISTORY", &mut log).await;
    let seeded = stack.seed_history().await;
    stdin.write_all(format!("SEEDED {seeded}\n").as_bytes()).await.unwrap();
    let done = until(&mut lines, "DONE", &mut log).await;
    let status = tokio::time::timeout(STEP_LIMIT, child.wait()).await.unwrap().unwrap();

    let failed: Vec<_> = log.iter().filter(|l| l.starts_with("CHECK FAIL")).collect();
    assert!(
        failed.is_empty() && done == "DONE 0" && status.success(),
        "browser checks failed: {failed:#?}\nartifacts: {}",
        artifacts.display()
    );
    let passed = log.iter().filter(|l| l.starts_with("CHECK ok")).count();
    assert!(passed >= 25, "only {passed} checks ran:\n{}", log.join("\n"));
    for view in ["live", "logs", "usage"] {
        let shot = artifacts.join(format!("{view}.png"));
        assert!(std::fs::metadata(&shot).map(|m| m.len() > 10_000).unwrap_or(false), "{} missing", shot.display());
        if std::env::var_os("PORTCULLIS_UPDATE_SCREENSHOTS").is_some() {
            let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots");
            std::fs::create_dir_all(&docs).unwrap();
            std::fs::copy(&shot, docs.join(format!("dashboard-{view}.png"))).unwrap();
        }
    }
    println!("screenshots: {}", artifacts.display());
    stack.stop().await;
}
