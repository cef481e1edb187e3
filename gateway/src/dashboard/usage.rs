//! `GET /dashboard/api/usage`: requests and tokens over time per model or project,
//! decision counts and the top detectors, for the charts.
//!
//! Reads `audit_events FINAL` rather than the `usage_daily` view: the charts need
//! buckets finer than a day and exact window edges. Buckets are computed with
//! `intDiv` on Unix seconds (18.16 has no `toStartOfInterval`).

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde_json::{Value, json};

use super::Dashboard;
use super::filters::RawFilter;
use super::logs::parse_filter;
use crate::error::GatewayError;

/// Bucket widths (seconds) a chart steps through so it has at most ~60 bars.
const BUCKETS: [i64; 9] = [60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86_400];
const MAX_BARS: i64 = 60;

pub fn bucket_for(range_secs: i64) -> i64 {
    BUCKETS.into_iter().find(|b| range_secs / b <= MAX_BARS).unwrap_or(86_400)
}

pub async fn usage(
    State(dashboard): State<Arc<Dashboard>>,
    query: Result<Query<RawFilter>, QueryRejection>,
) -> Result<Json<Value>, GatewayError> {
    let by = match &query {
        Ok(Query(raw)) => raw.by.clone(),
        Err(_) => None,
    };
    // An allow-listed column name, never the parameter itself.
    let key = match by.as_deref() {
        None | Some("") | Some("model") => "model",
        Some("project") => "project",
        Some(_) => return Err(GatewayError::BadRequest("by must be model or project".to_owned())),
    };
    let filter = parse_filter(query)?;
    let bucket = bucket_for(filter.to - filter.from);
    let conditions = filter.where_sql();
    let series_sql = format!(
        "SELECT intDiv(toUInt32(ts), {bucket}) * {bucket} AS t, {key} AS key, count() AS requests, \
         sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, \
         countIf(decision = 'block') AS blocked, countIf(decision = 'alert') AS alerted \
         FROM audit_events FINAL WHERE {conditions} GROUP BY t, key ORDER BY t, key"
    );
    let decisions_sql = format!(
        "SELECT toString(decision) AS decision, count() AS events FROM audit_events FINAL \
         WHERE {conditions} GROUP BY decision ORDER BY events DESC"
    );
    let detectors_sql = format!(
        "SELECT detector, count() AS hits FROM audit_events FINAL ARRAY JOIN finding_detector_id AS detector \
         WHERE {conditions} GROUP BY detector ORDER BY hits DESC, detector LIMIT 10"
    );
    let (series, decisions, detectors) = tokio::try_join!(
        dashboard.select(&series_sql),
        dashboard.select(&decisions_sql),
        dashboard.select(&detectors_sql),
    )?;
    Ok(Json(json!({
        "from": filter.from, "to": filter.to, "bucket_secs": bucket, "by": key,
        "series": series, "decisions": decisions, "top_detectors": detectors,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_keep_charts_readable() {
        assert_eq!(bucket_for(3600), 60);
        assert_eq!(bucket_for(86_400), 1800);
        assert_eq!(bucket_for(7 * 86_400), 3 * 3600);
        assert_eq!(bucket_for(365 * 86_400), 86_400);
    }
}
