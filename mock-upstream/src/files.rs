//! `POST /v1/files`: a Files API upload (`multipart/form-data` with one `file` part),
//! answered with the file's metadata the way the real API does. The mock keeps nothing;
//! it exists so clients and the gateway's upload inspection can be tested against the
//! real request and response shapes.

use axum::Json;
use axum::body::Bytes;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::auth::check_api_key;
use crate::errors::ApiError;

pub(crate) async fn upload_file(headers: HeaderMap, body: Bytes) -> Response {
    let result = match check_api_key(&headers) {
        Ok(()) => file_metadata(&headers, body).await,
        Err(error) => Err(error),
    };
    match result {
        Ok(metadata) => Json(metadata).into_response(),
        Err(error) => error.into_response(),
    }
}

async fn file_metadata(headers: &HeaderMap, body: Bytes) -> Result<Value, ApiError> {
    let invalid = |message: String| ApiError::InvalidRequest(message);
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let boundary =
        multer::parse_boundary(content_type).map_err(|e| invalid(format!("multipart body expected: {e}")))?;
    let stream = futures_util::stream::once(async move { Ok::<Bytes, std::convert::Infallible>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    while let Some(field) = multipart.next_field().await.map_err(|e| invalid(e.to_string()))? {
        if field.name() != Some("file") {
            continue;
        }
        let filename = field.file_name().unwrap_or("upload").to_owned();
        let mime_type = field.content_type().map_or("application/octet-stream".to_owned(), |m| m.to_string());
        let data = field.bytes().await.map_err(|e| invalid(e.to_string()))?;
        // A stable id derived from the content, like the mock's other deterministic replies.
        let id = data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        return Ok(json!({
            "id": format!("file_{id:016x}"),
            "type": "file",
            "filename": filename,
            "mime_type": mime_type,
            "size_bytes": data.len(),
            "created_at": "2026-01-01T00:00:00Z",
            "downloadable": false,
        }));
    }
    Err(invalid("file: Field required".to_owned()))
}
