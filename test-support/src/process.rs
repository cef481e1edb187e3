//! A server child process with a readiness probe, shared by the NATS and
//! ClickHouse handles.
//!
//! The child's stdout/stderr go to a file (never to the test's terminal, where
//! parallel servers would interleave); on a failed start the tail of that file
//! and of the server's own logs is put into the error so the cause is visible in
//! the test output without digging in temp dirs.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::error::{HarnessError, Result};

/// How often the readiness probe is retried.
const PROBE_INTERVAL: Duration = Duration::from_millis(25);
/// Per-request limit of one probe, so a hung socket cannot eat the whole budget.
const PROBE_REQUEST_TIMEOUT: Duration = Duration::from_secs(1);
/// Lines of each log file quoted in startup errors.
const LOG_TAIL_LINES: usize = 40;
/// How long `Drop` waits for a SIGKILLed child to be reaped.
const DROP_REAP_LIMIT: Duration = Duration::from_secs(2);

/// Everything needed to (re)start one server the same way every time.
#[derive(Debug, Clone)]
pub(crate) struct ServerSpec {
    /// Display name used in errors, e.g. "nats-server".
    pub name: &'static str,
    pub program: PathBuf,
    pub args: Vec<OsString>,
    /// Receives the child's stdout and stderr (appended across restarts).
    pub console_log: PathBuf,
    /// The server's own log files, quoted after the console log in errors.
    pub log_files: Vec<PathBuf>,
    /// GET this URL until the body contains `probe_expect`.
    pub probe_url: String,
    pub probe_expect: &'static str,
    pub ready_timeout: Duration,
}

/// A running (or stopped) server child. Dropping it kills the child.
#[derive(Debug)]
pub(crate) struct ServerProcess {
    spec: ServerSpec,
    child: Option<Child>,
}

impl ServerProcess {
    /// Spawns the server and waits until its probe answers.
    pub(crate) async fn launch(spec: ServerSpec) -> Result<Self> {
        let mut process = Self { spec, child: None };
        process.start().await?;
        Ok(process)
    }

    /// Starts the child if it is not running and waits for readiness.
    pub(crate) async fn start(&mut self) -> Result<()> {
        if self.is_running() {
            return Ok(());
        }
        let child = self.spawn()?;
        self.child = Some(child);
        let ready = self.wait_ready().await;
        if ready.is_err() {
            // Do not leave a half-started server behind a failed start.
            self.kill().await;
        }
        ready
    }

    /// OS process id of the running child, if any.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// True while the child exists and has not exited.
    pub(crate) fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Graceful stop: SIGTERM, then SIGKILL after `grace`. Data dirs are kept.
    pub(crate) async fn terminate(&mut self, grace: Duration) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Some(pid) = child.id() {
            // No libc in this crate: the shell's builtin `kill` sends SIGTERM
            // and is present even on images without procps.
            let sent = Command::new("sh")
                .args(["-c", "kill -TERM \"$1\"", "sh", &pid.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .await
                .is_ok_and(|status| status.success());
            if sent && tokio::time::timeout(grace, child.wait()).await.is_ok() {
                return;
            }
        }
        // Already exited, SIGTERM failed, or the grace period ran out.
        let _ = child.kill().await;
    }

    /// Abrupt stop (SIGKILL), as in a crash. Data dirs are kept.
    pub(crate) async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Last lines of the console log and the server's log files.
    pub(crate) fn log_tail(&self) -> String {
        std::iter::once(&self.spec.console_log)
            .chain(&self.spec.log_files)
            .filter_map(|path| {
                let text = std::fs::read_to_string(path).ok()?;
                let lines: Vec<&str> = text.lines().collect();
                let tail = lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n");
                Some(format!("==> {} <==\n{tail}", path.display()))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn spawn(&self) -> Result<Child> {
        let spec = &self.spec;
        let console = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&spec.console_log)
            .map_err(|e| HarnessError::io(format!("open {}", spec.console_log.display()), e))?;
        let console_err = console.try_clone().map_err(|e| HarnessError::io("duplicate console log handle", e))?;
        Command::new(&spec.program)
            .args(&spec.args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(console))
            .stderr(Stdio::from(console_err))
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| HarnessError::io(format!("spawn {}", spec.program.display()), e))
    }

    async fn wait_ready(&mut self) -> Result<()> {
        let started = Instant::now();
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(PROBE_REQUEST_TIMEOUT)
            .build()
            .map_err(|source| HarnessError::Http { url: self.spec.probe_url.clone(), source })?;
        loop {
            if let Some(status) = self.exit_status() {
                return Err(HarnessError::ExitedDuringStartup {
                    server: self.spec.name,
                    status,
                    log_tail: self.log_tail(),
                });
            }
            if self.probe_once(&client).await {
                tracing::debug!(server = self.spec.name, elapsed = ?started.elapsed(), "ready");
                return Ok(());
            }
            if started.elapsed() >= self.spec.ready_timeout {
                return Err(HarnessError::NotReady {
                    server: self.spec.name,
                    waited: started.elapsed(),
                    probe_url: self.spec.probe_url.clone(),
                    log_tail: self.log_tail(),
                });
            }
            tokio::time::sleep(PROBE_INTERVAL).await;
        }
    }

    async fn probe_once(&self, client: &reqwest::Client) -> bool {
        let Ok(response) = client.get(&self.spec.probe_url).send().await else {
            return false;
        };
        if !response.status().is_success() {
            return false;
        }
        response.text().await.is_ok_and(|body| body.contains(self.spec.probe_expect))
    }

    /// Exit status text if the child has exited (or is gone).
    fn exit_status(&mut self) -> Option<String> {
        match self.child.as_mut().map(Child::try_wait) {
            None => Some("not running".to_owned()),
            Some(Ok(None)) => None,
            Some(Ok(Some(status))) => Some(status.to_string()),
            Some(Err(e)) => Some(format!("wait failed: {e}")),
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // kill_on_drop would also SIGKILL, but reaping would then happen later in
        // the background; killing and reaping here means the pid is gone when
        // the handle is gone, which fault tests rely on.
        let _ = child.start_kill();
        let deadline = Instant::now() + DROP_REAP_LIMIT;
        while Instant::now() < deadline {
            match child.try_wait() {
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Ok(Some(_)) | Err(_) => return,
            }
        }
    }
}

/// How many times a start with freshly picked ports is tried before giving up.
const START_ATTEMPTS: usize = 3;

/// Starts a server whose spec uses freshly picked ports, retrying with new ports
/// when another process grabbed one between picking and binding.
/// `build` picks the ports and returns the spec plus whatever the caller needs
/// to remember about that attempt (the ports).
pub(crate) async fn launch_with_fresh_ports<T>(
    mut build: impl FnMut() -> Result<(ServerSpec, T)>,
) -> Result<(ServerProcess, T)> {
    let mut attempt = 1;
    loop {
        let (spec, extra) = build()?;
        match ServerProcess::launch(spec).await {
            Ok(process) => return Ok((process, extra)),
            Err(e) if e.is_address_in_use() && attempt < START_ATTEMPTS => {
                tracing::warn!(attempt, error = %e, "port taken during start; retrying");
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}
