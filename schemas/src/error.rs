//! The one error type of this crate: encoding and decoding failures.

/// Why an event could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("msgpack encode failed: {0}")]
    MsgpackEncode(#[from] rmp_serde::encode::Error),
    #[error("msgpack decode failed: {0}")]
    MsgpackDecode(#[from] rmp_serde::decode::Error),
    #[error("json encode/decode failed: {0}")]
    Json(#[from] serde_json::Error),
}
