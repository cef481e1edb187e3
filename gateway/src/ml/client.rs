//! Client for the ML `detector-worker`s: one NATS request-reply per
//! [`DetectRequest`] on `detect.injection` (msgpack both ways).
//!
//! Failures are told apart so the caller can apply its fail-open/fail-closed
//! policy at once: [`MlError::NoResponders`] comes back immediately when no
//! worker is subscribed (the server answers a 503 status, no waiting for the
//! timeout), [`MlError::Timeout`] after the caller's deadline,
//! [`MlError::Overloaded`] when the worker's queue was full, and
//! [`MlError::Disconnected`] at once while the NATS connection is down (a
//! request would otherwise sit in the reconnect buffer until the timeout).

use std::time::Duration;

use async_nats::{Client, RequestErrorKind};
use portcullis_schemas::{DETECT_SUBJECT, DetectRequest, DetectResponse, DetectStatus};

/// Why no verdict came back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MlError {
    /// No worker subscribed to the subject (reported by the server at once).
    #[error("no detector worker is listening")]
    NoResponders,
    /// No answer within the caller's timeout.
    #[error("detector timed out")]
    Timeout,
    /// A worker answered that its queue is full.
    #[error("detector overloaded")]
    Overloaded,
    /// A worker answered but could not score the request.
    #[error("detector failed: {0}")]
    Worker(String),
    /// The NATS connection is down (or not yet up).
    #[error("not connected to NATS")]
    Disconnected,
    /// Connecting, encoding or sending failed.
    #[error("detector transport: {0}")]
    Transport(String),
    /// The answer was not a valid response to this request.
    #[error("detector response undecodable: {0}")]
    Decode(String),
}

impl MlError {
    /// Short, stable name of the failure for audit reasons and counters
    /// (`ml.unavailable:<reason>`).
    pub fn reason(&self) -> &'static str {
        match self {
            MlError::NoResponders => "no_responders",
            MlError::Timeout => "timeout",
            MlError::Overloaded => "overloaded",
            MlError::Worker(_) => "worker_error",
            MlError::Disconnected => "disconnected",
            MlError::Transport(_) => "transport",
            MlError::Decode(_) => "bad_response",
        }
    }
}

/// Handle to the detector workers; cheap to clone (shares the connection).
#[derive(Clone, Debug)]
pub struct MlClient {
    client: Client,
    subject: String,
}

impl MlClient {
    /// Connects to NATS at `url` and uses the default subject
    /// (`detect.injection`).
    pub async fn connect(url: &str) -> Result<MlClient, MlError> {
        let client = async_nats::connect(url).await.map_err(|e| MlError::Transport(format!("connect {url}: {e}")))?;
        Ok(MlClient::from_client(client))
    }

    /// Shares an existing connection.
    pub fn from_client(client: Client) -> MlClient {
        MlClient { client, subject: DETECT_SUBJECT.to_owned() }
    }

    /// Sends to `subject` instead of the default.
    pub fn with_subject(mut self, subject: impl Into<String>) -> MlClient {
        self.subject = subject.into();
        self
    }

    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The underlying NATS connection.
    pub fn nats(&self) -> &Client {
        &self.client
    }

    /// Asks a worker to score `req` and waits at most `timeout`. `Ok` only for
    /// a [`DetectStatus::Ok`] response to this request id.
    pub async fn classify(&self, req: &DetectRequest, timeout: Duration) -> Result<DetectResponse, MlError> {
        if self.client.connection_state() != async_nats::connection::State::Connected {
            return Err(MlError::Disconnected);
        }
        let payload = req.to_msgpack().map_err(|e| MlError::Transport(format!("encode request: {e}")))?;
        let request = async_nats::Request::new().payload(payload.into()).timeout(Some(timeout));
        // The outer timeout also covers a disconnected client, whose request
        // would otherwise sit in the reconnect buffer.
        let sent = self.client.send_request(self.subject.clone(), request);
        let message = match tokio::time::timeout(timeout, sent).await {
            Err(_) => return Err(MlError::Timeout),
            Ok(Err(err)) => return Err(request_error(err.kind(), &err.to_string())),
            Ok(Ok(message)) => message,
        };
        decode_reply(&message.payload, req)
    }
}

/// Maps async-nats' request failure kinds onto [`MlError`].
pub fn request_error(kind: RequestErrorKind, detail: &str) -> MlError {
    match kind {
        RequestErrorKind::NoResponders => MlError::NoResponders,
        RequestErrorKind::TimedOut => MlError::Timeout,
        _ => MlError::Transport(detail.to_owned()),
    }
}

/// Decodes a worker's reply to `req` and turns a non-`Ok` status into an error.
pub fn decode_reply(payload: &[u8], req: &DetectRequest) -> Result<DetectResponse, MlError> {
    let response = DetectResponse::from_msgpack(payload).map_err(|e| MlError::Decode(e.to_string()))?;
    match &response.status {
        DetectStatus::Ok => {}
        DetectStatus::Overloaded => return Err(MlError::Overloaded),
        DetectStatus::Error(message) => return Err(MlError::Worker(message.clone())),
    }
    if response.request_id != req.request_id {
        return Err(MlError::Decode(format!(
            "response for request {} instead of {}",
            response.request_id, req.request_id
        )));
    }
    if response.results.len() != req.segments.len() {
        return Err(MlError::Decode(format!("{} results for {} segments", response.results.len(), req.segments.len())));
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use portcullis_schemas::{DetectSegment, SegmentScore};
    use uuid::Uuid;

    fn request() -> DetectRequest {
        DetectRequest::new(
            Uuid::now_v7(),
            "acme",
            vec![DetectSegment { id: 3, source: "user".into(), text: "hello".into() }],
        )
    }

    fn reply(req: &DetectRequest, status: DetectStatus, results: usize) -> Vec<u8> {
        let mut response = DetectResponse::status_only(req.request_id, status);
        response.results = (0..results)
            .map(|i| SegmentScore { id: i as u32, label: "benign".into(), score: 0.01, flagged: false })
            .collect();
        response.to_msgpack().unwrap()
    }

    #[test]
    fn error_kinds_map_to_fallback_reasons() {
        assert_eq!(request_error(RequestErrorKind::NoResponders, ""), MlError::NoResponders);
        assert_eq!(request_error(RequestErrorKind::TimedOut, ""), MlError::Timeout);
        assert!(matches!(request_error(RequestErrorKind::Other, "io"), MlError::Transport(_)));
    }

    #[test]
    fn replies_are_checked() {
        let req = request();
        assert!(decode_reply(&reply(&req, DetectStatus::Ok, 1), &req).is_ok());
        assert_eq!(decode_reply(&reply(&req, DetectStatus::Overloaded, 0), &req), Err(MlError::Overloaded));
        assert_eq!(
            decode_reply(&reply(&req, DetectStatus::Error("x".into()), 0), &req),
            Err(MlError::Worker("x".into()))
        );
        assert!(matches!(decode_reply(&reply(&req, DetectStatus::Ok, 2), &req), Err(MlError::Decode(_))));
        assert!(matches!(decode_reply(&reply(&request(), DetectStatus::Ok, 1), &req), Err(MlError::Decode(_))));
        assert!(matches!(decode_reply(b"junk", &req), Err(MlError::Decode(_))));
    }
}
