//! A real `clickhouse-server` (Debian 18.16) per test.
//!
//! Each handle owns a temp dir with a generated config.xml/users.xml, the data
//! dir and the logs. The dir outlives `stop()` so `restart()` serves the same
//! tables again (the "ClickHouse down for a while" fault tests). Dropping the
//! handle kills the server and then removes the dir.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tempfile::TempDir;

use crate::binaries::find_binary;
use crate::clickhouse_config::{ClickHouseLayout, config_xml, users_xml};
use crate::error::{HarnessError, Result};
use crate::ports::free_port;
use crate::process::{ServerProcess, ServerSpec, launch_with_fresh_ports};

/// 18.16 starts in ~0.5 s here; 20 s leaves room for a loaded CI box.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// A clean shutdown takes ~0.7 s, or up to `keep_alive_timeout` (3 s) while a
/// client holds an idle keep-alive connection; after this it is SIGKILLed.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// Limit for one `query()` call.
const QUERY_TIMEOUT: Duration = Duration::from_secs(30);

/// Handle to a running `clickhouse-server` on 127.0.0.1.
#[derive(Debug)]
pub struct ClickHouseServer {
    // Field order matters: the process is killed before the temp dir is removed.
    process: ServerProcess,
    http_port: u16,
    tcp_port: u16,
    client: reqwest::Client,
    root: TempDir,
}

impl ClickHouseServer {
    /// Starts a fresh server on free loopback ports with an empty data dir and
    /// waits until `GET /ping` answers `Ok.`.
    pub async fn start() -> Result<Self> {
        let program = find_binary("clickhouse-server", "clickhouse-server")?;
        let root = tempfile::Builder::new()
            .prefix("portcullis-clickhouse-")
            .tempdir()
            .map_err(|e| HarnessError::io("create clickhouse temp dir", e))?;
        for sub in ["data", "tmp", "user_files", "format_schemas", "log"] {
            let dir = root.path().join(sub);
            std::fs::create_dir_all(&dir).map_err(|e| HarnessError::io(format!("create {}", dir.display()), e))?;
        }
        write_file(&root.path().join("users.xml"), users_xml())?;
        let (process, (http_port, tcp_port)) = launch_with_fresh_ports(|| {
            let layout = ClickHouseLayout {
                root: root.path(),
                http_port: free_port()?,
                tcp_port: free_port()?,
                interserver_port: free_port()?,
            };
            // Rewritten on every attempt: the ports change between attempts.
            write_file(&root.path().join("config.xml"), &config_xml(&layout))?;
            let spec = server_spec(&program, root.path(), layout.http_port);
            Ok((spec, (layout.http_port, layout.tcp_port)))
        })
        .await?;
        // No idle pooled connections: the server's clean shutdown would otherwise
        // wait for them to time out, slowing every stop().
        let client = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(0)
            .timeout(QUERY_TIMEOUT)
            .build()
            .map_err(|source| HarnessError::Http { url: format!("http://127.0.0.1:{http_port}"), source })?;
        Ok(Self { process, http_port, tcp_port, client, root })
    }

    /// HTTP interface base URL, `http://127.0.0.1:PORT` (what the `clickhouse` crate uses).
    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// HTTP interface port.
    pub fn http_port(&self) -> u16 {
        self.http_port
    }

    /// Native TCP protocol port (for `clickhouse-client --port`).
    pub fn tcp_port(&self) -> u16 {
        self.tcp_port
    }

    /// Data dir (`<path>`); survives `stop()` and `restart()`.
    pub fn data_dir(&self) -> PathBuf {
        self.root.path().join("data")
    }

    /// Server log files (`log/server.log`, `log/server.err.log`).
    pub fn log_dir(&self) -> PathBuf {
        self.root.path().join("log")
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

    /// Sends `sql` as the body of an HTTP POST and returns the response body.
    /// A non-200 answer is an error carrying ClickHouse's exception text.
    pub async fn query(&self, sql: &str) -> Result<String> {
        let url = self.http_url();
        let response = self
            .client
            .post(&url)
            .body(sql.to_owned())
            .send()
            .await
            .map_err(|source| HarnessError::Http { url: url.clone(), source })?;
        let status = response.status();
        let body = response.text().await.map_err(|source| HarnessError::Http { url, source })?;
        if status == reqwest::StatusCode::OK {
            Ok(body)
        } else {
            Err(HarnessError::Query { status: status.as_u16(), body })
        }
    }

    /// Stops the server cleanly (SIGTERM, SIGKILL after 5 s); keeps the data dir.
    pub async fn stop(&mut self) {
        self.process.terminate(STOP_GRACE).await;
    }

    /// Kills the server abruptly (SIGKILL), like a crash; keeps the data dir.
    pub async fn kill(&mut self) {
        self.process.kill().await;
    }

    /// Stops the server if it runs, then starts it again on the same ports with
    /// the same data dir and waits for readiness.
    pub async fn restart(&mut self) -> Result<()> {
        self.process.terminate(STOP_GRACE).await;
        self.process.start().await
    }
}

fn server_spec(program: &Path, root: &Path, http_port: u16) -> ServerSpec {
    let mut config_arg = OsString::from("--config-file=");
    config_arg.push(root.join("config.xml"));
    ServerSpec {
        name: "clickhouse-server",
        program: program.to_path_buf(),
        args: vec![config_arg],
        console_log: root.join("log/console.log"),
        log_files: vec![root.join("log/server.err.log"), root.join("log/server.log")],
        probe_url: format!("http://127.0.0.1:{http_port}/ping"),
        probe_expect: "Ok.",
        ready_timeout: READY_TIMEOUT,
    }
}

fn write_file(path: &Path, contents: &str) -> Result<()> {
    std::fs::write(path, contents).map_err(|e| HarnessError::io(format!("write {}", path.display()), e))
}
