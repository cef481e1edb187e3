//! The per-project policy configuration (deserialized from the gateway config).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::finding::Category;

/// A project's policy. Example (TOML):
///
/// ```toml
/// template = "balanced"
/// rego_files = ["policies/models.rego"]
/// [detectors."pii.email"]
/// action = "log"
/// [detectors.prompt_injection]
/// level = "L3"
/// ```
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    pub template: Template,
    /// Overrides keyed by detector id (`secret.jwt`) or category name (`pii`,
    /// `secret`, `prompt_injection`, `jailbreak`). A detector override wins over its
    /// category's override, which wins over the template.
    pub detectors: BTreeMap<String, DetectorOverride>,
    /// Rego modules, relative to the base directory given to `Policy::compile`.
    pub rego_files: Vec<PathBuf>,
    /// An inline Rego module.
    pub rego: Option<String>,
}

/// A starting point for every detector's level and action.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Template {
    /// L4 (every finding); block secrets, injection, jailbreak; alert on PII.
    Strict,
    /// L2 (confidence ≥ 0.75); block secrets, injection, jailbreak; alert on PII.
    #[default]
    Balanced,
    /// L1 (confidence ≥ 0.9); alert only.
    Permissive,
}

/// Threshold level: which findings act, by confidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
pub enum Level {
    /// Only the highest-confidence findings: confidence ≥ 0.9.
    #[serde(alias = "l1")]
    L1,
    /// confidence ≥ 0.75.
    #[serde(alias = "l2")]
    L2,
    /// confidence ≥ 0.5.
    #[serde(alias = "l3")]
    L3,
    /// Every finding.
    #[serde(alias = "l4")]
    L4,
}

impl Level {
    /// Minimum confidence for a finding to act at this level.
    pub fn threshold(self) -> f32 {
        match self {
            Level::L1 => 0.9,
            Level::L2 => 0.75,
            Level::L3 => 0.5,
            Level::L4 => 0.0,
        }
    }
}

/// What an acting finding does to the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Reject the request (HTTP 403, no upstream call).
    Block,
    /// Forward, but flag the request.
    Alert,
    /// Forward; the finding is only recorded.
    Log,
}

/// Per-detector (or per-category) override; unset fields fall through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorOverride {
    pub enabled: Option<bool>,
    pub level: Option<Level>,
    pub action: Option<Action>,
}

/// The resolved rule for one detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DetectorRule {
    pub enabled: bool,
    pub level: Level,
    pub action: Action,
}

impl Template {
    /// The template's rule for a category.
    pub fn rule(self, category: Category) -> DetectorRule {
        let severe = !matches!(category, Category::Pii);
        let (level, action) = match self {
            Template::Strict => (Level::L4, if severe { Action::Block } else { Action::Alert }),
            Template::Balanced => (Level::L2, if severe { Action::Block } else { Action::Alert }),
            Template::Permissive => (Level::L1, Action::Alert),
        };
        DetectorRule { enabled: true, level, action }
    }
}

impl DetectorOverride {
    pub(crate) fn apply(&self, rule: &mut DetectorRule) {
        if let Some(e) = self.enabled {
            rule.enabled = e;
        }
        if let Some(l) = self.level {
            rule.level = l;
        }
        if let Some(a) = self.action {
            rule.action = a;
        }
    }
}
