//! Wire encodings of [`SecurityEvent`]: msgpack for NATS, JSON for humans.

use crate::error::SchemaError;
use crate::event::SecurityEvent;

impl SecurityEvent {
    /// Msgpack with field names (a map per struct, not a positional array),
    /// so fields can be added without breaking readers of either version.
    pub fn to_msgpack(&self) -> Result<Vec<u8>, SchemaError> {
        Ok(rmp_serde::to_vec_named(self)?)
    }

    /// Decode msgpack written by [`SecurityEvent::to_msgpack`] of this or any
    /// other schema version (missing fields take their defaults).
    pub fn from_msgpack(bytes: &[u8]) -> Result<SecurityEvent, SchemaError> {
        Ok(rmp_serde::from_slice(bytes)?)
    }

    /// Compact single-line JSON (one JSONL record, the live-events body).
    pub fn to_json(&self) -> Result<Vec<u8>, SchemaError> {
        Ok(serde_json::to_vec(self)?)
    }

    pub fn from_json(bytes: &[u8]) -> Result<SecurityEvent, SchemaError> {
        Ok(serde_json::from_slice(bytes)?)
    }
}
