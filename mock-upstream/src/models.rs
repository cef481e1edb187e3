//! `GET /v1/models` (with minimal `limit` / `after_id` / `before_id` paging) and
//! `GET /v1/models/{id}`.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::check_api_key;
use crate::errors::ApiError;

/// Models the mock lists, newest first like the real API.
const MODELS: &[(&str, &str, &str)] = &[
    ("claude-opus-4-5", "Claude Opus 4.5", "2025-11-24T00:00:00Z"),
    ("claude-haiku-4-5", "Claude Haiku 4.5", "2025-10-01T00:00:00Z"),
    ("claude-sonnet-4-5", "Claude Sonnet 4.5", "2025-09-29T00:00:00Z"),
    ("claude-opus-4-1", "Claude Opus 4.1", "2025-08-05T00:00:00Z"),
    ("claude-sonnet-4-0", "Claude Sonnet 4", "2025-05-14T00:00:00Z"),
];

const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 1000;

#[derive(Debug, Deserialize)]
pub(crate) struct ListQuery {
    limit: Option<usize>,
    after_id: Option<String>,
    before_id: Option<String>,
}

pub(crate) async fn list_models(headers: HeaderMap, query: Result<Query<ListQuery>, QueryRejection>) -> Response {
    let listed = check_api_key(&headers).and_then(|()| {
        let Query(query) = query.map_err(|rejection| ApiError::InvalidRequest(rejection.body_text()))?;
        list_page(&query)
    });
    match listed {
        Ok(page) => Json(page).into_response(),
        Err(error) => error.into_response(),
    }
}

pub(crate) async fn get_model(headers: HeaderMap, Path(id): Path<String>) -> Response {
    let found = check_api_key(&headers).and_then(|()| {
        MODELS
            .iter()
            .find(|(model_id, _, _)| *model_id == id)
            .map(model_json)
            .ok_or_else(|| ApiError::NotFound(format!("model: {id}")))
    });
    match found {
        Ok(model) => Json(model).into_response(),
        Err(error) => error.into_response(),
    }
}

fn list_page(query: &ListQuery) -> Result<Value, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::InvalidRequest(format!("limit: Input should be between 1 and {MAX_LIMIT}")));
    }
    let position = |id: &str| MODELS.iter().position(|(model_id, _, _)| *model_id == id);
    let (page, has_more) = if let Some(before_id) = &query.before_id {
        // The page ending just before `before_id`.
        let end = position(before_id).unwrap_or(0);
        let start = end.saturating_sub(limit);
        (&MODELS[start..end], start > 0)
    } else {
        let start = match &query.after_id {
            Some(after_id) => position(after_id).map_or(MODELS.len(), |index| index + 1),
            None => 0,
        };
        let end = (start + limit).min(MODELS.len());
        (&MODELS[start..end], end < MODELS.len())
    };
    Ok(json!({
        "data": page.iter().map(model_json).collect::<Vec<_>>(),
        "has_more": has_more,
        "first_id": page.first().map(|(id, _, _)| *id),
        "last_id": page.last().map(|(id, _, _)| *id),
    }))
}

fn model_json(&(id, display_name, created_at): &(&str, &str, &str)) -> Value {
    json!({
        "type": "model",
        "id": id,
        "display_name": display_name,
        "created_at": created_at,
    })
}
