//! Test harness: real servers for integration tests, never in-memory fakes.
//!
//! - [`nats::NatsServer`]: a `nats-server -js` child on free loopback ports.
//! - [`clickhouse::ClickHouseServer`]: a `clickhouse-server` child with a
//!   generated config in a temp dir.
//! - [`ports::free_port`]: a free loopback port.
//! - [`python::sdk_python`]: the venv interpreter with the pinned `anthropic` SDK.
//!
//! Every server gets its own temp dir and ports, so tests in one process can run
//! in parallel. Handles kill their process on drop. A missing binary is an error
//! telling how to install it: tests fail, they never skip silently.

mod binaries;
pub mod clickhouse;
mod clickhouse_config;
mod error;
pub mod nats;
pub mod ports;
mod process;
pub mod python;

pub use clickhouse::ClickHouseServer;
pub use error::{HarnessError, Result};
pub use nats::NatsServer;
