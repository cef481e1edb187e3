//! `GET /health`: liveness plus the state of each dependency the gateway uses.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;

use crate::state::AppState;

pub async fn health(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    let config = state.config();
    let stats = &state.upstream_stats;
    let last_failure = stats.last_failure_ms.load(Ordering::Relaxed);
    let audit = state.audit.health();
    // Serving continues while the audit path spools, so the gateway stays "healthy";
    // a full spool in reject mode refuses requests, which is "degraded".
    let refusing = audit.spool_full && config.audit.spool_full == crate::audit::SpoolFullMode::Reject;
    // Without NATS, a fail_closed ML project refuses its requests too.
    let ml = state.ml.health(&config);
    let refusing =
        refusing || (ml.status == "disconnected" && ml.projects.iter().any(|p| p.fail_closed && p.mode == "block"));
    Json(serde_json::json!({
        "status": if refusing { "degraded" } else { "healthy" },
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_s": state.started_at.elapsed().as_secs(),
        "dependencies": {
            "upstream": {
                "url": config.upstream.base_url,
                "responses": stats.responses.load(Ordering::Relaxed),
                "failures": stats.failures.load(Ordering::Relaxed),
                "last_failure_unix_ms": if last_failure == 0 { serde_json::Value::Null } else { last_failure.into() },
                "in_flight": state.upstream.in_flight(),
                "lanes": state.upstream.lanes(),
            },
            "audit": audit,
            "detection": {
                "status": "ok",
                "signature_detectors": state.scanner.catalogue().len(),
            },
            "ml": ml,
        },
        "projects": config.projects.len(),
    }))
}
