//! The gateway's audit trail: every request becomes one [`SecurityEvent`]
//! recorded through an [`AuditSink`].
//!
//! * With `nats_url` configured, events are published as msgpack to the
//!   JetStream stream (`<subject_prefix>.<tenant>`, `Nats-Msg-Id` = event id)
//!   by a background task that waits for the acks; the request path only
//!   enqueues. While NATS is unreachable events go to a bounded on-disk spool
//!   ([`spool`]) and are replayed in order when it returns. A JSON copy goes
//!   to `<live_subject_prefix>.<tenant>` (core NATS) for live views; the
//!   copies of events recorded while disconnected are sent on reconnect
//!   (`live_backlog`, bounded).
//! * Without it, events are appended to a JSONL file.
//! * [`UsageTap`] reads token usage from the response the gateway relays,
//!   without delaying or copying it.
//!
//! Wiring in the gateway: `AuditSink::start(&config.audit)` at startup,
//! `sink.record(event)` at the end of each request (503 on `Err`),
//! `sink.health()` in `/health`, `sink.shutdown().await` on exit.
//!
//! [`SecurityEvent`]: portcullis_schemas::SecurityEvent

mod config;
mod error;
mod health;
mod jsonl;
mod live_backlog;
mod publisher;
mod sink;
pub mod spool;
mod subject;
mod usage;

pub use config::{AuditConfig, SpoolFullMode};
pub use error::{AuditError, AuditRejected};
pub use health::{AuditHealth, AuditMode};
pub use sink::AuditSink;
pub use subject::{subject_for, tenant_token};
pub use usage::{Usage, UsageTap};
