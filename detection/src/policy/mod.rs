//! The per-project policy: template, per-detector overrides, custom Rego rules, and the
//! decision for a request.

mod batch;
mod config;
mod input;
mod rego;
mod reload;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use batch::MAX_BATCH_REQUESTS_NAMED;
pub use config::{Action, DetectorOverride, DetectorRule, Level, PolicyConfig, Template};
pub use input::PolicyInput;
pub use reload::{PolicyHandle, RegoWatcher, spawn_rego_watcher};

use crate::catalogue;
use crate::error::DetectionError;
use crate::finding::{Category, Finding};
use rego::RegoRules;

/// Detectors that run outside this crate but are judged by the same policy: the
/// gateway's ML classifier. Their ids are valid override keys and get rules like the
/// catalogue's detectors.
pub const EXTERNAL_DETECTORS: [(&str, Category); 1] = [(ML_INJECTION_ID, Category::PromptInjection)];

/// Detector id of the ML prompt-injection classifier (detector workers); its findings'
/// confidence is the model's injection score.
pub const ML_INJECTION_ID: &str = "ml.injection";

/// The outcome for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Allow,
    Alert,
    Block,
}

impl Decision {
    /// `allow`, `alert` or `block`.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Alert => "alert",
            Decision::Block => "block",
        }
    }
}

/// The policy's verdict on one request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub decision: Decision,
    /// Why, for the final decision only (a block lists what blocked; an alert what
    /// alerted): detector ids, deduplicated, in finding order, then Rego reasons
    /// (`rego:<package>.<rule>` or `rego:<package>.<rule>: <message>`). Empty for allow.
    pub reasons: Vec<String>,
    /// Categories of all findings from enabled detectors (acting or not), sorted, unique.
    /// Feeds `X-Risk-Categories`.
    pub risk_categories: Vec<Category>,
    /// Highest confidence among those findings; 1.0 if a Rego rule denied; 0.0 if nothing.
    /// Feeds `X-Risk-Confidence`.
    pub risk_confidence: f32,
    /// Indices (into the `findings` slice given to `evaluate`) of findings that acted
    /// (action block or alert, at or above their level's confidence threshold).
    pub acted_findings: Vec<usize>,
}

impl Verdict {
    /// `X-Risk-Categories` value: comma-separated category names (empty if none).
    pub fn categories_header(&self) -> String {
        self.risk_categories.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(",")
    }

    /// `X-Risk-Confidence` value: `0.00`–`1.00`.
    pub fn confidence_header(&self) -> String {
        format!("{:.2}", self.risk_confidence.clamp(0.0, 1.0))
    }
}

/// A compiled policy. Cheap to share (`Arc`); `evaluate` takes `&self`.
pub struct Policy {
    template: Template,
    by_detector: HashMap<String, DetectorRule>,
    by_category: HashMap<Category, DetectorRule>,
    rego: Option<RegoRules>,
    rego_paths: Vec<PathBuf>,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("template", &self.template)
            .field("rego_rules", &self.rego.as_ref().map_or(0, RegoRules::rule_count))
            .field("rego_files", &self.rego_paths)
            .finish_non_exhaustive()
    }
}

impl Policy {
    /// Resolves the template and overrides and compiles the Rego modules (`rego_files`
    /// relative to `base_dir`, plus the inline `rego`). Fails on an override key that is
    /// neither a detector id nor a category name, an unreadable file or invalid Rego.
    pub fn compile(cfg: &PolicyConfig, base_dir: &Path) -> Result<Policy, DetectionError> {
        let defs = catalogue::detectors();
        let mut by_category: HashMap<Category, DetectorRule> =
            Category::ALL.into_iter().map(|c| (c, cfg.template.rule(c))).collect();
        for (key, ov) in &cfg.detectors {
            if let Some(cat) = Category::from_name(key) {
                if let Some(rule) = by_category.get_mut(&cat) {
                    ov.apply(rule);
                }
            } else if !defs.iter().any(|d| d.id == key) && !EXTERNAL_DETECTORS.iter().any(|(id, _)| id == key) {
                return Err(DetectionError::Config(format!(
                    "override key {key:?} is neither a detector id nor a category (pii, secret, prompt_injection, jailbreak)"
                )));
            }
        }
        let mut by_detector = HashMap::new();
        let ids = defs.iter().map(|d| (d.id, d.category)).chain(EXTERNAL_DETECTORS);
        for (id, category) in ids {
            let mut rule = by_category.get(&category).copied().unwrap_or(cfg.template.rule(category));
            if let Some(ov) = cfg.detectors.get(id) {
                ov.apply(&mut rule);
            }
            by_detector.insert(id.to_owned(), rule);
        }
        let mut files: Vec<&Path> = Vec::new();
        for f in &cfg.rego_files {
            if !files.contains(&f.as_path()) {
                files.push(f.as_path());
            }
        }
        let rego = RegoRules::compile(&files, base_dir, cfg.rego.as_deref())?;
        let rego_paths = files.iter().map(|f| base_dir.join(f)).collect();
        Ok(Policy { template: cfg.template, by_detector, by_category, rego, rego_paths })
    }

    /// The rule a finding from `detector_id` (of `category`) is judged by. Unknown ids
    /// (e.g. detectors outside this crate) fall back to the category's rule.
    pub fn rule_for(&self, detector_id: &str, category: Category) -> DetectorRule {
        self.by_detector
            .get(detector_id)
            .or_else(|| self.by_category.get(&category))
            .copied()
            .unwrap_or_else(|| self.template.rule(category))
    }

    /// The Rego files this policy was compiled from (absolute or base-relative as given).
    pub fn rego_files(&self) -> &[PathBuf] {
        &self.rego_paths
    }

    /// Decides on a request from its findings and, if configured, the Rego rules.
    /// An error means a Rego rule failed to evaluate; the caller chooses to fail open or
    /// closed.
    pub fn evaluate(&self, input: &PolicyInput, findings: &[Finding]) -> Result<Verdict, DetectionError> {
        let mut decision = Decision::Allow;
        let mut block_reasons: Vec<String> = Vec::new();
        let mut alert_reasons: Vec<String> = Vec::new();
        let mut categories: Vec<Category> = Vec::new();
        let mut confidence: f32 = 0.0;
        let mut acted = Vec::new();
        for (i, f) in findings.iter().enumerate() {
            let rule = self.rule_for(f.detector_id, f.category);
            if !rule.enabled {
                continue;
            }
            if !categories.contains(&f.category) {
                categories.push(f.category);
            }
            confidence = confidence.max(f.confidence);
            if f.confidence < rule.level.threshold() {
                continue;
            }
            let (d, reasons) = match rule.action {
                Action::Block => (Decision::Block, &mut block_reasons),
                Action::Alert => (Decision::Alert, &mut alert_reasons),
                Action::Log => continue,
            };
            decision = decision.max(d);
            acted.push(i);
            if !reasons.iter().any(|r| r == f.detector_id) {
                reasons.push(f.detector_id.to_owned());
            }
        }
        if let Some(rego) = &self.rego {
            let outcome = rego.evaluate(input.to_rego(findings))?;
            if !outcome.deny.is_empty() {
                decision = Decision::Block;
                confidence = 1.0;
            } else if !outcome.alert.is_empty() {
                decision = decision.max(Decision::Alert);
            }
            block_reasons.extend(outcome.deny);
            alert_reasons.extend(outcome.alert);
        }
        categories.sort();
        let reasons = match decision {
            Decision::Block => block_reasons,
            Decision::Alert => alert_reasons,
            Decision::Allow => Vec::new(),
        };
        Ok(Verdict {
            decision,
            reasons,
            risk_categories: categories,
            risk_confidence: confidence,
            acted_findings: acted,
        })
    }
}
