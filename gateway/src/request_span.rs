//! One tracing span per request, so every log line of a request carries its
//! audit event id, tenant, project, method and path.
//!
//! The span opens here, before routing, with the id and identity still empty;
//! [`crate::record::RequestRecord`] fills them in as it learns them (the event id at
//! once, tenant and project after authentication) and re-enters the span when the
//! relayed response ends, which happens outside the handler's future. With
//! `log.json = true` the fields appear in every line's `span` object; in text logs
//! as `request{event_id=… tenant=…}:`.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;
use tracing::field::Empty;

pub async fn request_span(request: Request, next: Next) -> Response {
    let path: String = request.uri().path().chars().take(256).collect();
    let span = tracing::info_span!(
        "request",
        method = %request.method(),
        path = %path,
        event_id = Empty,
        tenant = Empty,
        project = Empty,
    );
    next.run(request).instrument(span).await
}
