//! `GET /dashboard/api/live`: server-sent events fed by a core-NATS subscription to
//! `<audit.live_subject_prefix>.>`, the fire-and-forget copy the audit publisher sends
//! of every event. Each browser gets its own subscription (NATS does the fan-out) and
//! it ends when the browser goes away, or when the gateway shuts down ([`close_streams`]:
//! an open dashboard tab must not hold the graceful drain for its full timeout). Only the
//! columns the live table shows are sent: no captured content ever leaves through this stream.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::{Stream, StreamExt};
use portcullis_schemas::SecurityEvent;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::Dashboard;
use crate::error::GatewayError;
use crate::state::AppState;

/// How long opening the feed waits for the server to confirm the subscription.
const SUBSCRIPTION_CONFIRM_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// One "closing" switch per gateway (keyed by its state's address), so a process running
/// several gateways (tests) closes only the streams of the one shutting down.
static CLOSING: Mutex<Vec<(usize, watch::Sender<bool>)>> = Mutex::new(Vec::new());

fn key(app: &Arc<AppState>) -> usize {
    Arc::as_ptr(app) as usize
}

/// The switch the live streams of `app` watch (created on first use).
pub(super) fn closing_switch(app: &Arc<AppState>) -> watch::Receiver<bool> {
    let mut switches = CLOSING.lock().unwrap_or_else(|p| p.into_inner());
    // Forget switches nobody watches any more (their dashboard is gone).
    switches.retain(|(_, tx)| tx.receiver_count() > 0);
    if let Some((_, tx)) = switches.iter().find(|(k, _)| *k == key(app)) {
        return tx.subscribe();
    }
    let (tx, rx) = watch::channel(false);
    switches.push((key(app), tx));
    rx
}

/// End every live stream of this gateway: called when it starts shutting down.
pub fn close_streams(app: &Arc<AppState>) {
    let switches = CLOSING.lock().unwrap_or_else(|p| p.into_inner());
    for (_, tx) in switches.iter().filter(|(k, _)| *k == key(app)) {
        let _ = tx.send(true);
    }
}

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
    // `subscribe` (and `flush`) return once the SUB is written, not once the server has
    // read it; an event published meanwhile on the audit connection would be missed. The
    // barrier's echo proves the server holds the subscription before `ready` goes out.
    portcullis_schemas::nats::server_has_subscriptions(client, SUBSCRIPTION_CONFIRM_WAIT)
        .await
        .map_err(|e| GatewayError::Unavailable(format!("cannot subscribe to live events: {e}")))?;
    // Sent once the server holds the subscription, so the page (and the browser test)
    // knows that from now on no event is missed.
    let ready = futures_util::stream::once(async { Ok(Event::default().event("ready").data("{}")) });
    let events = subscription.filter_map(|message| async move {
        let event = serde_json::from_slice::<SecurityEvent>(&message.payload).ok()?;
        Some(Ok(Event::default().event("event").data(live_row(&event).to_string())))
    });
    let mut closing = dashboard.closing.clone();
    let closed = async move {
        let _ = closing.wait_for(|closing| *closing).await;
    };
    Ok(Sse::new(ready.chain(events).take_until(closed)).keep_alive(KeepAlive::default()))
}
