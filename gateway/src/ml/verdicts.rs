//! Classifier verdicts as the policy and the audit trail see them: `ml.injection`
//! findings (category `prompt_injection`, confidence = score) and [`MlVerdict`]s.

use portcullis_detection::{Action, Category, Finding, ML_INJECTION_ID, Policy, Transform};
use portcullis_schemas::MlVerdict;

use super::SegmentVerdict;
use super::config::MlConfig;
use crate::inspect::provenance;

/// Whether a verdict is an ML finding: the project's threshold if set, else the
/// worker's own decision (the model card's threshold).
pub fn is_finding(verdict: &SegmentVerdict, cfg: &MlConfig) -> bool {
    match cfg.threshold {
        Some(threshold) => verdict.score >= threshold,
        None => verdict.flagged,
    }
}

/// `ml.injection` findings for the policy; the span is the whole segment and the
/// rendering never holds its text.
pub fn findings(verdicts: &[SegmentVerdict], cfg: &MlConfig) -> Vec<Finding> {
    verdicts
        .iter()
        .filter(|v| is_finding(v, cfg))
        .map(|v| Finding {
            detector_id: ML_INJECTION_ID,
            category: Category::PromptInjection,
            confidence: v.score.clamp(0.0, 1.0),
            segment: v.origin.clone(),
            span: 0..v.text_len,
            redacted: format!("[REDACTED {} bytes]", v.text_len),
            transform: Transform::None,
        })
        .collect()
}

/// The verdicts an event records: every segment classified for this request, and
/// the findings among those answered from the cache (a resent benign prefix is not
/// listed again on every turn; a resent injection is).
pub fn event_verdicts(verdicts: &[SegmentVerdict], cfg: &MlConfig) -> Vec<MlVerdict> {
    verdicts
        .iter()
        .filter(|v| !v.cached || is_finding(v, cfg))
        .map(|v| MlVerdict {
            segment: provenance(&v.origin),
            label: v.label.to_string(),
            score: v.score,
            model_id: v.model.id.clone(),
            model_version: v.model.version.clone(),
        })
        .collect()
}

/// Whether an ML finding acts under `policy` (enabled, at or above its level,
/// action block or alert): what an alert-mode follow-up reports as an alert.
pub fn acts(policy: &Policy, finding: &Finding) -> bool {
    let rule = policy.rule_for(finding.detector_id, finding.category);
    rule.enabled && finding.confidence >= rule.level.threshold() && rule.action != Action::Log
}
