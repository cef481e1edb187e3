# syntax=docker/dockerfile:1
# Portcullis audit writer image (JetStream → ClickHouse). Build from the repository root:
#   docker build -f docker/audit-writer.Dockerfile -t portcullis/audit-writer .

# ---- build (identical in every service Dockerfile; see gateway.Dockerfile) ------
FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY Cargo.toml Cargo.lock clippy.toml ./
COPY gateway gateway
COPY schemas schemas
COPY detection detection
COPY mock-upstream mock-upstream
COPY test-support test-support
COPY detector-worker detector-worker
COPY audit-writer audit-writer
COPY benches benches
COPY e2e e2e
COPY telemetry telemetry
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release -p audit-writer --locked \
    && install -D -m 0755 target/release/audit-writer /out/audit-writer

# ---- runtime -----------------------------------------------------------------
FROM debian:bookworm-slim
# ca-certificates: for https:// ClickHouse URLs (ClickHouse Cloud, TLS proxies).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/portcullis \
        --shell /usr/sbin/nologin portcullis \
    && install -d -o portcullis -g portcullis /var/lib/portcullis
COPY --from=builder /out/audit-writer /usr/local/bin/audit-writer
USER portcullis
WORKDIR /var/lib/portcullis
# SIGTERM: flush the current batch, insert it, ack it, exit. Give it time
# (batch.shutdown_timeout_secs, 30 s by default) with `stop_grace_period`.
STOPSIGNAL SIGTERM
ENTRYPOINT ["audit-writer"]
CMD ["run"]
