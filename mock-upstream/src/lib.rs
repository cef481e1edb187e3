//! A mock of the Anthropic Messages API: the one fake in Portcullis. Gateway
//! tests, benchmarks and demos proxy to it instead of the real API.
//!
//! It speaks the real wire format closely enough for the official SDKs and
//! Claude Code: `POST /v1/messages` (JSON or SSE streaming, with thinking and
//! tool-use blocks), `POST /v1/messages/count_tokens`, `POST /v1/messages/batches`
//! (creation only), `POST /v1/files` (upload only), `POST /v1/chat/completions` (the
//! OpenAI compatibility layer, without streaming), `POST /v1/sessions/{id}/events` (Managed
//! Agents events, acknowledged only), `GET /v1/models[/{id}]`,
//! Anthropic-shaped errors and `request-id` headers. Replies are deterministic
//! (`Mock reply to: <prompt>`), token counts follow fixed formulas, and markers
//! in the last user message trigger failures: `[[mock:overloaded]]`,
//! `[[mock:rate_limit]]`, `[[mock:server_error]]`, `[[mock:midstream_error]]`,
//! `[[mock:tool_use]]`, `[[mock:hang]]`, `[[mock:words=N]]`.
//!
//! Every request is recorded byte for byte, and streams abandoned by their
//! client are counted, so tests can check what a proxy forwarded and whether it
//! propagated cancellation.

mod auth;
mod batches;
mod chat;
mod config;
mod errors;
mod files;
mod messages;
mod models;
mod recorder;
mod reply;
mod request;
mod routes;
mod server;
mod sessions;
mod sse;
mod state;
mod triggers;

pub use config::MockConfig;
pub use errors::ApiError;
pub use messages::CHUNK_DELAY_HEADER;
pub use routes::router;
pub use server::{MockUpstream, serve};
pub use state::{MockState, RecordedRequest};
