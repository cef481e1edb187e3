//! The policy on a Message Batches body: every request in it is judged on its own, as if
//! it had been sent to `/v1/messages`, and the batch gets the strictest of their
//! decisions, so no request can ride through on its neighbours.
//!
//! Each request's input is the batch's input (tenant, project, path, headers, ...) with
//! that request's facts, its `batch_index` and `custom_id`, and only its own findings; a
//! Rego rule written for Messages calls works unchanged. The reasons name the request:
//! `requests[3] "my-id": injection.instruction_override`.

use crate::error::DetectionError;
use crate::finding::Finding;
use crate::request_body::BatchRequest;

use super::{Decision, Policy, PolicyInput, Verdict};

/// Requests named in a batch verdict's reasons; the rest are counted in one more reason.
pub const MAX_BATCH_REQUESTS_NAMED: usize = 16;

impl Policy {
    /// Judges each of `requests` with its findings (those whose segment's `request_index`
    /// is its index) and combines the verdicts: the strictest decision, the reasons of
    /// the requests that reached it, every category, the highest confidence, and every
    /// acting finding (indices into `findings`).
    pub fn evaluate_batch(
        &self,
        base: &PolicyInput,
        requests: &[BatchRequest],
        findings: &[Finding],
    ) -> Result<Verdict, DetectionError> {
        let mut findings_of: Vec<Vec<usize>> = vec![Vec::new(); requests.len()];
        for (i, finding) in findings.iter().enumerate() {
            if let Some(list) = finding.segment.request_index.and_then(|r| findings_of.get_mut(r)) {
                list.push(i);
            }
        }
        let mut combined = Verdict {
            decision: Decision::Allow,
            reasons: Vec::new(),
            risk_categories: Vec::new(),
            risk_confidence: 0.0,
            acted_findings: Vec::new(),
        };
        // What every request shares with the batch, named field by field (no `..`): a field
        // added to `PolicyInput` must be placed here as shared or per request, or this does
        // not compile. The body-derived fields come from each request's facts instead.
        let PolicyInput {
            tenant,
            project,
            path,
            method,
            session_id,
            headers,
            // The scan bounds a body, not a request: this is the whole batch's count.
            findings_omitted,
            model: _,
            has_system_prompt: _,
            max_tokens: _,
            stream: _,
            tool_names: _,
            batch_index: _,
            custom_id: _,
        } = base;
        // (request index, its decision, its reasons) for every request that did not allow.
        let mut objections: Vec<(usize, Decision, Vec<String>)> = Vec::new();
        for (r, request) in requests.iter().enumerate() {
            let input = PolicyInput {
                tenant: tenant.clone(),
                project: project.clone(),
                path: path.clone(),
                method: method.clone(),
                session_id: session_id.clone(),
                headers: headers.clone(),
                findings_omitted: *findings_omitted,
                batch_index: Some(r),
                custom_id: request.custom_id.clone(),
                ..PolicyInput::from_facts(&request.facts)
            };
            let own: Vec<Finding> = findings_of[r].iter().map(|&i| findings[i].clone()).collect();
            let verdict = self.evaluate(&input, &own)?;
            for category in verdict.risk_categories {
                if !combined.risk_categories.contains(&category) {
                    combined.risk_categories.push(category);
                }
            }
            combined.risk_confidence = combined.risk_confidence.max(verdict.risk_confidence);
            combined.acted_findings.extend(verdict.acted_findings.iter().map(|&k| findings_of[r][k]));
            combined.decision = combined.decision.max(verdict.decision);
            if verdict.decision != Decision::Allow {
                objections.push((r, verdict.decision, verdict.reasons));
            }
        }
        combined.risk_categories.sort();
        combined.acted_findings.sort_unstable();
        let deciding: Vec<_> = objections.into_iter().filter(|(_, d, _)| *d == combined.decision).collect();
        for (r, _, reasons) in deciding.iter().take(MAX_BATCH_REQUESTS_NAMED) {
            let name = match &requests[*r].custom_id {
                Some(id) => format!("requests[{r}] {id:?}"),
                None => format!("requests[{r}]"),
            };
            combined.reasons.extend(reasons.iter().map(|reason| format!("{name}: {reason}")));
        }
        if let Some(more) = deciding.len().checked_sub(MAX_BATCH_REQUESTS_NAMED).filter(|n| *n > 0) {
            combined.reasons.push(format!("and {more} more requests"));
        }
        Ok(combined)
    }
}
