//! Per-project compiled policies and the Rego file watchers that hot-reload them.
//!
//! Built from the config at startup and rebuilt on SIGHUP; a config whose policies do
//! not compile is rejected as a whole and the previous policies keep serving.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use portcullis_detection::{Policy, PolicyHandle, RegoWatcher, spawn_rego_watcher};

use crate::config::Config;

/// How often Rego files are checked for changes.
const REGO_POLL: Duration = Duration::from_secs(1);

pub struct ProjectPolicies {
    by_project: HashMap<String, PolicyHandle>,
    /// Stopped on drop, when a reload replaces this set.
    _watchers: Vec<RegoWatcher>,
}

impl ProjectPolicies {
    pub fn compile(config: &Config, base_dir: &Path) -> Result<ProjectPolicies, String> {
        let mut by_project = HashMap::new();
        let mut watchers = Vec::new();
        for project in config.projects.values() {
            let policy = Policy::compile(&project.policy, base_dir)
                .map_err(|e| format!("projects.{}.policy: {e}", project.name))?;
            let handle = PolicyHandle::new(policy);
            if !project.policy.rego_files.is_empty() {
                let watcher =
                    spawn_rego_watcher(handle.clone(), project.policy.clone(), PathBuf::from(base_dir), REGO_POLL)
                        .map_err(|e| format!("projects.{}.policy: {e}", project.name))?;
                watchers.push(watcher);
            }
            by_project.insert(project.name.clone(), handle);
        }
        Ok(ProjectPolicies { by_project, _watchers: watchers })
    }

    pub fn get(&self, project: &str) -> Option<&PolicyHandle> {
        self.by_project.get(project)
    }
}

/// Rego file paths are relative to the config file's directory (or the working
/// directory without a config file).
pub fn base_dir(config_path: Option<&Path>) -> PathBuf {
    config_path
        .and_then(Path::parent)
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}
