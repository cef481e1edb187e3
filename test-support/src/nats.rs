//! A real `nats-server -js` per test.
//!
//! Each handle owns a temp dir holding the JetStream store dir and the logs; the
//! dir outlives `stop()` so `restart()` finds the same streams again (the "NATS
//! down, then back" fault tests). Dropping the handle kills the server and then
//! removes the dir.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tempfile::TempDir;

use crate::binaries::find_binary;
use crate::error::{HarnessError, Result};
use crate::ports::free_port;
use crate::process::{ServerProcess, ServerSpec, launch_with_fresh_ports};

/// nats-server starts in ~50 ms here; 10 s leaves room for a loaded CI box.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// Grace period for a clean shutdown in `stop()`/`restart()`.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Handle to a running `nats-server` with JetStream enabled on 127.0.0.1.
#[derive(Debug)]
pub struct NatsServer {
    // Field order matters: the process is killed before the temp dir is removed.
    process: ServerProcess,
    port: u16,
    monitor_port: u16,
    root: TempDir,
}

impl NatsServer {
    /// Starts a fresh server on free loopback ports with an empty store dir and
    /// waits until `/healthz` reports ok.
    pub async fn start() -> Result<Self> {
        let program = find_binary("nats-server", "nats-server")?;
        let root = tempfile::Builder::new()
            .prefix("portcullis-nats-")
            .tempdir()
            .map_err(|e| HarnessError::io("create nats temp dir", e))?;
        let store_dir = root.path().join("store");
        std::fs::create_dir_all(&store_dir)
            .map_err(|e| HarnessError::io(format!("create {}", store_dir.display()), e))?;
        let (process, (port, monitor_port)) = launch_with_fresh_ports(|| {
            let port = free_port()?;
            let monitor_port = free_port()?;
            let spec = server_spec(&program, root.path(), port, monitor_port);
            Ok((spec, (port, monitor_port)))
        })
        .await?;
        Ok(Self { process, port, monitor_port, root })
    }

    /// Client URL, `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Client port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Monitoring base URL, `http://127.0.0.1:MONPORT` (`/healthz`, `/jsz`, `/varz`).
    pub fn monitor_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.monitor_port)
    }

    /// JetStream store dir (`-sd`); survives `stop()` and `restart()`.
    pub fn store_dir(&self) -> PathBuf {
        self.root.path().join("store")
    }

    /// Server log file (`-l`).
    pub fn log_file(&self) -> PathBuf {
        self.root.path().join("nats.log")
    }

    /// OS pid of the running server, `None` while stopped.
    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    /// True while the server process is alive.
    pub fn is_running(&mut self) -> bool {
        self.process.is_running()
    }

    /// Last lines of the server's logs, for assertion messages.
    pub fn log_tail(&self) -> String {
        self.process.log_tail()
    }

    /// Stops the server cleanly (SIGTERM, SIGKILL after 10 s); keeps the store dir.
    pub async fn stop(&mut self) {
        self.process.terminate(STOP_GRACE).await;
    }

    /// Kills the server abruptly (SIGKILL), like a crash; keeps the store dir.
    pub async fn kill(&mut self) {
        self.process.kill().await;
    }

    /// Stops the server if it runs, then starts it again on the same ports with
    /// the same store dir and waits for readiness.
    pub async fn restart(&mut self) -> Result<()> {
        self.process.terminate(STOP_GRACE).await;
        self.process.start().await
    }
}

fn server_spec(program: &Path, root: &Path, port: u16, monitor_port: u16) -> ServerSpec {
    let store_dir = root.join("store");
    let log_file = root.join("nats.log");
    let args: Vec<OsString> = vec![
        "-js".into(),
        "-a".into(),
        "127.0.0.1".into(),
        "-p".into(),
        port.to_string().into(),
        "-m".into(),
        monitor_port.to_string().into(),
        "-sd".into(),
        store_dir.into_os_string(),
        "-l".into(),
        log_file.clone().into_os_string(),
    ];
    ServerSpec {
        name: "nats-server",
        program: program.to_path_buf(),
        args,
        console_log: root.join("console.log"),
        log_files: vec![log_file],
        probe_url: format!("http://127.0.0.1:{monitor_port}/healthz"),
        probe_expect: "ok",
        ready_timeout: READY_TIMEOUT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A port taken between picking and binding makes the first start fail with
    /// "address already in use"; the retry with fresh ports then succeeds.
    #[tokio::test]
    async fn start_retries_when_the_picked_port_is_taken() {
        let program = find_binary("nats-server", "nats-server").unwrap();
        let root = tempfile::tempdir().unwrap();
        let squatter = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let taken = squatter.local_addr().unwrap().port();
        let mut attempts = 0;
        let (mut process, port) = launch_with_fresh_ports(|| {
            attempts += 1;
            let port = if attempts == 1 { taken } else { free_port()? };
            Ok((server_spec(&program, root.path(), port, free_port()?), port))
        })
        .await
        .unwrap();
        assert_eq!(attempts, 2);
        assert_ne!(port, taken);
        assert!(process.is_running());
        process.kill().await;
    }
}
