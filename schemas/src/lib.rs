//! Types shared by every Portcullis service.
//!
//! The central type is [`SecurityEvent`]: one record per request the gateway
//! handles (and per later ML follow-up detection). It travels as msgpack on NATS
//! JetStream ([`SecurityEvent::to_msgpack`]) and as JSON wherever humans read it
//! (the JSONL audit file, the live-events subject, logs).
//!
//! The ClickHouse DDL that stores these events lives in `schemas/migrations/` and
//! is embedded here ([`migrations()`]) so the audit-writer applies exactly the
//! schema this crate version describes.

mod codec;
pub mod detect;
pub use detect::*;
mod content;
mod error;
mod event;
mod migrations;
pub mod nats;

pub use content::{CapturedBlock, CapturedBlockKind, CapturedConversation, CapturedMessage};
pub use error::SchemaError;
pub use event::{
    Decision, EventFinding, EventKind, MAX_EVENT_FINDINGS, MAX_EVENT_ML_VERDICTS, MCP_SERVER_ANTHROPIC_PROXY,
    MlVerdict, SCHEMA_VERSION, SecurityEvent, SegmentProvenance, SegmentSource, TOOL_NAME_ANTHROPIC_API,
};
pub use migrations::{Migration, added_column, migrations};
