//! Alert mode: the request is forwarded at once and the classification runs in a
//! background task; its outcome becomes a follow-up event
//! ([`EventKind::FollowUpDetection`], `related_event_id` = the request's event)
//! handed to the same [`AuditSink`], so it reaches JetStream, ClickHouse and the
//! live subject like any other event.
//!
//! The follow-up lists the verdicts of the segments classified for it and the
//! `ml.injection` findings among them; its decision is `alert` when one of those
//! acts under the project's policy (ML never blocks in alert mode: the request is
//! already on its way). Without a verdict it records `ml.unavailable:<reason>`.
//! A request whose segments were all classified before gets no follow-up.

use std::sync::Arc;

use portcullis_detection::{ML_INJECTION_ID, PolicyHandle};
use portcullis_schemas::{Decision, EventKind, SecurityEvent};

use super::config::MlConfig;
use super::{MlPlan, MlRuntime, verdicts};
use crate::audit::AuditSink;
use crate::inspect::event_findings;
use crate::record::now_ms;

/// A new event linked to `original`, carrying who and what it was about.
pub fn linked_event(original: &SecurityEvent) -> SecurityEvent {
    let mut event = SecurityEvent::new_request(now_ms(), original.tenant.clone(), original.project.clone());
    event.kind = EventKind::FollowUpDetection;
    event.related_event_id = Some(original.event_id);
    event.client_id = original.client_id.clone();
    event.session_id = original.session_id.clone();
    event.path = original.path.clone();
    event.method = original.method.clone();
    event.model = original.model.clone();
    event.user_agent = original.user_agent.clone();
    event
}

/// What the background task needs besides the plan.
pub struct FollowUp {
    pub runtime: Arc<MlRuntime>,
    pub cfg: MlConfig,
    pub policy: PolicyHandle,
    pub sink: AuditSink,
}

impl FollowUp {
    /// Classifies `plan` in the background and records the follow-up event for
    /// `original`. Returns at once.
    pub fn spawn(self, plan: MlPlan, original: &SecurityEvent) {
        let mut event = linked_event(original);
        let request_id = original.event_id;
        tokio::spawn(async move {
            let FollowUp { runtime, cfg, policy, sink } = self;
            let tenant = event.tenant.clone();
            match runtime.complete(plan, &tenant, request_id, cfg.timeout).await {
                Ok(found) => {
                    let findings = verdicts::findings(&found, &cfg);
                    runtime.stats.flagged(findings.len());
                    let policy = policy.current();
                    if findings.iter().any(|f| verdicts::acts(&policy, f)) {
                        event.decision = Decision::Alert;
                        event.reasons.push(ML_INJECTION_ID.to_owned());
                    }
                    event.findings = event_findings(&findings);
                    event.ml_verdicts = verdicts::event_verdicts(&found, &cfg);
                }
                Err(error) => event.reasons.push(format!("ml.unavailable:{}", error.reason())),
            }
            event.ts_ms = now_ms();
            runtime.stats.follow_up();
            let event_id = event.event_id;
            if let Err(rejected) = sink.record(event) {
                tracing::warn!(%event_id, reason = rejected.reason, "ML follow-up event refused");
            }
        });
    }
}
