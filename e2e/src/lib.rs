//! Cross-service tests live in `tests/`: each one starts real NATS and ClickHouse
//! servers (test-support), the gateway in-process against the mock upstream, and the
//! other services (audit-writer, detector workers) as libraries or processes, then
//! checks what a user or operator would see at the far end.
