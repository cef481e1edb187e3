//! The proxy handler for every `/v1/*` path (and the same under `/api/v1/anthropic`).
//!
//! Per request, in order: authenticate → read the body under the limit → inspect a parsed
//! copy (signature detection, the ML verdict in block mode, policy; alert-mode ML starts in
//! the background) → forward method, path, query, filtered headers and the
//! *original* body bytes → relay status, headers and body as they arrive → one audit
//! event when the response ends (see [`crate::record`]).

pub mod body;
pub mod endpoint;
pub mod headers;
pub mod observer;
pub mod relay;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use portcullis_schemas::Decision;

use crate::audit::SpoolFullMode;
use crate::auth::{self, UpstreamAuth};
use crate::config::Config;
use crate::config::raw::ContentCapture;
use crate::error::GatewayError;
use crate::inspect::{self, InspectRequest};
use crate::ml::follow_up::FollowUp;
use crate::ml::{self, MlMode, OnFailure};
use crate::record::RequestRecord;
use crate::state::AppState;
use crate::upstream::LaneGuard;
use endpoint::Route;
use observer::AuditObserver;
use relay::RelayStream;

/// Path prefix under which the API is also served, so `base_url=http://host/api/v1/anthropic` works.
pub const ALT_PREFIX: &str = "/api/v1/anthropic";

/// Upstream path for an incoming path: the alternative prefix is removed, the rest kept.
pub fn upstream_path(incoming: &str) -> &str {
    incoming.strip_prefix(ALT_PREFIX).filter(|rest| rest.starts_with("/v1/")).unwrap_or(incoming)
}

/// The audit decision recorded for a request the gateway answered itself.
fn decision_for(error: &GatewayError) -> Decision {
    match error {
        GatewayError::Unauthenticated(_) | GatewayError::Forbidden(_) => Decision::AuthFailed,
        // Failing closed is the project's policy refusing what it could not check.
        GatewayError::PolicyBlocked(_) | GatewayError::MlUnavailable(_) => Decision::Block,
        _ => Decision::Error,
    }
}

pub async fn handle(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let mut record = RequestRecord::start(
        state.audit.clone(),
        state.metrics.clone(),
        &parts.method,
        parts.uri.path(),
        &parts.headers,
    );
    let config = state.config();
    let mut admission = Admission::default();
    // Each step's future is boxed: they run one after the other, so boxed they are
    // allocated one at a time instead of this future carrying room for the largest
    // of them for as long as the request is in flight (heaptrack, 1,000 requests waiting
    // for upstream headers at once: 4-8 KB per unboxed handler future).
    let admitted = Box::pin(admit(&state, &config, &parts, body, &mut record, &mut admission)).await;
    let result = match admitted {
        Ok((upstream_auth, body)) => Box::pin(forward(&state, &config, &parts, upstream_auth, body, &mut record)).await,
        Err(error) => Err(error),
    };
    let mut response = match result {
        Ok((upstream, lane)) => relay(&config, upstream, lane, record),
        Err(error) => {
            let status = error.status_code().as_u16();
            record.finish_with_gateway_answer(status, decision_for(&error), error.to_string());
            error.into_response()
        }
    };
    if admission.authenticated {
        inspect::risk_headers(response.headers_mut(), admission.verdict.as_ref());
    }
    response
}

/// What the admission step learned, kept for the response headers.
#[derive(Default)]
struct Admission {
    authenticated: bool,
    verdict: Option<portcullis_detection::Verdict>,
}

/// Everything that must pass before a byte goes upstream.
async fn admit(
    state: &AppState,
    config: &Config,
    parts: &Parts,
    body: Body,
    record: &mut RequestRecord,
    admission: &mut Admission,
) -> Result<(UpstreamAuth, Bytes), GatewayError> {
    let (identity, upstream_auth) = auth::authenticate(config, &parts.headers)?;
    record.set_identity(&identity);
    admission.authenticated = true;
    if config.audit.spool_full == SpoolFullMode::Reject && state.audit.health().spool_full {
        return Err(GatewayError::Unavailable("the audit trail is unavailable (spool full); try again later".into()));
    }
    let path = upstream_path(parts.uri.path());
    let route = endpoint::route(&parts.method, path);
    match route {
        Route::NonCanonical { canonical } => {
            return Err(GatewayError::BadRequest(format!(
                "{path} is not how this gateway accepts {canonical}: send the path exactly as {canonical}"
            )));
        }
        Route::TooDeeplyEncoded => {
            return Err(GatewayError::BadRequest(format!(
                "the request path is percent-encoded more than {} levels deep",
                endpoint::MAX_DECODING_ROUNDS
            )));
        }
        Route::Inspect(_) | Route::Forward => {}
    }
    if let Route::Inspect(_) = route
        && let Some(encoding) = parts.headers.get(header::CONTENT_ENCODING)
        && !encoding.to_str().is_ok_and(|e| e.trim().eq_ignore_ascii_case("identity"))
    {
        // A compressed prompt could not be scanned; say so rather than "not valid JSON".
        return Err(GatewayError::BadRequest(format!(
            "the body of {path} is sent with Content-Encoding {:?}; the gateway inspects prompts and accepts them \
             only uncompressed",
            String::from_utf8_lossy(encoding.as_bytes())
        )));
    }
    let body = body::read_limited(body, &parts.headers, config.limits.max_body_bytes).await?;
    record.set_bytes_in(body.len());
    let Route::Inspect(endpoint) = route else {
        return Ok((upstream_auth, body));
    };
    let event_id = record.event_id();
    let detecting = std::time::Instant::now();
    let scanned = inspect::scan(
        &state.scanner,
        endpoint,
        InspectRequest {
            identity: &identity,
            method: &parts.method,
            path,
            headers: &parts.headers,
            gateway_key_headers: &config.auth.key_headers,
            session_id: record.event_mut().session_id.clone(),
            body: &body,
        },
    )?;
    state.metrics.observe_detection(detecting.elapsed());
    let event = record.event_mut();
    event.model = scanned.facts.model.clone();
    event.has_system_prompt = scanned.facts.has_system_prompt;
    event.max_tokens = scanned.facts.max_tokens.and_then(|t| u32::try_from(t).ok());
    event.stream = scanned.facts.stream;
    event.tool_count = u32::try_from(scanned.facts.tool_count).unwrap_or(u32::MAX);
    event.findings_omitted = scanned.input.findings_omitted;

    let policies = state.policies();
    let mut findings = scanned.findings;
    let mut verdict =
        inspect::judge(&policies, &identity.project, &scanned.input, scanned.batch.as_deref(), &findings)?;
    let project = config.projects.get(&identity.project);
    let ml_cfg = project.map(|p| &p.ml).filter(|ml| ml.mode != MlMode::Off);
    let mut ml_fallback = None;
    // A request the signatures already block needs no ML verdict.
    if let Some(ml_cfg) = ml_cfg.filter(|ml| ml.mode == MlMode::Block)
        && verdict.decision != portcullis_detection::Decision::Block
    {
        let plan = state.ml.plan(&identity.tenant, &scanned.segments, ml_cfg);
        match state.ml.complete(plan, &identity.tenant, event_id, ml_cfg.timeout).await {
            Ok(found) => {
                let ml_findings = ml::verdicts::findings(&found, ml_cfg);
                state.ml.stats.flagged(ml_findings.len());
                record.event_mut().ml_verdicts = ml::verdicts::event_verdicts(&found, ml_cfg);
                if !ml_findings.is_empty() {
                    findings.extend(ml_findings);
                    verdict = inspect::judge(
                        &policies,
                        &identity.project,
                        &scanned.input,
                        scanned.batch.as_deref(),
                        &findings,
                    )?;
                }
            }
            Err(error) => {
                let closed = ml_cfg.on_failure == OnFailure::FailClosed;
                state.ml.stats.fell_back(closed);
                let reason = format!("ml.unavailable:{}", error.reason());
                tracing::debug!(%event_id, %error, closed, "no ML verdict");
                if closed {
                    let event = record.event_mut();
                    event.findings = inspect::event_findings(&findings);
                    event.reasons = vec![reason];
                    return Err(GatewayError::MlUnavailable(error.reason()));
                }
                ml_fallback = Some(reason);
            }
        }
    }
    let event = record.event_mut();
    event.findings = inspect::event_findings(&findings);
    event.reasons = verdict.reasons.clone();
    event.reasons.extend(ml_fallback);
    event.decision = match verdict.decision {
        portcullis_detection::Decision::Allow => Decision::Allow,
        portcullis_detection::Decision::Alert => Decision::Alert,
        portcullis_detection::Decision::Block => Decision::Block,
    };
    if project.is_some_and(|p| p.capture == ContentCapture::Redacted) {
        event.content =
            Some(crate::capture::capture(&scanned.facts, &scanned.segments, &findings, &scanned.incomplete_segments));
    }
    let blocked = verdict.decision == portcullis_detection::Decision::Block;
    if let Some(ml_cfg) = ml_cfg.filter(|ml| ml.mode == MlMode::Alert)
        && !blocked
    {
        let plan = state.ml.plan(&identity.tenant, &scanned.segments, ml_cfg);
        if !plan.is_complete()
            && let Some(policy) = policies.get(&identity.project)
        {
            let follow_up = FollowUp {
                runtime: state.ml.clone(),
                cfg: ml_cfg.clone(),
                policy: policy.clone(),
                sink: state.audit.clone(),
            };
            follow_up.spawn(plan, event);
        }
    }
    let reasons = verdict.reasons.join(", ");
    admission.verdict = Some(verdict);
    if blocked {
        return Err(GatewayError::PolicyBlocked(reasons));
    }
    Ok((upstream_auth, body))
}

async fn forward(
    state: &AppState,
    config: &Config,
    parts: &Parts,
    upstream_auth: UpstreamAuth,
    body: Bytes,
    record: &mut RequestRecord,
) -> Result<(reqwest::Response, LaneGuard), GatewayError> {
    let path = upstream_path(parts.uri.path());
    let url = match parts.uri.query() {
        Some(query) => format!("{}{}?{}", config.upstream.base_url, path, query),
        None => format!("{}{}", config.upstream.base_url, path),
    };
    let upstream_headers = headers::upstream_request_headers(&parts.headers, &upstream_auth);
    let (client, lane) = state.upstream.pick();
    let send = client.request(parts.method.clone(), url).headers(upstream_headers).body(body).send();
    record.mark_forwarded();
    let response = match tokio::time::timeout(config.upstream.response_header_timeout, send).await {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => {
            state.upstream_stats.record_failure();
            let reason = if e.is_connect() { format!("connection failed: {}", root_cause(&e)) } else { root_cause(&e) };
            return Err(GatewayError::UpstreamUnreachable(reason));
        }
        Err(_) => {
            state.upstream_stats.record_failure();
            return Err(GatewayError::UpstreamTimeout(config.upstream.response_header_timeout.as_millis() as u64));
        }
    };
    state.upstream_stats.responses.fetch_add(1, Ordering::Relaxed);
    record.mark_upstream_headers(response.status().as_u16());
    Ok((response, lane))
}

/// Stream the upstream response to the client; the observer finishes the record.
/// The request keeps its place on its upstream lane until the body is done.
fn relay(config: &Config, response: reqwest::Response, lane: LaneGuard, record: RequestRecord) -> Response {
    let status = response.status();
    let response_headers = headers::client_response_headers(response.headers());
    let content_type = response_headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let is_sse = content_type.starts_with("text/event-stream");
    let is_json = content_type.starts_with("application/json");
    let observer = Box::new(AuditObserver::new(record, status.as_u16(), is_sse, is_json));
    let expected_len = response.content_length();
    let upstream = response.bytes_stream().map(move |chunk| {
        let _holds_the_lane = &lane;
        chunk
    });
    let stream = RelayStream::new(Box::pin(upstream), config.upstream.idle_timeout, is_sse, expected_len, observer);

    let mut out = Response::new(Body::from_stream(stream));
    *out.status_mut() = status;
    *out.headers_mut() = response_headers;
    if is_sse {
        // Ask intermediaries (nginx) not to buffer the stream either.
        out.headers_mut().insert("x-accel-buffering", HeaderValue::from_static("no"));
    }
    out
}

/// The innermost error message; reqwest's top-level Display hides the useful part.
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alternative_prefix_maps_to_v1() {
        assert_eq!(upstream_path("/api/v1/anthropic/v1/messages"), "/v1/messages");
        assert_eq!(upstream_path("/v1/messages"), "/v1/messages");
        assert_eq!(upstream_path("/api/v1/anthropic/other"), "/api/v1/anthropic/other");
    }
}
