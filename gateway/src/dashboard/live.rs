//! `GET /dashboard/api/live`: server-sent events fed by a core-NATS subscription to
//! `<audit.live_subject_prefix>.>`, the fire-and-forget copy the audit publisher sends
//! of every event. Each browser gets its own subscription (NATS does the fan-out) and
//! it ends when the browser goes away. Only the columns the live table shows are sent:
//! no captured content ever leaves through this stream.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::{Stream, StreamExt};
use portcullis_schemas::SecurityEvent;
use serde_json::{Value, json};

use super::Dashboard;
use crate::error::GatewayError;

/// What one live row shows.
pub fn live_row(event: &SecurityEvent) -> Value {
    json!({
        "id": event.event_id.to_string(),
        "kind": event.kind.as_str(),
        "ts_ms": event.ts_ms,
        "tenant": event.tenant,
        "project": event.project,
        "session_id": event.session_id,
        "path": event.path,
        "model": event.model,
        "decision": event.decision.as_str(),
        "detectors": event.findings.iter().map(|f| f.detector_id.as_str()).collect::<Vec<_>>(),
        "input_tokens": event.input_tokens,
        "output_tokens": event.output_tokens,
        "latency_total_ms": event.latency_total_ms,
        "gateway_status": event.gateway_status,
    })
}

pub async fn live(
    State(dashboard): State<Arc<Dashboard>>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, GatewayError> {
    let config = dashboard.app.config();
    let client = dashboard.nats(&config).await?;
    let subject = format!("{}.>", config.audit.live_subject_prefix);
    let subscription = client
        .subscribe(subject)
        .await
        .map_err(|e| GatewayError::Unavailable(format!("cannot subscribe to live events: {e}")))?;
    // Sent once the subscription exists, so the page (and the browser test) knows that
    // from now on no event is missed.
    let ready = futures_util::stream::once(async { Ok(Event::default().event("ready").data("{}")) });
    let events = subscription.filter_map(|message| async move {
        let event = serde_json::from_slice::<SecurityEvent>(&message.payload).ok()?;
        Some(Ok(Event::default().event("event").data(live_row(&event).to_string())))
    });
    Ok(Sse::new(ready.chain(events)).keep_alive(KeepAlive::default()))
}
