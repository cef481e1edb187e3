//! Hot reload: a swappable current policy and a polling watcher for Rego files.
//!
//! The watcher is a plain `std::thread` (runtime-agnostic) that polls the modification
//! time and size of each Rego file. On a change it recompiles the whole policy; if that
//! fails (unreadable file, invalid Rego) it logs one `tracing::error!` line naming the file
//! and the parse error and keeps serving the previous policy. It retries only when the
//! files change again.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use super::{Policy, PolicyConfig};
use crate::error::DetectionError;

/// The policy currently in force; clones share it. Readers take an `Arc<Policy>` snapshot
/// per request, so a swap never disturbs a request in flight.
#[derive(Clone)]
pub struct PolicyHandle {
    inner: Arc<RwLock<Arc<Policy>>>,
}

impl std::fmt::Debug for PolicyHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PolicyHandle").field(&self.current()).finish()
    }
}

impl PolicyHandle {
    pub fn new(policy: Policy) -> PolicyHandle {
        PolicyHandle { inner: Arc::new(RwLock::new(Arc::new(policy))) }
    }

    /// The policy in force now.
    pub fn current(&self) -> Arc<Policy> {
        // A poisoned lock still holds a complete Arc: keep serving it.
        self.inner.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Replaces the policy.
    pub fn replace(&self, policy: Policy) {
        *self.inner.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(policy);
    }

    /// Recompiles from `cfg` and swaps it in; on error logs it and keeps the previous policy
    /// (e.g. on SIGHUP).
    pub fn reload(&self, cfg: &PolicyConfig, base_dir: &std::path::Path) -> Result<(), DetectionError> {
        match Policy::compile(cfg, base_dir) {
            Ok(policy) => {
                self.replace(policy);
                tracing::info!(files = ?cfg.rego_files, "policy reloaded");
                Ok(())
            }
            Err(error) => {
                let file = match &error {
                    DetectionError::RegoRead { path, .. } => path.display().to_string(),
                    DetectionError::RegoCompile { origin, .. } => origin.clone(),
                    _ => String::from("<config>"),
                };
                tracing::error!(%file, %error, "policy reload rejected; previous policy stays in force");
                Err(error)
            }
        }
    }
}

/// A running Rego file watcher; stops (and joins) on drop or `stop()`.
#[derive(Debug)]
pub struct RegoWatcher {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RegoWatcher {
    /// Stops polling and waits for the thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

impl Drop for RegoWatcher {
    fn drop(&mut self) {
        self.shutdown();
    }
}

type Fingerprint = Vec<Option<(SystemTime, u64)>>;

fn fingerprint(paths: &[PathBuf]) -> Fingerprint {
    paths
        .iter()
        .map(|p| std::fs::metadata(p).ok().map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len())))
        .collect()
}

/// Starts a thread that polls `cfg.rego_files` (relative to `base_dir`) every
/// `poll_interval` and reloads `handle` when one changes. If the config changes (e.g. new
/// files on SIGHUP), stop this watcher and spawn a new one.
pub fn spawn_rego_watcher(
    handle: PolicyHandle,
    cfg: PolicyConfig,
    base_dir: PathBuf,
    poll_interval: Duration,
) -> Result<RegoWatcher, DetectionError> {
    let stop = Arc::new(AtomicBool::new(false));
    let paths: Vec<PathBuf> = cfg.rego_files.iter().map(|f| base_dir.join(f)).collect();
    let stop_flag = stop.clone();
    // Taken before the thread starts, so a change made right after spawning is seen.
    let mut seen = fingerprint(&paths);
    let thread = std::thread::Builder::new()
        .name("rego-watcher".into())
        .spawn(move || {
            while !stop_flag.load(Ordering::Acquire) {
                std::thread::park_timeout(poll_interval);
                if stop_flag.load(Ordering::Acquire) {
                    break;
                }
                let now = fingerprint(&paths);
                if now != seen {
                    seen = now;
                    let _ = handle.reload(&cfg, &base_dir);
                }
            }
        })
        .map_err(DetectionError::Watcher)?;
    Ok(RegoWatcher { stop, thread: Some(thread) })
}
