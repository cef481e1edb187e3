//! Shared state of a running gateway: the current config (swapped on reload) and the
//! upstream HTTP client with its connection pool.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use portcullis_detection::Scanner;

use crate::audit::AuditSink;
use crate::config::{self, Config, ConfigError};
use crate::metrics::GatewayMetrics;
use crate::ml::{MlMode, MlRuntime};
use crate::policies::{self, ProjectPolicies};
use crate::upstream::UpstreamClients;

pub struct AppState {
    config: RwLock<Arc<Config>>,
    policies: RwLock<Arc<ProjectPolicies>>,
    config_path: Option<PathBuf>,
    /// Compiled once; holds the per-tenant incremental scan cache.
    pub scanner: Scanner,
    /// The upstream HTTP clients (lanes, see [`crate::upstream`]).
    pub upstream: UpstreamClients,
    pub audit: AuditSink,
    /// The ML step: detector-worker client, score cache, counters (`ml.stats`).
    pub ml: Arc<MlRuntime>,
    pub started_at: Instant,
    pub upstream_stats: UpstreamStats,
    /// Request-path metrics for `GET /metrics`.
    pub metrics: Arc<GatewayMetrics>,
}

/// Counters the health endpoint reports about the upstream, updated on every request.
#[derive(Default)]
pub struct UpstreamStats {
    pub responses: AtomicU64,
    pub failures: AtomicU64,
    /// Unix ms of the last failure to connect or to get headers in time (0 = never).
    pub last_failure_ms: AtomicU64,
}

impl UpstreamStats {
    pub fn record_failure(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        self.last_failure_ms.store(now, Ordering::Relaxed);
    }
}

impl AppState {
    /// Build the upstream client and start the audit sink (which does not wait for NATS).
    pub async fn start(config: Config, config_path: Option<PathBuf>) -> Result<AppState, String> {
        let scanner = Scanner::new().map_err(|e| format!("detection: {e}"))?;
        let policies = ProjectPolicies::compile(&config, &policies::base_dir(config_path.as_deref()))?;
        let audit = AuditSink::start(&config.audit).await.map_err(|e| format!("audit: {e}"))?;
        let metrics = Arc::new(GatewayMetrics::new(audit.publish_latency()));
        let ml = Arc::new(MlRuntime::new(config.audit.nats_url.clone()));
        let ml_projects: Vec<&str> =
            config.projects.values().filter(|p| p.ml.mode != MlMode::Off).map(|p| p.name.as_str()).collect();
        if !ml_projects.is_empty() {
            // Does not fail while NATS is down: the client keeps reconnecting and the
            // projects' on_failure setting applies meanwhile.
            ml.connect().await.map_err(|e| format!("ml: {e}"))?;
            tracing::info!(projects = ?ml_projects, "ML detection on (detector workers over NATS)");
        }
        let upstream = UpstreamClients::new(&config.upstream)?;
        Ok(AppState {
            config: RwLock::new(Arc::new(config)),
            policies: RwLock::new(Arc::new(policies)),
            config_path,
            scanner,
            upstream,
            audit,
            ml,
            started_at: Instant::now(),
            upstream_stats: UpstreamStats::default(),
            metrics,
        })
    }

    /// The config in force; a request keeps the snapshot it started with.
    pub fn config(&self) -> Arc<Config> {
        match self.config.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The compiled policies in force.
    pub fn policies(&self) -> Arc<ProjectPolicies> {
        match self.policies.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Re-read the config file (SIGHUP). Projects, keys, clients and policies take effect
    /// for the next request; `listen` and `upstream` need a restart and are kept.
    pub fn reload(&self) -> Result<(), ConfigError> {
        let mut fresh = config::load(self.config_path.as_deref())?;
        let current = self.config();
        if fresh.listen != current.listen || fresh.upstream.base_url != current.upstream.base_url {
            tracing::warn!("listen and upstream.url changes take effect only after a restart");
        }
        fresh.listen = current.listen;
        fresh.upstream = current.upstream.clone();
        if fresh.audit != current.audit {
            tracing::warn!("[audit] changes take effect only after a restart");
        }
        fresh.audit = current.audit.clone();
        // Compile before swapping anything: an invalid policy rejects the whole reload.
        let policies = ProjectPolicies::compile(&fresh, &policies::base_dir(self.config_path.as_deref()))
            .map_err(ConfigError::Invalid)?;
        match self.policies.write() {
            Ok(mut guard) => *guard = Arc::new(policies),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(policies),
        }
        match self.config.write() {
            Ok(mut guard) => *guard = Arc::new(fresh),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(fresh),
        }
        Ok(())
    }
}
