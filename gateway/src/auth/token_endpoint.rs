//! `POST /api/v1/auth/token`: OAuth 2.0 client-credentials grant issuing gateway JWTs.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use serde::Deserialize;

use super::{jwt, keys};
use crate::error::GatewayError;
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    client_id: String,
    client_secret: String,
    grant_type: String,
    /// Optional narrowing of the client's scopes (space-separated).
    #[serde(default)]
    scope: Option<String>,
}

pub async fn issue_token(
    State(state): State<Arc<AppState>>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, GatewayError> {
    let request: TokenRequest = serde_json::from_slice(&body).map_err(|e| {
        GatewayError::BadRequest(format!(
            "token request must be JSON {{\"client_id\",\"client_secret\",\"grant_type\":\"client_credentials\"}}: {e}"
        ))
    })?;
    if request.grant_type != "client_credentials" {
        return Err(GatewayError::BadRequest(format!(
            "unsupported grant_type {:?}: only \"client_credentials\" is supported",
            request.grant_type
        )));
    }
    let config = state.config();
    let jwt_config = config.auth.jwt.as_ref().ok_or_else(|| GatewayError::NotFound {
        method: "POST".into(),
        path: "/api/v1/auth/token (JWT is not enabled)".into(),
    })?;
    // Compare the secret even for unknown ids so timing does not reveal which ids exist.
    let presented = keys::KeyHash::of(&request.client_secret);
    let client = config.clients.get(&request.client_id);
    let secret_ok = client.map(|c| c.secret_hash.matches(&presented)).unwrap_or_else(|| {
        let _ = presented.matches(&keys::KeyHash::of(""));
        false
    });
    let client = match (client, secret_ok) {
        (Some(client), true) => client,
        _ => return Err(GatewayError::Unauthenticated("invalid client_id or client_secret".to_string())),
    };
    let scopes: Vec<String> = match &request.scope {
        None => client.scopes.clone(),
        Some(wanted) => {
            let wanted: Vec<String> = wanted.split_ascii_whitespace().map(str::to_string).collect();
            if let Some(extra) = wanted.iter().find(|s| !client.scopes.contains(s)) {
                return Err(GatewayError::Forbidden(format!("scope {extra:?} is not granted to this client")));
            }
            wanted
        }
    };
    let tenant = config.projects.get(&client.project).map(|p| p.tenant.as_str()).unwrap_or_default();
    let issued = jwt::issue(jwt_config, &client.client_id, &client.project, tenant, &scopes)
        .map_err(|e| GatewayError::Internal(format!("could not sign token: {e}")))?;
    Ok(Json(serde_json::json!({
        "access_token": issued.token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "scope": scopes.join(" "),
    })))
}
