//! `GET /dashboard/api/logs`, `/api/sessions` and `/api/events/{id}`: the audit trail
//! from ClickHouse. `audit_events` is a ReplacingMergeTree, so every read uses `FINAL`
//! (a redelivered event would otherwise be counted twice until the next merge).

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use serde_json::{Value, json};
use uuid::Uuid;

use super::Dashboard;
use super::clickhouse::quote;
use super::filters::{Filter, RawFilter};
use crate::error::GatewayError;

const LIST_COLUMNS: &str = "toString(event_id) AS id, ts_ms, tenant, project, session_id, path, method, model, \
     toString(decision) AS decision, reasons, finding_detector_id AS detectors, input_tokens, output_tokens, \
     latency_total_ms, upstream_ms, overhead_us, gateway_status";

pub fn parse_filter(query: Result<Query<RawFilter>, QueryRejection>) -> Result<Filter, GatewayError> {
    let Query(raw) = query.map_err(|e| GatewayError::BadRequest(format!("invalid filter: {}", e.body_text())))?;
    Filter::parse(raw, now_secs())
}

fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Matching request events, newest first.
pub async fn list(
    State(dashboard): State<Arc<Dashboard>>,
    query: Result<Query<RawFilter>, QueryRejection>,
) -> Result<Json<Value>, GatewayError> {
    let filter = parse_filter(query)?;
    let sql = format!(
        "SELECT {LIST_COLUMNS} FROM audit_events FINAL WHERE {} ORDER BY ts_ms DESC LIMIT {}",
        filter.where_sql(),
        filter.limit
    );
    Ok(Json(json!({ "events": dashboard.select(&sql).await?, "limit": filter.limit })))
}

/// Matching events grouped by session (all turns of one Claude Code conversation).
pub async fn sessions(
    State(dashboard): State<Arc<Dashboard>>,
    query: Result<Query<RawFilter>, QueryRejection>,
) -> Result<Json<Value>, GatewayError> {
    let filter = parse_filter(query)?;
    let sql = format!(
        "SELECT session_id, tenant, project, min(ts_ms) AS first_ms, max(ts_ms) AS last_ms, count() AS requests, \
         sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, \
         countIf(decision = 'block') AS blocked, countIf(decision = 'alert') AS alerted, groupUniqArray(model) AS models \
         FROM audit_events FINAL WHERE {} AND session_id != '' \
         GROUP BY session_id, tenant, project ORDER BY last_ms DESC LIMIT {}",
        filter.where_sql(),
        filter.limit
    );
    Ok(Json(json!({ "sessions": dashboard.select(&sql).await?, "limit": filter.limit })))
}

/// One event with its findings, ML verdicts (its own and follow-up detections),
/// token counts, latency breakdown and the redacted conversation if captured.
pub async fn detail(
    State(dashboard): State<Arc<Dashboard>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, GatewayError> {
    let id = Uuid::parse_str(&id).map_err(|_| GatewayError::BadRequest("event id must be a UUID".to_owned()))?;
    let id_sql = format!("toUUID({})", quote(&id.to_string()));
    let sql = format!(
        "SELECT *, toString(event_id) AS id, toString(decision) AS decision_name, toString(kind) AS kind_name \
         FROM audit_events FINAL WHERE event_id = {id_sql} OR related_event_id = {id_sql} ORDER BY ts_ms"
    );
    let rows = dashboard.select(&sql).await?;
    let Some(event) = rows.iter().find(|r| r["id"] == id.to_string()) else {
        return Err(GatewayError::NotFound { method: "GET".to_owned(), path: format!("/dashboard/api/events/{id}") });
    };
    let mut findings = findings_of(event);
    let mut verdicts = verdicts_of(event);
    for follow_up in rows.iter().filter(|r| r["id"] != id.to_string()) {
        findings.extend(findings_of(follow_up));
        verdicts.extend(verdicts_of(follow_up));
    }
    let content = event["content_json"].as_str().and_then(|text| serde_json::from_str::<Value>(text).ok());
    let total = event["latency_total_ms"].as_u64().unwrap_or(0);
    let upstream = event["upstream_ms"].as_u64();
    let overhead_us = event["overhead_us"].as_u64().unwrap_or(0);
    let pick = |names: &[&str]| -> Value {
        names.iter().map(|n| ((*n).to_owned(), event[*n].clone())).collect::<serde_json::Map<_, _>>().into()
    };
    Ok(Json(json!({
        "event": pick(&["id", "ts_ms", "tenant", "project", "client_id", "session_id", "path", "method", "model",
            "stream", "max_tokens", "tool_count", "has_system_prompt", "stop_reason", "upstream_status",
            "gateway_status", "reasons", "user_agent", "bytes_in", "bytes_out"]),
        "decision": event["decision_name"],
        "tokens": pick(&["input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"]),
        "latency": {
            "total_ms": total,
            "upstream_ms": upstream,
            "gateway_overhead_us": overhead_us,
            // Time not spent waiting for the upstream: inspection, relaying, client speed.
            "outside_upstream_ms": upstream.map(|u| total.saturating_sub(u)),
        },
        "findings": findings,
        "ml_verdicts": verdicts,
        "content": content,
    })))
}

/// Zip the parallel `finding_*` arrays back into objects.
fn findings_of(row: &Value) -> Vec<Value> {
    let column = |name: &str| row[name].as_array().cloned().unwrap_or_default();
    let detector = column("finding_detector_id");
    let (category, confidence, source, role, message, block, redacted, request) = (
        column("finding_category"),
        column("finding_confidence"),
        column("finding_source"),
        column("finding_role"),
        column("finding_message_index"),
        column("finding_block_index"),
        column("finding_redacted"),
        column("finding_request_index"),
    );
    let at = |values: &[Value], i: usize| values.get(i).cloned().unwrap_or(Value::Null);
    (0..detector.len())
        .map(|i| {
            json!({
                "detector": at(&detector, i), "category": at(&category, i), "confidence": at(&confidence, i),
                "source": at(&source, i), "role": at(&role, i), "message_index": at(&message, i),
                "block_index": at(&block, i), "redacted": at(&redacted, i), "request_index": request_index(&request, i),
            })
        })
        .collect()
}

fn verdicts_of(row: &Value) -> Vec<Value> {
    let column = |name: &str| row[name].as_array().cloned().unwrap_or_default();
    let (label, score, model, source, message, request) = (
        column("ml_label"),
        column("ml_score"),
        column("ml_model_id"),
        column("ml_source"),
        column("ml_message_index"),
        column("ml_request_index"),
    );
    let at = |values: &[Value], i: usize| values.get(i).cloned().unwrap_or(Value::Null);
    (0..label.len())
        .map(|i| {
            json!({
                "label": at(&label, i), "score": at(&score, i), "model": at(&model, i),
                "source": at(&source, i), "message_index": at(&message, i),
                "request_index": request_index(&request, i),
            })
        })
        .collect()
}

/// A finding's or verdict's index in a batch's `requests`: -1 for a Messages call, and
/// for rows written before the column existed (their array is empty).
fn request_index(values: &[Value], i: usize) -> Value {
    values.get(i).cloned().unwrap_or(Value::from(-1))
}
