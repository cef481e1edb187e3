//! The one error type of the harness. Every failure says what to do next
//! (install a package, read a log tail) because a test failure is often the
//! first thing a new contributor sees.

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong while starting or driving a test server.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// A server binary is not installed. Tests fail loudly instead of skipping.
    #[error("{binary} not found: run scripts/install-deps.sh (Debian package {package})")]
    BinaryNotFound {
        /// Program name looked up on PATH, /usr/sbin and /usr/bin.
        binary: &'static str,
        /// Debian package that provides it.
        package: &'static str,
    },

    /// A filesystem or process operation failed.
    #[error("{action}: {source}")]
    Io {
        /// What the harness was doing, e.g. "spawn nats-server".
        action: String,
        /// The underlying OS error.
        #[source]
        source: std::io::Error,
    },

    /// The server process exited before it answered its readiness probe.
    #[error("{server} exited during startup ({status}); log tail:\n{log_tail}")]
    ExitedDuringStartup {
        /// Server name, e.g. "nats-server".
        server: &'static str,
        /// Exit status as printed by the OS.
        status: String,
        /// Last lines of the server's log files.
        log_tail: String,
    },

    /// The server kept running but never answered its readiness probe.
    #[error("{server} not ready after {waited:?} (probe {probe_url}); log tail:\n{log_tail}")]
    NotReady {
        /// Server name, e.g. "clickhouse-server".
        server: &'static str,
        /// How long the harness waited.
        waited: Duration,
        /// URL that was polled.
        probe_url: String,
        /// Last lines of the server's log files.
        log_tail: String,
    },

    /// An HTTP request to a test server failed at the transport level.
    #[error("HTTP request to {url} failed: {source}")]
    Http {
        /// Target URL.
        url: String,
        /// The reqwest error.
        #[source]
        source: reqwest::Error,
    },

    /// ClickHouse answered a query with a non-200 status.
    #[error("ClickHouse query failed with HTTP {status}: {body}")]
    Query {
        /// HTTP status code.
        status: u16,
        /// Response body (ClickHouse puts the exception text there).
        body: String,
    },

    /// The Python venv with the pinned `anthropic` SDK is missing.
    #[error(
        "python venv interpreter not found at {}: run scripts/install-deps.sh \
         (creates .venv with scripts/python/requirements.txt) or set PORTCULLIS_TEST_VENV",
        path.display()
    )]
    PythonVenvMissing {
        /// Interpreter path that was expected.
        path: PathBuf,
    },
}

impl HarnessError {
    /// Wraps an I/O error with a description of the action that failed.
    pub(crate) fn io(action: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io { action: action.into(), source }
    }

    /// True when a failed start was caused by a port that another process grabbed
    /// between our probe bind and the server's bind; such starts are retried.
    pub(crate) fn is_address_in_use(&self) -> bool {
        match self {
            Self::ExitedDuringStartup { log_tail, .. } | Self::NotReady { log_tail, .. } => {
                log_tail.to_ascii_lowercase().contains("address already in use")
            }
            _ => false,
        }
    }
}

/// Result alias used across the harness.
pub type Result<T, E = HarnessError> = std::result::Result<T, E>;
